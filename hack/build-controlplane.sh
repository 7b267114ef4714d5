#!/usr/bin/env bash
# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Build kube-apiserver and etcd for the local test control plane from the Go
# modules pinned under tests/localenv/controlplane/, into
#   ${PKO_AIRGAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pko-airgap}/controlplane/<k8s version>/bin/
# The build is skipped when both binaries are there, report the pinned
# versions, and were built from the same go.mod/go.sum files and flags.
#
# Usage: hack/build-controlplane.sh [--force]
# Prints the bin directory on stdout; progress and errors go to stderr.
# The first build compiles about 2,100 Go packages for kube-apiserver and 570
# for etcd; that took 14.5 minutes on a 2-core machine whose Go module cache
# was already filled.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULES="$ROOT/tests/localenv/controlplane"
APISERVER_MODULE="$MODULES/kube-apiserver"
ETCD_MODULE="$MODULES/etcd"

log() {
    printf 'build-controlplane: %s\n' "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

force=0
case "${1:-}" in
    "") ;;
    --force) force=1 ;;
    -h | --help)
        sed -n '5,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        exit 0
        ;;
    *) die "unknown argument '$1'. Usage: hack/build-controlplane.sh [--force]" ;;
esac

# Print the version that a go.mod requires for a module, e.g. v1.37.2.
required_version() {
    awk -v module="$2" '$1 == module && $2 ~ /^v/ { print $2; exit }' "$1/go.mod"
}

# Print the `go` directive of a go.mod, e.g. 1.26.0.
go_directive() {
    awk '$1 == "go" { print $2; exit }' "$1/go.mod"
}

# Succeed when version $1 is at least version $2 (both like 1.26.0).
version_at_least() {
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

# Print the time since $1 (from now_ms) as 850ms, 12s or 14m32s.
elapsed_since() {
    local ms=$(($(now_ms) - $1))
    if [ "$ms" -lt 10000 ]; then
        printf '%dms' "$ms"
    elif [ "$ms" -lt 60000 ]; then
        printf '%ds' $((ms / 1000))
    else
        printf '%dm%02ds' $((ms / 60000)) $((ms % 60000 / 1000))
    fi
}

now_ms() {
    date +%s%3N
}

K8S_VERSION="$(required_version "$APISERVER_MODULE" k8s.io/kubernetes)"
ETCD_VERSION="$(required_version "$ETCD_MODULE" go.etcd.io/etcd/server/v3)"
[ -n "$K8S_VERSION" ] || die "no k8s.io/kubernetes requirement in $APISERVER_MODULE/go.mod"
[ -n "$ETCD_VERSION" ] || die "no go.etcd.io/etcd/server/v3 requirement in $ETCD_MODULE/go.mod"

CACHE_ROOT="${PKO_AIRGAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pko-airgap}"
VERSION_DIR="$CACHE_ROOT/controlplane/$K8S_VERSION"
BIN_DIR="$VERSION_DIR/bin"
STAMP="$BIN_DIR/.build-inputs"

# Upstream release builds of both binaries are static (CGO_ENABLED=0). The -X
# flags give kube-apiserver the version that release builds stamp in, so that
# /version and --version report it instead of v0.0.0-master.
K8S_MINOR="$(printf '%s' "$K8S_VERSION" | cut -d. -f2)"
APISERVER_LDFLAGS="-s -w"
APISERVER_LDFLAGS+=" -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
APISERVER_LDFLAGS+=" -X k8s.io/component-base/version.gitMajor=1"
APISERVER_LDFLAGS+=" -X k8s.io/component-base/version.gitMinor=$K8S_MINOR"
APISERVER_LDFLAGS+=" -X k8s.io/component-base/version.gitTreeState=clean"
ETCD_LDFLAGS="-s -w"
export CGO_ENABLED=0
# Never download another Go toolchain, so that a Go that is too old fails
# in check_go with a clear message.
export GOTOOLCHAIN=local
# The binaries must not depend on the state of the git work tree around
# the modules, and the build must not change go.mod or go.sum.
export GOFLAGS="-mod=readonly -buildvcs=false"

# Print a digest of everything the binaries are built from.
build_inputs_digest() {
    {
        cat "$APISERVER_MODULE/go.mod" "$APISERVER_MODULE/go.sum"
        cat "$ETCD_MODULE/go.mod" "$ETCD_MODULE/go.sum"
        printf 'CGO_ENABLED=%s\nGOFLAGS=%s\napiserver ldflags: %s\netcd ldflags: %s\n' \
            "$CGO_ENABLED" "$GOFLAGS" "$APISERVER_LDFLAGS" "$ETCD_LDFLAGS"
    } | sha256sum | cut -d' ' -f1
}

# Succeed when the cached binaries match the pinned versions and inputs.
cache_is_current() {
    [ -x "$BIN_DIR/kube-apiserver" ] && [ -x "$BIN_DIR/etcd" ] && [ -f "$STAMP" ] || return 1
    [ "$(cat "$STAMP")" = "$(build_inputs_digest)" ] || return 1
    # Read the whole output first, because with pipefail a `grep -q` that
    # closes the pipe early makes the version command fail with SIGPIPE.
    local apiserver_version etcd_version
    apiserver_version="$("$BIN_DIR/kube-apiserver" --version 2>/dev/null)" || return 1
    etcd_version="$("$BIN_DIR/etcd" --version 2>/dev/null)" || return 1
    grep -qx "Kubernetes $K8S_VERSION" <<<"$apiserver_version" || return 1
    grep -qx "etcd Version: ${ETCD_VERSION#v}" <<<"$etcd_version" || return 1
}

check_go() {
    command -v go >/dev/null 2>&1 ||
        die "Go is not installed or not on PATH. Install Go $1 or newer (https://go.dev/dl/) and run this script again."

    local have
    have="$(go env GOVERSION)"
    have="${have#go}"
    have="${have%%[!0-9.]*}"
    version_at_least "$have" "$1" ||
        die "Go $have is too old: the pinned modules need Go $1 or newer (go directive in $APISERVER_MODULE/go.mod). Install a newer Go and run this script again."
}

started=$(now_ms)
mkdir -p "$VERSION_DIR"

# Two test runs may start at once. The second waits for the lock and then
# finds the cache current.
exec 9>"$VERSION_DIR/.build.lock"
flock 9

if [ "$force" -eq 0 ] && cache_is_current; then
    log "kube-apiserver $K8S_VERSION and etcd $ETCD_VERSION are up to date in $BIN_DIR (checked in $(elapsed_since "$started"))"
    printf '%s\n' "$BIN_DIR"
    exit 0
fi

GO_REQUIRED="$(printf '%s\n%s\n' "$(go_directive "$APISERVER_MODULE")" "$(go_directive "$ETCD_MODULE")" | sort -V | tail -n 1)"
check_go "$GO_REQUIRED"

STAGING="$(mktemp -d "$VERSION_DIR/bin.partial.XXXXXX")"
trap 'rm -rf "$STAGING"' EXIT

log "building kube-apiserver $K8S_VERSION with $(go env GOVERSION); the first build takes 10-15 minutes on 2 cores"
(cd "$APISERVER_MODULE" && go build -trimpath -ldflags="$APISERVER_LDFLAGS" \
    -o "$STAGING/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver) ||
    die "building kube-apiserver $K8S_VERSION failed (see the go output above)"

log "building etcd $ETCD_VERSION"
(cd "$ETCD_MODULE" && go build -trimpath -ldflags="$ETCD_LDFLAGS" \
    -o "$STAGING/etcd" go.etcd.io/etcd/server/v3) ||
    die "building etcd $ETCD_VERSION failed (see the go output above)"

# Each rename is atomic, and the stamp comes last, so an interrupted build
# never leaves a cache that passes the check above.
mkdir -p "$BIN_DIR"
rm -f "$STAMP"
mv -f "$STAGING/kube-apiserver" "$BIN_DIR/kube-apiserver"
mv -f "$STAGING/etcd" "$BIN_DIR/etcd"
build_inputs_digest >"$STAMP"

cache_is_current || die "the binaries in $BIN_DIR do not report kube-apiserver $K8S_VERSION and etcd $ETCD_VERSION after the build"

log "built kube-apiserver $K8S_VERSION and etcd $ETCD_VERSION into $BIN_DIR in $(elapsed_since "$started")"
printf '%s\n' "$BIN_DIR"

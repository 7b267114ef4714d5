#!/usr/bin/env bash
# Make a Go toolchain of at least GO_VERSION available for building the test
# control plane. Prints the directory to put first on PATH, or nothing when
# the `go` on PATH is new enough.
#
# Otherwise the toolchain comes from the Go module proxy, which serves each
# Go release as the module golang.org/toolchain; the archive's SHA-256 is
# pinned below and checked before it is unpacked into CACHE_DIR.
#
# Usage: install-go.sh CACHE_DIR
set -euo pipefail

cache_dir=$1
go_version=1.26.8  # keep in step with GO_VERSION in the Makefile
archive_sha256=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
proxy=${GOPROXY_URL:-https://proxy.golang.org}

version_at_least() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

if command -v go >/dev/null 2>&1; then
  have=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
  if [ -n "$have" ] && version_at_least "$have" "$go_version"; then
    exit 0
  fi
fi

target="$cache_dir/go$go_version"
if [ -x "$target/bin/go" ]; then
  echo "$target/bin"
  exit 0
fi

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "error: no Go $go_version or newer on PATH; install it from https://go.dev/dl/ (this script downloads only linux-amd64)" >&2
  exit 1
fi

echo "Downloading Go $go_version from $proxy" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
archive="$work/go.zip"
curl -fsSL -o "$archive" "$proxy/golang.org/toolchain/@v/v0.0.1-go$go_version.linux-amd64.zip"
echo "$archive_sha256  $archive" | sha256sum --check --quiet -
python3 - "$archive" "$work/unpacked" <<'PY'
import os
import sys
import zipfile

# zipfile drops the file modes; the archive keeps them in external_attr.
with zipfile.ZipFile(sys.argv[1]) as archive:
    for member in archive.infolist():
        path = archive.extract(member, sys.argv[2])
        mode = member.external_attr >> 16
        if mode:
            os.chmod(path, mode & 0o7777)
PY
mkdir -p "$cache_dir"
rm -rf "$target"
mv "$work/unpacked/golang.org/toolchain@v0.0.1-go$go_version.linux-amd64" "$target"
echo "$target/bin"

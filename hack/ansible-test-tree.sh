#!/usr/bin/env bash
# Copy this collection and kubernetes.core into a fresh
# DIR/ansible_collections/{pko/airgap,kubernetes/core} tree and print the
# collection's path. ansible-test needs such a real tree outside any git work
# tree, and finds dependencies only as siblings in it.
#
# Usage: ansible-test-tree.sh DIR COLLECTIONS_DIR
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
collections_dir=$2

tree="$dir/ansible_collections"
rm -rf "$tree"
mkdir -p "$tree/pko/airgap" "$tree/kubernetes"

# Tracked and new files that git does not ignore, plus the generated
# integration config, which is ignored on purpose.
# Paths deleted in the work tree but still tracked are skipped.
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
  while IFS= read -r -d '' path; do
    if [ -e "$root/$path" ] || [ -L "$root/$path" ]; then
      printf '%s\0' "$path"
    fi
  done |
  (cd "$root" && xargs -0 -r cp --parents --no-dereference -t "$tree/pko/airgap")
if [ -f "$root/tests/integration/integration_config.yml" ]; then
  cp "$root/tests/integration/integration_config.yml" "$tree/pko/airgap/tests/integration/"
fi
cp -r "$collections_dir/ansible_collections/kubernetes/core" "$tree/kubernetes/core"
echo "$tree/pko/airgap"

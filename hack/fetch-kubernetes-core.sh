#!/usr/bin/env bash
# Put kubernetes.core into COLLECTIONS_DIR/ansible_collections/kubernetes/core
# without Ansible Galaxy: the "ansible" package on PyPI bundles it, so this
# downloads that wheel (no dependencies) and unpacks only that collection.
#
# Usage: fetch-kubernetes-core.sh PYTHON COLLECTIONS_DIR [ANSIBLE_VERSION]
set -euo pipefail

python=$1
collections_dir=$2
ansible_version=${3:-12.3.0}  # bundles kubernetes.core 6.2.0

target="$collections_dir/ansible_collections/kubernetes/core"
if [ -f "$target/MANIFEST.json" ]; then
  exit 0
fi

download_dir=$(mktemp -d)
trap 'rm -rf "$download_dir"' EXIT
"$python" -m pip download --quiet --no-deps --dest "$download_dir" "ansible==$ansible_version"

mkdir -p "$collections_dir"
"$python" - "$download_dir"/ansible-*.whl "$collections_dir" <<'PY'
import sys
import zipfile

wheel, destination = sys.argv[1], sys.argv[2]
prefix = "ansible_collections/kubernetes/core/"
with zipfile.ZipFile(wheel) as archive:
    members = [name for name in archive.namelist() if name.startswith(prefix)]
    if not members:
        sys.exit("error: %s contains no %s" % (wheel, prefix))
    archive.extractall(destination, members)
PY
echo "Installed kubernetes.core from ansible==$ansible_version into $collections_dir"

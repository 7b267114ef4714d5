#!/usr/bin/env bash
# Write an offline stand-in for the get-pip.py script that ansible-test uses
# to put pip into the virtual environments of `sanity --venv` and
# `--requirements`.
#
# Usage: ansible-test-get-pip.sh PYTHON
#
# PYTHON is the interpreter that runs ansible-test. ansible-test downloads
# get-pip-<pip version>.py from ci-files.testing.ansible.com unless
# ~/.ansible/test/cache/get_pip_<pip version>.py exists. That host is not
# reachable here, so this script writes a file of that name that installs
# pip with the interpreter's own ensurepip and then upgrades it to the
# requested version from the package index (PyPI, or PIP_INDEX_URL).
# A file that this script did not write is left untouched, because it may be
# the real get-pip.py.
set -euo pipefail

python=${1:?usage: ansible-test-get-pip.sh PYTHON}
marker="# Offline get-pip stand-in written by pko.airgap hack/ansible-test-get-pip.sh"

# get_venv_packages() is where ansible-test pins the pip version that it
# bootstraps (24.2 in ansible-core 2.19.14).
pip_version=$("$python" - <<'EOF'
import types

from ansible_test._internal.python_requirements import get_venv_packages

# Only the version attribute is read.
print(get_venv_packages(types.SimpleNamespace(version="3.11"))["pip"])
EOF
) || {
  echo "error: cannot read the pip version that ansible-test bootstraps with $python;" \
    "is ansible-core installed there?" >&2
  exit 1
}

cache_dir="$HOME/.ansible/test/cache"
target="$cache_dir/get_pip_${pip_version//./_}.py"
if [ -e "$target" ] && ! grep -qxF "$marker" "$target"; then
  echo "$target exists and was not written by this script; keeping it" >&2
  echo "$target"
  exit 0
fi

mkdir -p "$cache_dir"
temporary=$(mktemp "$cache_dir/.get_pip.XXXXXX")
cat >"$temporary" <<EOF
$marker
"""Install pip $pip_version without get-pip.py: ensurepip, then pip from the index.

ansible-test runs this file with pip's arguments, for example
--disable-pip-version-check pip==$pip_version --no-setuptools --no-wheel.
"""
import subprocess
import sys

# Options of get-pip.py that pip install does not know.
GET_PIP_OPTIONS = ("--no-setuptools", "--no-wheel")


def run(command):
    status = subprocess.call(command)
    if status != 0:
        sys.stderr.write("get-pip stand-in: %s failed with exit code %d\n" % (" ".join(command), status))
        sys.exit(status)


def main():
    arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_OPTIONS]
    run([sys.executable, "-m", "ensurepip", "--default-pip"])
    run([sys.executable, "-m", "pip", "install"] + arguments)

    # ensurepip of Python 3.11 and older also installs setuptools, which
    # get-pip.py leaves out when asked to.
    if "--no-setuptools" in sys.argv[1:]:
        run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "setuptools"])


main()
EOF
mv "$temporary" "$target"
echo "$target"

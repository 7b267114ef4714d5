#!/usr/bin/env bash
# Link every working Python 3 interpreter into DIR as pythonX.Y and print the
# versions found, one per line.
#
# Usage: python-interpreters.sh DIR
#
# ansible-test sanity runs its per-version tests (compile, import, ...) for
# each supported Python that it finds as pythonX.Y on PATH. pyenv puts shims
# for every version on PATH, and a shim for a version that is not selected
# exits with "command not found", which ansible-test reports as a failure.
# Put DIR first on PATH and drop pyenv's shims directory from it, so
# ansible-test sees only interpreters that run.
set -euo pipefail

dir=${1:?usage: python-interpreters.sh DIR}
mkdir -p "$dir"

pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
if command -v pyenv >/dev/null 2>&1; then
  pyenv_root=$(pyenv root)
fi

# The versions that ansible-core 2.19 supports on managed nodes.
for version in 3.8 3.9 3.10 3.11 3.12 3.13 3.14; do
  candidates=()
  if found=$(command -v "python$version" 2>/dev/null); then
    candidates+=("$found")
  fi
  # Newest patch release first.
  while IFS= read -r found; do
    candidates+=("$found")
  done < <(find "$pyenv_root/versions" -mindepth 3 -maxdepth 3 \
    -path "$pyenv_root/versions/$version.*/bin/python$version" 2>/dev/null | sort -rV)

  for candidate in "${candidates[@]}"; do
    # A pyenv shim resolves through pyenv itself; link the interpreter
    # that it runs, or skip the shim when it does not run.
    if real=$("$candidate" -c 'import sys; print(sys.executable)' 2>/dev/null) &&
      [ -n "$real" ]; then
      ln -sfn "$real" "$dir/python$version"
      echo "$version"
      break
    fi
  done
done

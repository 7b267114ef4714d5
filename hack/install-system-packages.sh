#!/usr/bin/env bash
# Install the Debian packages that the demo and the tests run: skopeo, the
# distribution registry server, htpasswd (apache2-utils), openssl, shellcheck.
# Does nothing when every command is already on PATH.
set -euo pipefail

declare -A package_of=(
  [skopeo]=skopeo
  [docker-registry]=docker-registry
  [htpasswd]=apache2-utils
  [openssl]=openssl
  [shellcheck]=shellcheck
  [unzip]=unzip
)

missing=()
for command in "${!package_of[@]}"; do
  if ! command -v "$command" >/dev/null 2>&1; then
    missing+=("${package_of[$command]}")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "error: missing packages ${missing[*]}; run this script as root or install sudo" >&2
    exit 1
  fi
  sudo=(sudo)
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing packages ${missing[*]} and no apt-get; install them with your package manager" >&2
  exit 1
fi

echo "Installing Debian packages: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

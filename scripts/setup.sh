#!/usr/bin/env bash
# Installs everything overlaybd-py and its tests need on a fresh Debian machine:
# the system tools (e2fsprogs to check every filesystem we build, docker-registry
# for the registry tests, fuse3 for mounts, debootstrap for the realistic image)
# and the Python package with its pinned test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(e2fsprogs docker-registry fuse3 debootstrap apache2-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # The registry package would start a system service; tests start their own.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
    $sudo systemctl stop docker-registry || true
  fi
fi

python3 -m pip install --disable-pip-version-check -q -e '.[test]'

#!/usr/bin/env bash
# Installs everything skiff needs to build, test and benchmark on Debian 12, as root.
# Idempotent: packages already present are left alone, and apt-get update runs only
# when something is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config clang
  libfuse3-dev libssh-dev libxxhash-dev libboost-test-dev zlib1g-dev
  # run and test: a real sshd, FUSE, the peers the benchmarks compare against
  openssh-server openssh-client fuse3 sshfs rsync zfs-fuse restic
)
if [[ "${SKIFF_WITH_ZFS:-0}" == 1 ]]; then packages+=(zfs-fuse); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the package from starting the machine's own sshd.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

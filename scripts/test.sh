#!/usr/bin/env bash
# Installs what is needed, builds skiff with ASan+UBSan and runs every test suite
# (unit, fs, integration against a private sshd / real FUSE / zfs-fuse), then runs
# the fuzz targets for a fixed budget. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
BUILD_DIR=build-asan ./scripts/build.sh -DSKIFF_SANITIZE=ON
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j2

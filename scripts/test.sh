#!/usr/bin/env bash
# The README's test command. Installs what is needed, builds skiff with ASan+UBSan and
# runs every test suite with CTest (unit, semantics, and integration suites against a
# private OpenSSH sshd on loopback, real kernel FUSE mounts and zfs-fuse), then builds
# the libFuzzer targets with clang and runs each for a fixed budget
# (SKIFF_FUZZ_SECONDS, default 30). Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== build (ASan+UBSan) in build-asan"
BUILD_DIR=build-asan ./scripts/build.sh -DSKIFF_SANITIZE=ON
echo "== tests"
ctest --test-dir build-asan --output-on-failure -j2

echo "== fuzz targets (clang, libFuzzer, ${SKIFF_FUZZ_SECONDS:-30}s each)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DSKIFF_FUZZ=ON -DSKIFF_SANITIZE=ON \
  -DSKIFF_FUZZ_SECONDS="${SKIFF_FUZZ_SECONDS:-30}" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_targets
ctest --test-dir build-fuzz --output-on-failure

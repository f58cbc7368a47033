#!/usr/bin/env bash
# mount_write_timeline.sh: issue 3's 0 ms write (dd of MB MiB from /dev/zero, bs=1M,
# conv=fsync, into the server's plain directory on /tmp's filesystem, as mount_bench.sh's
# write row) for several variants, interleaved per round, dd under `strace -T -e
# trace=fsync`: prints each run's total seconds, how long the final fsync took (the
# server writing out what is still dirty) and the load. Runs niced like mount_bench.sh.
#
#   bench/mount_write_timeline.sh KIND:BUILD_DIR:OPTS ...
#   e.g. bench/mount_write_timeline.sh sshfs:: skiff:build: skiff:build:write_sync_mb=16
#
# Environment: REPS (3), MB (1024), CIPHER (aes128-gcm@openssh.com), BENCH_NICE (-10).
# Needs root and strace; everything it starts it stops by pid on exit.
set -euo pipefail
if [[ ${BENCH_NICE:=-10} != 0 && -z ${SKIFF_BENCH_NICED:-} ]]; then
  export SKIFF_BENCH_NICED=1
  exec nice -n "$BENCH_NICE" "$0" "$@"
fi
cd "$(dirname "$0")/.."
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
REPS=${REPS:-3}
MB=${MB:-1024}
(($# > 0)) || { echo "usage: $0 KIND:BUILD_DIR:OPTS ..." >&2; exit 2; }
# shellcheck source=bench/mount_lib.sh
source bench/mount_lib.sh
mount_bench_setup skiff-write-timeline
for rep in $(seq "$REPS"); do
  for v in "$@"; do
    IFS=: read -r kind build opts <<<"$v"
    [[ -z $build || $build == /* ]] || build=$PWD/$build
    SKIFF=$build/cli/skiff
    mnt=$WORK/mnt-$kind
    SKIFF_OPTS=$opts mount_fs "$kind" "$SSHD_PORT" "$mnt"
    sync
    t0=$(date +%s.%N)
    strace -T -e trace=fsync -o "$WORK/strace.txt" \
      dd if=/dev/zero of="$mnt/w" bs=1M count="$MB" conv=fsync status=none
    t1=$(date +%s.%N)
    fsync_s=$(grep -o '<[0-9.]*>' "$WORK/strace.txt" | tr -d '<>' | tail -1)
    printf 'round %s %-40s total %.2f s  final fsync %s s  load %s\n' "$rep" "$v" \
      "$(echo "$t1 - $t0" | bc)" "$fsync_s" "$(cut -d' ' -f1 /proc/loadavg)"
    umount_fs "$mnt"
    rm -f "$DATA/w"
  done
done

#!/usr/bin/env bash
# mount_untar_profile.sh: one untar onto a mount (skiff or sshfs), profiled, to find where
# the per-file cost goes. Prints the wall time, the CPU ticks and context switches of the
# FUSE daemon (with its children) and of the server side (this sshd's descendants), and,
# for skiff, the SFTP trace summary (bench/sftp_trace_summary.py: requests per type, how
# many were waited for, latencies). The server writes into a fresh in-memory ext4 as in
# mount_bench.sh.
#
#   bench/mount_untar_profile.sh [BUILD_DIR]      (default: build)
#
# Environment: KIND (skiff), FILES (1000; in 100 directories, 1..8 KiB), RTT (0; through
# skiff-faultproxy), CIPHER (aes128-gcm@openssh.com), OUT (directory for trace, perf.data,
# strace.txt; default a new /tmp/skiff-untar-profile-XXXXXX), PERF=1 (perf record -g the
# daemon during the untar), STRACE=1 (strace -c -f the daemon: syscall counts). Needs root;
# everything it starts it stops by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$PWD/$BUILD
SKIFF=$BUILD/cli/skiff
PROXY=$BUILD/tests/support/skiff-faultproxy
KIND=${KIND:-skiff}
FILES=${FILES:-1000}
RTT=${RTT:-0}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
OUT=${OUT:-$(mktemp -d /tmp/skiff-untar-profile-XXXXXX)}
[[ -x $SKIFF && -x $PROXY ]] || { echo "build skiff and skiff-faultproxy in $BUILD first" >&2; exit 2; }

# shellcheck source=bench/mount_lib.sh
source bench/mount_lib.sh
mount_bench_setup skiff-untar-profile
mkdir -p "$OUT" "$WORK/tree"
rm -f "$OUT/trace"
make_tree "$WORK/tree" "$FILES"
tar -C "$WORK/tree" -cf "$WORK/tree.tar" .
port=$SSHD_PORT
if [[ $RTT != 0 ]]; then
  start_delay_proxy "$RTT"
  port=$PROXY_PORT
fi
fresh_server_fs "$DATA/fresh"
mnt=$WORK/mnt-$KIND
SKIFF_SFTP_TRACE=$OUT/trace mount_fs "$KIND" "$port" "$mnt"
read -ra daemon <<< "$(mount_pids "$mnt")"
ctx_switches() {  # voluntary + involuntary, over every thread of the PIDs
  local t=0 p f
  for p in "$@"; do
    for f in /proc/"$p"/task/*/status; do
      [[ -r $f ]] && t=$((t + $(awk '/ctxt_switches/ { s += $2 } END { print s + 0 }' "$f")))
    done
  done
  echo "$t"
}
mkdir "$mnt/fresh/untar"
sync
read -ra server <<< "$(server_pids | tr '\n' ' ')"
d0=$(cpu_ticks "${daemon[@]}") s0=$(cpu_ticks "${server[@]}")
x0=$(ctx_switches "${daemon[@]}") y0=$(ctx_switches "${server[@]}")
tool=
if [[ ${PERF:-0} == 1 ]]; then
  perf record -g -o "$OUT/perf.data" -p "${daemon[0]}" 2>/dev/null &
  tool=$!
elif [[ ${STRACE:-0} == 1 ]]; then
  strace -f -c -o "$OUT/strace.txt" -p "${daemon[0]}" 2>/dev/null &
  tool=$!
fi
[[ -n $tool ]] && sleep 0.5  # attached
t=$(elapsed tar -C "$mnt/fresh/untar" --no-same-owner -xf "$WORK/tree.tar")
d1=$(cpu_ticks "${daemon[@]}") s1=$(cpu_ticks "${server[@]}")
x1=$(ctx_switches "${daemon[@]}") y1=$(ctx_switches "${server[@]}")
if [[ -n $tool ]]; then
  kill -INT "$tool"
  wait "$tool" || true
fi
printf '%s untar of %s files at %s ms: %.2f s (load %s)\n' "$KIND" "$FILES" "$RTT" "$t" \
  "$(cut -d' ' -f1 /proc/loadavg)"
printf 'daemon: %s CPU ticks, %s context switches; server: %s CPU ticks, %s context switches (%s ticks/s)\n' \
  $((d1 - d0)) $((x1 - x0)) $((s1 - s0)) $((y1 - y0)) "$TICKS"
umount_fs "$mnt"
for _ in $(seq 50); do [[ -d /proc/${daemon[0]} ]] || break; sleep 0.1; done  # trace written
drop_server_fs "$DATA/fresh"
[[ -s $OUT/trace ]] && python3 bench/sftp_trace_summary.py "$OUT/trace" 4
[[ -s $OUT/strace.txt ]] && head -25 "$OUT/strace.txt"
echo "output in $OUT"

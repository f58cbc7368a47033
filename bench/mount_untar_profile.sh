#!/usr/bin/env bash
# mount_untar_profile.sh: one untar (or, with WORKLOAD=write, one sequential write) onto a
# mount (skiff or sshfs), profiled, to find where the per-file (per-GiB) cost goes. Prints
# the wall time, the CPU ticks and context switches of the FUSE daemon (with its children;
# sshfs: and its ssh) and of the server side (this sshd's descendants), and,
# for skiff, the SFTP trace summary (bench/sftp_trace_summary.py: requests per type, how
# many were waited for, latencies). The server writes into a fresh in-memory ext4 as in
# mount_bench.sh.
#
#   bench/mount_untar_profile.sh [BUILD_DIR]      (default: build)
#
# Environment: KIND (skiff), WORKLOAD (untar; write = dd of MB MiB from /dev/zero with
# conv=fsync, as mount_bench.sh), MB (1024), SKIFF_OPTS (as mount_bench.sh), FILES (1000;
# in 100 directories, 1..8 KiB), RTT (0; through skiff-faultproxy), CIPHER
# (aes128-gcm@openssh.com), OUT (directory for trace, perf.data, strace.txt; default a
# new /tmp/skiff-untar-profile-XXXXXX), PERF=1 (perf record -g the daemon during the
# step; PERF_EVENTS adds options, e.g. "-e sched:sched_switch" to see where threads
# sleep), STRACE=1 (strace -c -f the daemon: syscall counts). Also prints the CPU ticks
# of each process (daemon, sshfs's ssh, sshd, sftp-server). The page cache is dropped
# (after a sync) before the timed step, as bench/lib.sh does. Not niced: on a busy
# machine run it under `nice -n -10` as mount_bench.sh does. Needs root; everything it
# starts it stops by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$PWD/$BUILD
SKIFF=$BUILD/cli/skiff
PROXY=$BUILD/tests/support/skiff-faultproxy
KIND=${KIND:-skiff}
WORKLOAD=${WORKLOAD:-untar}
MB=${MB:-1024}
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
if [[ $WORKLOAD == untar ]]; then
  make_tree "$WORK/tree" "$FILES"
  tar -C "$WORK/tree" -cf "$WORK/tree.tar" .
fi
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
per_process() {  # "PID COMM TICKS" for each PID
  local p
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] && echo "$p $(cat "/proc/$p/comm") $(cpu_ticks "$p")"
  done
}
mkdir "$mnt/fresh/untar"
sync
[[ ${BENCH_DROP_CACHES:-1} == 1 ]] && echo 3 > /proc/sys/vm/drop_caches
read -ra server <<< "$(server_pids | tr '\n' ' ')"
per0=$(per_process "${daemon[@]}" "${server[@]}")
d0=$(cpu_ticks "${daemon[@]}") s0=$(cpu_ticks "${server[@]}")
x0=$(ctx_switches "${daemon[@]}") y0=$(ctx_switches "${server[@]}")
tool=
if [[ ${PERF:-0} == 1 ]]; then
  # shellcheck disable=SC2086  # PERF_EVENTS is a list of options
  perf record ${PERF_EVENTS:-} -g -o "$OUT/perf.data" -p "${daemon[0]}" 2>/dev/null &
  tool=$!
elif [[ ${STRACE:-0} == 1 ]]; then
  strace -f -c -o "$OUT/strace.txt" -p "${daemon[0]}" 2>/dev/null &
  tool=$!
fi
[[ -n $tool ]] && sleep 0.5  # attached
if [[ $WORKLOAD == write ]]; then
  t=$(elapsed /usr/bin/time -o "$OUT/dd.time" -f '%U %S' \
    dd if=/dev/zero of="$mnt/fresh/untar/w" bs=1M count="$MB" conv=fsync status=none)
  what="write of $MB MiB (dd's own CPU $(tail -1 "$OUT/dd.time" | awk '{ printf "%.2f s", $1 + $2 }'))"
else
  t=$(elapsed tar -C "$mnt/fresh/untar" --no-same-owner -xf "$WORK/tree.tar")
  what="untar of $FILES files"
fi
# Server processes that started during the step (write_conns=2 opens its second
# connection once striping starts) count from 0.
read -ra server_after <<< "$(server_pids | tr '\n' ' ')"
for p in "${server_after[@]}"; do
  [[ " ${server[*]} " == *" $p "* ]] && continue
  server+=("$p")
  per0+=$'\n'"$p $(cat "/proc/$p/comm" 2>/dev/null) 0"
done
per1=$(per_process "${daemon[@]}" "${server[@]}")
d1=$(cpu_ticks "${daemon[@]}") s1=$(cpu_ticks "${server[@]}")
x1=$(ctx_switches "${daemon[@]}") y1=$(ctx_switches "${server[@]}")
if [[ -n $tool ]]; then
  kill -INT "$tool"
  wait "$tool" || true
fi
printf '%s %s at %s ms: %.2f s (load %s)\n' "$KIND" "$what" "$RTT" "$t" \
  "$(cut -d' ' -f1 /proc/loadavg)"
printf 'daemon: %s CPU ticks, %s context switches; server: %s CPU ticks, %s context switches (%s ticks/s)\n' \
  $((d1 - d0)) $((x1 - x0)) $((s1 - s0)) $((y1 - y0)) "$TICKS"
echo "CPU ticks per process: $(join -j1 <(sort <<< "$per0") <(sort <<< "$per1") |
  awk '{ printf "%s %s=%d ", $1, $2, $5 - $3 }')"
umount_fs "$mnt"
for _ in $(seq 50); do [[ -d /proc/${daemon[0]} ]] || break; sleep 0.1; done  # trace written
drop_server_fs "$DATA/fresh"
[[ -s $OUT/trace ]] && python3 bench/sftp_trace_summary.py "$OUT/trace" 4
[[ -s $OUT/strace.txt ]] && head -25 "$OUT/strace.txt"
echo "output in $OUT"

#!/usr/bin/env bash
# Per-process CPU of skiff's backup steps against rsync's, cold page cache, on the issue 4
# data set (bench/lib.sh), for one or more skiff binaries in the same run (A/B).
#
# usage: bench/backup_cpu.sh BIN...        (env BENCH_SCALE=1, BENCH_REPEAT=1)
#   per repetition: a fresh source; for each BIN a full backup (repository repoI), then
#   rsync's; day 2; each BIN's incremental, rsync's; each BIN's restore, rsync's.
#   BENCH_INCR_ONLY=1: one full backup per BIN, day 2, then BENCH_REPEAT rounds of each
#   BIN's incremental (its snapshot removed again afterwards), for repeated incrementals
#   from the same state.
# Each step prints "NAME wire=BYTES client U S wall W cpu_sum C cmd_rusage R | comm=CPU(xN)"
# (bench/proc_cpu.py; sshd includes internal-sftp, the chrooted account's server).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${BENCH_SCALE:-1}
REPEAT=${BENCH_REPEAT:-1}
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || { sed -n '2,12p' "$0"; exit 2; }
. bench/lib.sh
bench_start_sshd skiff-cpu
start_relay
export XDG_CACHE_HOME="$W/cache"
SRC="$W/src"
crun() {  # crun NAME CMD...
  local name=$1 o
  shift
  sync
  echo 3 >/proc/sys/vm/drop_caches
  : >"$W/wire"
  o=$(bench/proc_cpu.py "$SSHD_PID" -- /usr/bin/time -f "client %U %S" "$@" 2>&1 >/dev/null | tr '\n' ' ')
  sleep 0.3
  echo "$name wire=$(wire) $o"
}
skiff_() { local i=$1; shift; crun "$1-$i" "${BINS[$i]}" "${@:2}" -q "${SSHOPTS[@]}"; }
if [ "${BENCH_INCR_ONLY:-0}" = 1 ]; then
  gen_source "$SRC"
  for i in "${!BINS[@]}"; do "${BINS[$i]}" backup "$SRC" skiff-sftp:/data/repo$i -q "${SSHOPTS[@]}"; done
  day2 "$SRC" >&2
  for rep in $(seq "$REPEAT"); do
    for i in "${!BINS[@]}"; do
      skiff_ "$i" incr backup "$SRC" skiff-sftp:/data/repo$i
      last=$(ls "$SFTP_LOCAL_DIR/repo$i/snapshots" | sort | tail -1)
      rm -rf "$SFTP_LOCAL_DIR/repo$i/snapshots/$last" "$SFTP_LOCAL_DIR/repo$i/.skiff/manifests/$last"
    done
    echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
  done
  exit 0
fi
for rep in $(seq "$REPEAT"); do
  rm -rf "$SRC" "$W"/restore-* "$W/cache" "$SFTP_LOCAL_DIR"/repo*
  gen_source "$SRC"
  ssh "${SSHOPTS[@]}" skiff-plain rm -rf "$PLAIN_REMOTE_DIR/rs"
  ssh "${SSHOPTS[@]}" skiff-plain mkdir -p "$PLAIN_REMOTE_DIR/rs"
  for i in "${!BINS[@]}"; do skiff_ "$i" full backup "$SRC" skiff-sftp:/data/repo$i; done
  crun full-rsync rsync -a -e "$RSYNC_SSH" "$SRC/" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s1/"
  day2 "$SRC" >&2
  for i in "${!BINS[@]}"; do skiff_ "$i" incr backup "$SRC" skiff-sftp:/data/repo$i; done
  crun incr-rsync rsync -a --link-dest=../s1 -e "$RSYNC_SSH" "$SRC/" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s2/"
  for i in "${!BINS[@]}"; do skiff_ "$i" restore restore skiff-sftp:/data/repo$i "$W/restore-$i"; done
  crun restore-rsync rsync -a -e "$RSYNC_SSH" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s2/" "$W/restore-rsync/"
  for i in "${!BINS[@]}"; do
    diff -r "$SRC" "$W/restore-$i/src" >/dev/null && echo "# $i: restore identical" || echo "# $i: RESTORE DIFFERS"
  done
  echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
done

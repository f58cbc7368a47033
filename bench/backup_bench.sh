#!/usr/bin/env bash
# Backup benchmark of issue 4: skiff vs `rsync -a --link-dest` over ssh, same loopback
# sshd (tests/support/sshd-env), same cipher (aes128-gcm@openssh.com).
#
# Data set: ~5000 small files in 100 directories, two 200 MiB binaries, a 70 MB text log.
# Day-2 change: 50 files rewritten, 100 only touched, 1000 bytes inserted in the middle
# of one binary, ten 4 KiB pages rewritten in the other, 1 MiB appended to the log.
# Measured per step (full backup, incremental, full restore): wall time and peak RSS
# (GNU time), bytes on the wire (both directions, counted by a relay every connection
# goes through). skiff writes to the chrooted SFTP-only account, rsync to the shell
# account (it needs rsync on the server). restic is not installed (apt-cache policy
# restic: candidate 0.14.0, installed none), so it is not measured.
#
# usage: bench/backup_bench.sh   (env: SKIFF_BIN, BENCH_SCALE=1 full size, 0.1 = 10%)
set -euo pipefail
cd "$(dirname "$0")/.."
SKIFF=${SKIFF_BIN:-build/cli/skiff}
SCALE=${BENCH_SCALE:-1}
W=$(mktemp -d /tmp/skiff-bench-XXXXXX)
RELAY_PID=""
cleanup() {
  [ -n "$RELAY_PID" ] && kill "$RELAY_PID" 2>/dev/null || true
  tests/support/sshd-env stop "$W/sshd" >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
. bench/lib.sh

tests/support/sshd-env start "$W/sshd" >/dev/null
. "$W/sshd/env"

start_relay
export XDG_CACHE_HOME="$W/cache"

echo "# generating the data set (scale $SCALE)" >&2
SRC="$W/src"
gen_source "$SRC"

ssh "${SSHOPTS[@]}" skiff-plain mkdir -p "$PLAIN_REMOTE_DIR/rs"
results=$(
  run skiff-full "$SKIFF" backup "$SRC" skiff-sftp:/data/repo -q "${SSHOPTS[@]}"
  run rsync-full rsync -a -e "$RSYNC_SSH" "$SRC/" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s1/"

  day2 "$SRC" >&2
  run skiff-incr "$SKIFF" backup "$SRC" skiff-sftp:/data/repo -q "${SSHOPTS[@]}"
  run rsync-incr rsync -a --link-dest=../s1 -e "$RSYNC_SSH" "$SRC/" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s2/"

  run skiff-restore "$SKIFF" restore skiff-sftp:/data/repo "$W/restore-skiff" -q "${SSHOPTS[@]}"
  run rsync-restore rsync -a -e "$RSYNC_SSH" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s2/" "$W/restore-rsync/"
)
echo "step           wall_s  peak_rss_KiB  wire_bytes"
echo "$results" | awk '{printf "%-14s %7s %13s %11s\n", $1, $2, $3, $4}'
diff -r "$SRC" "$W/restore-skiff/src" >/dev/null && echo "skiff restore identical to the source" ||
  echo "SKIFF RESTORE DIFFERS"
echo "$results" | awk '
  { w[$1]=$2; r[$1]=$3; b[$1]=$4 }
  END {
    for (s in w) if (s ~ /^skiff-/) { p = s; sub(/^skiff-/, "rsync-", p);
      if (w[p] > 0 && b[p] > 0)
        printf "%-8s skiff/rsync: wall %.2fx  wire %.2fx  rss %.2fx\n", substr(s, 7), w[s]/w[p], b[s]/b[p], r[s]/r[p] }
  }'

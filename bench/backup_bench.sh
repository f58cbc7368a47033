#!/usr/bin/env bash
# Backup benchmark of issue 4: skiff vs `rsync -a --link-dest` over ssh and restic 0.14
# over sftp, same loopback sshd (tests/support/sshd-env), same cipher
# (aes128-gcm@openssh.com).
#
# Data set and day-2 change (bench/lib.sh): ~5000 small files in 100 directories, two
# 200 MiB binaries, a 70 MB text log; then 50 files rewritten, 100 only touched, 1000
# bytes inserted in the middle of one binary, ten 4 KiB pages rewritten in the other,
# 1 MiB appended to the log.
# Measured per step (full backup, incremental, full restore): wall time and peak RSS
# (GNU time), bytes on the wire (both directions, counted by a relay every connection
# goes through). skiff and restic write to the chrooted SFTP-only account (restic's
# sftp.command runs `ssh ... -s sftp` through the relay), rsync to the shell account
# (it needs rsync on the server). Each repetition starts from a fresh source, skiff
# repository, restic repository (its `init` is not timed) and rsync target; the table
# prints every run, then the medians and the ratios of the medians.
#
# usage: bench/backup_bench.sh   (env: SKIFF_BIN, BENCH_SCALE=1 full size, 0.1 = 10%;
#        BENCH_REPEAT=1; BENCH_RESTIC=0 skips restic; BENCH_TRACE_DIR=DIR records every
#        SFTP request of skiff's backups in DIR/{full,incr}.REP for
#        bench/sftp_trace_summary.py)
set -euo pipefail
cd "$(dirname "$0")/.."
SKIFF=${SKIFF_BIN:-build/cli/skiff}
SCALE=${BENCH_SCALE:-1}
REPEAT=${BENCH_REPEAT:-1}
WITH_RESTIC=${BENCH_RESTIC:-1}
TRACE_DIR=${BENCH_TRACE_DIR:-}
W=$(mktemp -d /tmp/skiff-bench-XXXXXX)
# tenv STEP: an `env` prefix that sets SKIFF_SFTP_TRACE when BENCH_TRACE_DIR is set.
tenv() { [ -n "$TRACE_DIR" ] && echo "SKIFF_SFTP_TRACE=$TRACE_DIR/$1.$rep"; true; }
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

export RESTIC_PASSWORD=skiff-bench
RESTIC_SFTP="ssh ${SSHOPTS[*]} skiff-sftp -s sftp"
# A script, not a function: `run` times it with GNU time.
cat >"$W/restic" <<EOF
#!/bin/sh
exec restic -r sftp:skiff-sftp:/data/restic -o sftp.command="$RESTIC_SFTP" -q "\$@"
EOF
chmod +x "$W/restic"
restic_() { "$W/restic" "$@"; }
if [ "$WITH_RESTIC" = 1 ] && ! command -v restic >/dev/null; then
  echo "# restic not installed (scripts/install-deps.sh installs it): not measured" >&2
  WITH_RESTIC=0
fi

SRC="$W/src"
results=""
for rep in $(seq "$REPEAT"); do
  echo "# repetition $rep: generating the data set (scale $SCALE)" >&2
  rm -rf "$SRC" "$W/restore-skiff" "$W/restore-rsync" "$W/restore-restic" "$W/cache"
  rm -rf "$SFTP_LOCAL_DIR/repo" "$SFTP_LOCAL_DIR/restic"
  gen_source "$SRC"
  [ -n "$TRACE_DIR" ] && mkdir -p "$TRACE_DIR" && rm -f "$TRACE_DIR/full.$rep" "$TRACE_DIR/incr.$rep"
  ssh "${SSHOPTS[@]}" skiff-plain rm -rf "$PLAIN_REMOTE_DIR/rs"
  ssh "${SSHOPTS[@]}" skiff-plain mkdir -p "$PLAIN_REMOTE_DIR/rs"
  [ "$WITH_RESTIC" = 1 ] && restic_ init >/dev/null
  results+=$(
    run skiff-full env $(tenv full) "$SKIFF" backup "$SRC" skiff-sftp:/data/repo -q "${SSHOPTS[@]}"
    echo
    run rsync-full rsync -a -e "$RSYNC_SSH" "$SRC/" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s1/"
    echo
    if [ "$WITH_RESTIC" = 1 ]; then run restic-full "$W/restic" backup "$SRC"; echo; fi
    day2 "$SRC" >&2
    run skiff-incr env $(tenv incr) "$SKIFF" backup "$SRC" skiff-sftp:/data/repo -q "${SSHOPTS[@]}"
    echo
    run rsync-incr rsync -a --link-dest=../s1 -e "$RSYNC_SSH" "$SRC/" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s2/"
    echo
    if [ "$WITH_RESTIC" = 1 ]; then run restic-incr "$W/restic" backup "$SRC"; echo; fi
    run skiff-restore "$SKIFF" restore skiff-sftp:/data/repo "$W/restore-skiff" -q "${SSHOPTS[@]}"
    echo
    run rsync-restore rsync -a -e "$RSYNC_SSH" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s2/" "$W/restore-rsync/"
    echo
    if [ "$WITH_RESTIC" = 1 ]; then
      run restic-restore "$W/restic" restore latest --target "$W/restore-restic"
      echo
    fi
  )$'\n'
  diff -r "$SRC" "$W/restore-skiff/src" >/dev/null && echo "# rep $rep: skiff restore identical to the source" >&2 ||
    echo "# rep $rep: SKIFF RESTORE DIFFERS" >&2
done
peers=(rsync "skiff/rsync ")
[ "$WITH_RESTIC" = 1 ] && peers+=(restic "skiff/restic")
echo "$results" | print_results skiff "${peers[@]}"

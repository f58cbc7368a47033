#!/bin/bash
# bench/restore_ab.sh N BIN...: one backup of the bench data set, then N rounds of
# [each BIN restore, rsync -a pull], interleaved, page cache dropped before each (bench/lib.sh run).
# TRACE=DIR: each skiff restore writes an SFTP trace to DIR/trace.BIN.ROUND (bench/sftp_trace_summary.py).
set -euo pipefail
cd "$(dirname "$0")/.."
N=$1; shift; BINS=("$@")
SKIFF=${BINS[0]}; SCALE=1
W=$(mktemp -d /tmp/skiff-restore-ab-XXXXXX)
RELAY_PID=""
cleanup() { [ -n "$RELAY_PID" ] && kill "$RELAY_PID" 2>/dev/null || true; tests/support/sshd-env stop "$W/sshd" >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
. bench/lib.sh
tests/support/sshd-env start "$W/sshd" >/dev/null
. "$W/sshd/env"
start_relay
export XDG_CACHE_HOME="$W/cache"
SRC="$W/src"; gen_source "$SRC"
"$SKIFF" backup "$SRC" skiff-sftp:/data/repo -q "${SSHOPTS[@]}"
ssh "${SSHOPTS[@]}" skiff-plain mkdir -p "$PLAIN_REMOTE_DIR/rs"
rsync -a -e "$RSYNC_SSH" "$SRC/" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s1/"
for r in $(seq "$N"); do
  i=0
  for b in "${BINS[@]}"; do
    rm -rf "$W/rs"
    run "bin$i" env ${TRACE:+SKIFF_SFTP_TRACE=$TRACE/trace.$i.$r} "$b" restore skiff-sftp:/data/repo "$W/rs" -q "${SSHOPTS[@]}"
    diff -r "$SRC" "$W/rs/src" >/dev/null || echo "# bin$i DIFFERS" >&2
    i=$((i+1))
  done
  rm -rf "$W/rr"; run rsync rsync -a -e "$RSYNC_SSH" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s1/" "$W/rr/"
  echo "# load $(cut -d' ' -f1-3 /proc/loadavg)"
done

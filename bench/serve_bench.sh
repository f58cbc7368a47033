#!/usr/bin/env bash
# skiff serve benchmark (issue 5): incremental backup through a forced-command
# `skiff serve --append-only` key vs `rsync -a --link-dest` over ssh, same loopback sshd
# (tests/support/sshd-env), same cipher (aes128-gcm@openssh.com), bytes on the wire
# counted by a relay every connection goes through (both directions).
#
# Data set and day-2 change: bench/lib.sh's, shared with bench/backup_bench.sh: ~5000
# small files in 100 directories, two 200 MiB binaries, a 70 MB log; then 50 files
# rewritten, 100 touched, 1000 bytes inserted mid-binary, ten 4 KiB pages rewritten,
# 1 MiB appended to the log.
# Each repetition starts from a fresh source, repository and rsync target; the table
# prints every run and the medians. Pull mode is not implemented, so not measured.
#
# usage: bench/serve_bench.sh   (env: SKIFF_BIN, BENCH_SCALE=1 full size, BENCH_REPEAT=3)
set -euo pipefail
cd "$(dirname "$0")/.."
SKIFF_SRC_BIN=${SKIFF_BIN:-build/cli/skiff}
SCALE=${BENCH_SCALE:-1}
REPEAT=${BENCH_REPEAT:-3}
. bench/lib.sh
bench_start_sshd skiff-serve-bench
copy_skiff "$SKIFF_SRC_BIN"

start_relay
export XDG_CACHE_HOME="$W/cache"

results=""
for rep in $(seq "$REPEAT"); do
  echo "# repetition $rep: generating the data set (scale $SCALE)" >&2
  rm -rf "$W/src" "$W/repo"
  gen_source "$W/src"
  mkdir -p "$W/repo"
  chown skiff-restricted: "$W/repo"
  KEY=$(restricted_key "$W/repo" --append-only)
  ssh "${SSHOPTS[@]}" skiff-plain rm -rf "$PLAIN_REMOTE_DIR/rs"
  ssh "${SSHOPTS[@]}" skiff-plain mkdir -p "$PLAIN_REMOTE_DIR/rs"
  rm -rf "$W/cache"
  results+=$(
    run serve-full env SKIFF_TRANSPORT=serve "$SKIFF" backup "$W/src" skiff-restricted: -q "${SSHOPTS[@]}" -i "$KEY"
    echo
    run rsync-full rsync -a -e "$RSYNC_SSH" "$W/src/" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s1/"
    echo
    day2 "$W/src" >&2
    run serve-incr env SKIFF_TRANSPORT=serve SKIFF_SERVE_STATS=1 "$SKIFF" backup "$W/src" skiff-restricted: -q "${SSHOPTS[@]}" -i "$KEY"
    echo
    # Where the incremental's serve frames go, per request type (SKIFF_SERVE_STATS).
    grep '^serve ' "$W/err" | sed 's/^/# serve-incr /' >&2 || true
    run rsync-incr rsync -a --link-dest=../s1 -e "$RSYNC_SSH" "$W/src/" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s2/"
    echo
  )$'\n'
  snap=$(ls "$W/repo/snapshots" | grep -v '^\.' | tail -n 1)
  diff -r "$W/src" "$W/repo/snapshots/$snap/src" >/dev/null && echo "# rep $rep: serve snapshot identical to the source" >&2 ||
    echo "# rep $rep: SERVE SNAPSHOT DIFFERS" >&2
done
echo "$results" | print_results serve rsync "serve/rsync"

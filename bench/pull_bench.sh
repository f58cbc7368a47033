#!/usr/bin/env bash
# Pull-mode benchmark (issue 5): the backup host pulls a tree from a "client" through a
# forced-command `skiff serve --read-only --root SRC` key (`skiff backup
# skiff-restricted: REPO`, REPO local) vs `rsync -a --link-dest` pulling the same tree
# over the same loopback sshd (tests/support/sshd-env) and cipher
# (aes128-gcm@openssh.com); bytes on the wire counted by a relay both go through.
#
# Data set and day-2 change: bench/lib.sh's (shared with backup_bench.sh and
# serve_bench.sh): ~5000 small files in 100 directories, two 200 MiB binaries, a
# 70 MB log; then 50 files rewritten, 100 touched, 1000 bytes inserted mid-binary, ten
# 4 KiB pages rewritten, 1 MiB appended to the log. Every repetition starts from a fresh
# source, repository and rsync target; the table prints every run, then the medians and
# the ratios skiff/rsync.
#
# usage: bench/pull_bench.sh   (env: SKIFF_BIN, BENCH_SCALE=1 full size, BENCH_REPEAT=3)
set -euo pipefail
cd "$(dirname "$0")/.."
SKIFF_SRC_BIN=${SKIFF_BIN:-build/cli/skiff}
SCALE=${BENCH_SCALE:-1}
REPEAT=${BENCH_REPEAT:-3}
. bench/lib.sh
bench_start_sshd skiff-pull-bench
copy_skiff "$SKIFF_SRC_BIN"
start_relay
export XDG_CACHE_HOME="$W/cache"

echo "# $(uptime)" >&2
results=""
for rep in $(seq "$REPEAT"); do
  echo "# repetition $rep: generating the data set (scale $SCALE)" >&2
  rm -rf "$W/src" "$W/repo" "$W/rs" "$W/cache"
  gen_source "$W/src"
  sleep 1.1  # the day-1 runs start in a later second than the files' ctimes
  mkdir -p "$W/rs"
  KEY=$(restricted_key "$W/src" --read-only)
  results+=$(
    run skiff-full "$SKIFF" backup skiff-restricted: "$W/repo" -q "${SSHOPTS[@]}" -i "$KEY"
    echo
    run rsync-full rsync -a -e "$RSYNC_SSH" "skiff-plain:$W/src/" "$W/rs/s1/"
    echo
    day2 "$W/src" >&2
    sleep 1.1
    run skiff-incr "$SKIFF" backup skiff-restricted: "$W/repo" -q "${SSHOPTS[@]}" -i "$KEY"
    echo
    run rsync-incr rsync -a --link-dest="$W/rs/s1" -e "$RSYNC_SSH" "skiff-plain:$W/src/" "$W/rs/s2/"
    echo
  )$'\n'
  snap=$(ls "$W/repo/snapshots" | grep -v '^\.' | tail -n 1)
  diff -r "$W/src" "$W/repo/snapshots/$snap/src" >/dev/null &&
    echo "# rep $rep: pulled snapshot identical to the source" >&2 ||
    echo "# rep $rep: PULLED SNAPSHOT DIFFERS" >&2
  diff -r "$W/src" "$W/rs/s2" >/dev/null || echo "# rep $rep: RSYNC COPY DIFFERS" >&2
done
echo "# $(uptime)" >&2
echo "$results" | print_results skiff rsync "pull skiff/rsync"

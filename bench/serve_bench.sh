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
W=$(mktemp -d /tmp/skiff-serve-bench-XXXXXX)
chmod 755 "$W"
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
# The restricted account runs skiff: a copy it can execute.
SKIFF="$W/skiff"
cp "$SKIFF_SRC_BIN" "$SKIFF"
chmod 755 "$SKIFF"

start_relay
export XDG_CACHE_HOME="$W/cache"

results=""
for rep in $(seq "$REPEAT"); do
  echo "# repetition $rep: generating the data set (scale $SCALE)" >&2
  rm -rf "$W/src" "$W/repo"
  gen_source "$W/src"
  mkdir -p "$W/repo"
  chown skiff-restricted: "$W/repo"
  LINE=$("$SKIFF" authorize --key "$W/sshd/keys/restricted.pub" --root "$W/repo" --append-only --skiff "$SKIFF")
  KEY=$(tests/support/sshd-env add-key "$W/sshd" skiff-restricted "${LINE%%\" ssh-*}\"" | tail -n 1)
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
echo "step           wall_s  peak_rss_KiB  wire_bytes"
echo "$results" | awk 'NF==4 {printf "%-14s %7s %13s %11s\n", $1, $2, $3, $4}'
echo "$results" | awk 'NF==4' | python3 -c '
import sys, statistics
rows = {}
for l in sys.stdin:
    n, w, r, b = l.split(); rows.setdefault(n, []).append((float(w), int(r), int(b)))
med = {n: [statistics.median(x[i] for x in v) for i in range(3)] for n, v in rows.items()}
print("medians over %d runs:" % len(next(iter(rows.values()))))
for n, (w, r, b) in sorted(med.items()):
    print("  %-12s wall %7.2f s  rss %8d KiB  wire %12d B" % (n, w, r, b))
for step in ("full", "incr"):
    s, r = med.get("serve-" + step), med.get("rsync-" + step)
    if s and r and r[0] > 0 and r[2] > 0:
        print("  %-5s serve/rsync: wall %.2fx  wire %.2fx" % (step, s[0] / r[0], s[2] / r[2]))
'

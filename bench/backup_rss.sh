#!/usr/bin/env bash
# Memory benchmark of issue 4: peak RSS of `skiff backup` of a tree of many tiny files
# (target: 1 000 000 files in under 200 MiB). The tree is N files (default 1 000 000)
# in directories of 1000, every tenth file holding a few bytes and the rest empty; the
# repository is a local directory (no sshd: the figure is the engine's memory, the
# transport holds a bounded window either way). Prints the wall time and peak RSS
# (GNU time) of the full backup and of an incremental run over the unchanged tree.
#
# usage: bench/backup_rss.sh [N]   (env: SKIFF_BIN; BENCH_DIR=parent of the work dir)
set -euo pipefail
cd "$(dirname "$0")/.."
SKIFF=${SKIFF_BIN:-build/cli/skiff}
N=${1:-1000000}
W=$(mktemp -d "${BENCH_DIR:-/tmp}/skiff-rss-XXXXXX")
cleanup() { rm -rf "$W"; }
trap cleanup EXIT

echo "# generating $N files" >&2
python3 - "$W/src" "$N" <<'PY'
import os, sys
src, n = sys.argv[1], int(sys.argv[2])
per_dir = 1000
for d in range((n + per_dir - 1) // per_dir):
    dp = f"{src}/d{d:04}"
    os.makedirs(dp)
    for i in range(min(per_dir, n - d * per_dir)):
        fd = os.open(f"{dp}/f{i:03}", os.O_WRONLY | os.O_CREAT, 0o644)
        if i % 10 == 0: os.write(fd, b"x" * (i % 97))
        os.close(fd)
PY
mkdir -p "$W/repo"
export XDG_CACHE_HOME="$W/cache"
run() {  # run NAME CMD...: prints "NAME wall_s peak_rss_kib"
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$W/time" "$@" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; echo "$name failed" >&2; }
  echo "$name $(tail -n 1 "$W/time")"
}
results=$(
  run full "$SKIFF" backup "$W/src" "$W/repo" -q
  run incr "$SKIFF" backup "$W/src" "$W/repo" -q
)
echo "files=$N  step wall_s peak_rss_KiB"
echo "$results" | awk -v n="$N" '{printf "%-6s %8s s %10s KiB (%.1f MiB; target < 200 MiB: %s)\n", $1, $2, $3, $3/1024, ($3 < 200*1024 ? "met" : "NOT met")}'

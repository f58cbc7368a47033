#!/usr/bin/env bash
# Memory benchmark of issue 4: peak RSS of `skiff backup` of a tree of many tiny files
# (target: 1 000 000 files in under 200 MiB). The tree is N files (default 1 000 000)
# in directories of 1000, every tenth file holding a few bytes and the rest empty. The
# repository is a local directory (BENCH_REPO=local, default: no sshd, the figure is the
# engine's memory) or, with BENCH_REPO=sftp, skiff-sftp:/data/repo on a private loopback
# sshd (tests/support/sshd-env; the client's RSS then includes its SSH sessions, the
# server's processes are not counted). Prints the wall time and peak RSS (GNU time) of
# the full backup and of an incremental run over the unchanged tree, with the files each
# run reports (--json), so a run that skipped part of the tree does not pass unseen.
#
# usage: bench/backup_rss.sh [N]   (env: SKIFF_BIN; BENCH_DIR=parent of the work dir;
#                                   BENCH_REPO=local|sftp)
set -euo pipefail
cd "$(dirname "$0")/.."
SKIFF=${SKIFF_BIN:-build/cli/skiff}
N=${1:-1000000}
if [ "${BENCH_REPO:-local}" = sftp ]; then
  # shellcheck source=bench/lib.sh
  . bench/lib.sh
  bench_start_sshd skiff-rss  # W (under /tmp), sshd, EXIT trap
  REPO=(skiff-sftp:/data/repo -F "$SSH_CONFIG")
else
  W=$(mktemp -d "${BENCH_DIR:-/tmp}/skiff-rss-XXXXXX")
  cleanup() { rm -rf "$W"; }
  trap cleanup EXIT
  mkdir -p "$W/repo"
  REPO=("$W/repo")
fi

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
export XDG_CACHE_HOME="$W/cache"
run() {  # run NAME CMD...: prints "NAME wall_s peak_rss_kib files unchanged_files"
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$W/time" "$@" >"$W/out" 2>"$W/err" || { cat "$W/err" >&2; echo "$name failed" >&2; }
  echo "$name $(tail -n 1 "$W/time") $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["files"], j["unchanged_files"])' "$W/out" 2>/dev/null || echo "? ?")"
}
results=$(
  run full "$SKIFF" backup "$W/src" "${REPO[@]}" --json
  run incr "$SKIFF" backup "$W/src" "${REPO[@]}" --json
)
echo "files=$N repo=${BENCH_REPO:-local}  step wall_s peak_rss_KiB"
echo "$results" | awk '{printf "%-6s %8s s %10s KiB (%.1f MiB; target < 200 MiB: %s)  files %s, unchanged %s\n", $1, $2, $3, $3/1024, ($3 < 200*1024 ? "met" : "NOT met"), $4, $5}'

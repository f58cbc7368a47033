#!/usr/bin/env bash
# skiff serve benchmark (issue 5): incremental backup through a forced-command
# `skiff serve --append-only` key vs `rsync -a --link-dest` over ssh, same loopback sshd
# (tests/support/sshd-env), same cipher (aes128-gcm@openssh.com), bytes on the wire
# counted by a relay every connection goes through (both directions).
#
# Data set and day-2 change: those of bench/backup_bench.sh (which offers no shared
# function, so the two generators are repeated here verbatim): ~5000 small files in 100
# directories, two 200 MiB binaries, a 70 MB log; then 50 files rewritten, 100 touched,
# 1000 bytes inserted mid-binary, ten 4 KiB pages rewritten, 1 MiB appended to the log.
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

tests/support/sshd-env start "$W/sshd" >/dev/null
. "$W/sshd/env"
# The restricted account runs skiff: a copy it can execute.
SKIFF="$W/skiff"
cp "$SKIFF_SRC_BIN" "$SKIFF"
chmod 755 "$SKIFF"

cat >"$W/relay.py" <<'PY'
import socket, sys, threading
listen, target, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
def pump(a, b, counter):
    n = 0
    try:
        while True:
            d = a.recv(1 << 18)
            if not d: break
            b.sendall(d); n += len(d)
    except OSError: pass
    try: b.shutdown(socket.SHUT_WR)
    except OSError: pass
    counter.append(n)
def serve(c):
    t = socket.create_connection(("127.0.0.1", target))
    up, down = [], []
    th = [threading.Thread(target=pump, args=(c, t, up)), threading.Thread(target=pump, args=(t, c, down))]
    for x in th: x.start()
    for x in th: x.join()
    with lock, open(out, "a") as f: f.write("%d %d\n" % (up[0], down[0]))
    c.close(); t.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", listen)); s.listen(16)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$W/relay.py" "$PPORT" "$SSHD_PORT" "$W/wire" &
RELAY_PID=$!
sed "s/\]:$SSHD_PORT/]:$PPORT/" "$KNOWN_HOSTS" >"$W/known_hosts"
SSHOPTS=(-F "$SSH_CONFIG" -p "$PPORT" -o "UserKnownHostsFile=$W/known_hosts" -o "Ciphers=aes128-gcm@openssh.com")
RSYNC_SSH="ssh ${SSHOPTS[*]}"
export XDG_CACHE_HOME="$W/cache"
sleep 0.5

gen_source() {  # gen_source DIR (bench/backup_bench.sh's data set)
  python3 - "$1" "$SCALE" <<'PY'
import os, random, sys
src, scale = sys.argv[1], float(sys.argv[2])
rnd = random.Random(42)
for d in range(100):
    os.makedirs(f"{src}/small/d{d:03}", exist_ok=True)
    for i in range(50):
        with open(f"{src}/small/d{d:03}/f{i:03}.txt", "wb") as f:
            f.write(rnd.randbytes(rnd.randint(200, 8000)))
for name in ("bin1", "bin2"):
    with open(f"{src}/{name}", "wb") as f:
        for _ in range(int(200 * scale)): f.write(os.urandom(1 << 20))
with open(f"{src}/app.log", "w") as f:
    n = 0
    while n < 70e6 * scale:
        line = "2026-11-22T03:15:%02d host app[%d]: request %d served in %d ms\n" % (n % 60, n % 977, n, n % 313)
        f.write(line); n += len(line)
PY
}
day2() {  # day2 DIR (bench/backup_bench.sh's change)
  python3 - "$1" <<'PY'
import os, random, sys, time
src = sys.argv[1]; rnd = random.Random(7); now = time.time() + 5
files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(f"{src}/small") for f in fs)
for p in rnd.sample(files, 150)[:50]:
    with open(p, "wb") as f: f.write(rnd.randbytes(rnd.randint(200, 8000)))
for p in rnd.sample(files, 150)[50:]:
    os.utime(p, (now, now))
with open(f"{src}/bin1", "r+b") as f:
    data = f.read(); mid = len(data) // 2
    f.seek(0); f.write(data[:mid] + os.urandom(1000) + data[mid:])
with open(f"{src}/bin2", "r+b") as f:
    size = os.fstat(f.fileno()).st_size
    for _ in range(10):
        f.seek(rnd.randrange(size // 4096) * 4096); f.write(os.urandom(4096))
with open(f"{src}/app.log", "a") as f:
    f.write(("more log line\n" * 80000)[: 1 << 20])
PY
}

wire() { awk '{s+=$1+$2} END {print s+0}' "$W/wire" 2>/dev/null || echo 0; }
run() {  # run NAME CMD...: prints "NAME wall_s peak_rss_kib wire_bytes"
  local name=$1; shift
  : >"$W/wire"
  /usr/bin/time -f "%e %M" -o "$W/time" "$@" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; echo "$name failed" >&2; }
  sleep 0.3
  echo "$name $(tail -n 1 "$W/time") $(wire)"
}

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
    run serve-incr env SKIFF_TRANSPORT=serve "$SKIFF" backup "$W/src" skiff-restricted: -q "${SSHOPTS[@]}" -i "$KEY"
    echo
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

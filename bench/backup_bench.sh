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

tests/support/sshd-env start "$W/sshd" >/dev/null
. "$W/sshd/env"

# A counting TCP relay: each direction's bytes are appended to $W/wire when a
# connection ends.
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

echo "# generating the data set (scale $SCALE)" >&2
SRC="$W/src"
python3 - "$SRC" "$SCALE" <<'PY'
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

wire() { awk '{s+=$1+$2} END {print s+0}' "$W/wire" 2>/dev/null || echo 0; }
# run NAME CMD...: prints "NAME wall_s peak_rss_kib wire_bytes"
run() {
  local name=$1; shift
  : >"$W/wire"
  /usr/bin/time -f "%e %M" -o "$W/time" "$@" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; echo "$name failed" >&2; }
  sleep 0.3  # let the relay record the closed connections
  echo "$name $(tail -n 1 "$W/time") $(wire)"  # GNU time adds a line when the command was killed
}

ssh "${SSHOPTS[@]}" skiff-plain mkdir -p "$PLAIN_REMOTE_DIR/rs"
results=$(
  run skiff-full "$SKIFF" backup "$SRC" skiff-sftp:/data/repo -q "${SSHOPTS[@]}"
  run rsync-full rsync -a -e "$RSYNC_SSH" "$SRC/" "skiff-plain:$PLAIN_REMOTE_DIR/rs/s1/"

  python3 - "$SRC" >&2 <<'PY'
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

# Shared pieces of the backup benchmarks (bench/backup_bench.sh, bench/serve_bench.sh,
# bench/backup_rss.sh). Source it after setting W (work dir) and SCALE; it defines:
#   start_relay          a counting TCP relay in front of the loopback sshd ($SSHD_PORT,
#                        $KNOWN_HOSTS, $SSH_CONFIG from tests/support/sshd-env's env file);
#                        sets RELAY_PID, PPORT, SSHOPTS (array) and RSYNC_SSH
#   gen_source DIR       the issue 4 data set: ~5000 small files in 100 directories, two
#                        200 MiB binaries and a 70 MB text log (sizes times $SCALE)
#   day2 DIR             the day-2 change: 50 files rewritten, 100 only touched, 1000 bytes
#                        inserted mid-binary, ten 4 KiB pages rewritten, 1 MiB appended
#   wire                 bytes the relay counted (both directions) since `: >$W/wire`
#   run NAME CMD...      runs CMD under GNU time; prints "NAME wall_s peak_rss_kib wire_bytes"
# The caller's cleanup should `kill "$RELAY_PID"`.

start_relay() {
  # Each direction's bytes are appended to $W/wire when a connection ends.
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
  sleep 0.5
}

gen_source() {  # gen_source DIR
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

day2() {  # day2 DIR
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
  sleep 0.3  # let the relay record the closed connections
  echo "$name $(tail -n 1 "$W/time") $(wire)"  # GNU time adds a line when the command was killed
}

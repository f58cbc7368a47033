# Shared pieces of the backup benchmarks (bench/backup_bench.sh, bench/serve_bench.sh,
# bench/pull_bench.sh, bench/backup_rss.sh). Source it from the repository root after
# setting SCALE (and W, unless bench_start_sshd makes it); it defines:
#   bench_start_sshd PREFIX  W=/tmp/PREFIX-XXXXXX (mode 0755), a private sshd in $W/sshd
#                        (tests/support/sshd-env; its env file sourced) and an EXIT trap
#                        that stops the relay and sshd and removes $W
#   copy_skiff BIN       SKIFF=$W/skiff, a copy of BIN the test accounts can execute
#   restricted_key ROOT MODE   prints the path of a new skiff-restricted key whose
#                        authorized_keys line is `skiff authorize --root ROOT MODE`'s
#   print_results OURS PEER LABEL [PEER LABEL]...   the table of every run, the medians,
#                        and per step (full, incr, restore: those measured) and peer the
#                        ratios OURS-step / PEER-step (wall, wire, peak RSS) as "LABEL: ..."
#   start_relay          a counting TCP relay in front of the loopback sshd ($SSHD_PORT,
#                        $KNOWN_HOSTS, $SSH_CONFIG from tests/support/sshd-env's env file),
#                        TCP_NODELAY on both of its sockets so it adds no delay of its own;
#                        sets RELAY_PID, PPORT, SSHOPTS (array) and RSYNC_SSH
#   gen_source DIR       the issue 4 data set: ~5000 small files in 100 directories, two
#                        200 MiB binaries and a 70 MB text log (sizes times $SCALE)
#   day2 DIR             the day-2 change: 50 files rewritten, 100 only touched, 1000 bytes
#                        inserted mid-binary, ten 4 KiB pages rewritten, 1 MiB appended
#   wire                 bytes the relay counted (both directions) since `: >$W/wire`
#   run NAME CMD...      syncs and drops the page cache (untimed; BENCH_DROP_CACHES=0
#                        keeps it), then runs CMD under GNU time; prints
#                        "NAME wall_s peak_rss_kib wire_bytes"
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
    # The relay must add no delay of its own: without TCP_NODELAY, Nagle holds a small
    # reply on the relay's socket until the previous segment is acknowledged (8-40 ms
    # measured in session 5), a delay no direct connection has.
    for x in (c, t): x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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

bench_cleanup() {
  [ -n "${RELAY_PID:-}" ] && kill "$RELAY_PID" 2>/dev/null || true
  tests/support/sshd-env stop "$W/sshd" >/dev/null 2>&1 || true
  rm -rf "$W"
}

bench_start_sshd() {  # bench_start_sshd PREFIX
  W=$(mktemp -d "/tmp/$1-XXXXXX")
  chmod 755 "$W"
  RELAY_PID=""
  trap bench_cleanup EXIT
  tests/support/sshd-env start "$W/sshd" >/dev/null
  # shellcheck disable=SC1091
  . "$W/sshd/env"
}

copy_skiff() {  # copy_skiff BIN: the restricted account runs skiff, so a copy it can execute
  SKIFF="$W/skiff"
  cp "$1" "$SKIFF"
  chmod 755 "$SKIFF"
}

restricted_key() {  # restricted_key ROOT MODE
  local line
  line=$("$SKIFF" authorize --key "$W/sshd/keys/restricted.pub" --root "$1" "$2" --skiff "$SKIFF")
  tests/support/sshd-env add-key "$W/sshd" skiff-restricted "${line%%\" ssh-*}\"" | tail -n 1
}

print_results() {  # print_results OURS PEER LABEL [PEER LABEL]... < lines "NAME wall_s peak_rss_kib wire_bytes"
  local results
  results=$(cat)
  echo "step            wall_s  peak_rss_KiB  wire_bytes"
  echo "$results" | awk 'NF==4 {printf "%-15s %7s %13s %11s\n", $1, $2, $3, $4}'
  echo "$results" | awk 'NF==4' | python3 -c '
import sys, statistics
ours, pairs = sys.argv[1], sys.argv[2:]
rows = {}
for l in sys.stdin:
    n, w, r, b = l.split(); rows.setdefault(n, []).append((float(w), int(r), int(b)))
med = {n: [statistics.median(x[i] for x in v) for i in range(3)] for n, v in rows.items()}
print("medians over %d runs:" % len(next(iter(rows.values()))))
for n, (w, r, b) in sorted(med.items()):
    print("  %-15s wall %7.2f s  rss %8d KiB  wire %12d B" % (n, w, r, b))
for peer, label in zip(pairs[0::2], pairs[1::2]):
    for step in ("full", "incr", "restore"):
        s, p = med.get(ours + "-" + step), med.get(peer + "-" + step)
        if s and p and p[0] > 0 and p[1] > 0 and p[2] > 0:
            print("  %-8s %s: wall %.2fx  wire %.2fx  rss %.2fx" %
                  (step, label, s[0] / p[0], s[2] / p[2], s[1] / p[1]))
' "$@"
}

wire() { awk '{s+=$1+$2} END {print s+0}' "$W/wire" 2>/dev/null || echo 0; }

run() {  # run NAME CMD...: prints "NAME wall_s peak_rss_kib wire_bytes"
  local name=$1; shift
  # Start every timed step with no dirty pages left by the previous one: otherwise the
  # kernel's writeback of the last step's files (hundreds of MiB) lands in this step's
  # time, whichever tool it belongs to. Then, unless BENCH_DROP_CACHES=0, with an empty
  # page cache: on the VMs this was measured on, clean page cache is reclaimed behind
  # the bench's back (buff/cache stayed near 300 MiB with 22 GiB free), so a step found
  # its input cached or not depending on timing, and rsync's own incremental took either
  # ~0.9-1.1 s or ~2.1-2.5 s. Cold for both tools is the same start for both.
  sync
  if [ "${BENCH_DROP_CACHES:-1}" = 1 ]; then
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "# cannot drop caches (not root?)" >&2
  fi
  : >"$W/wire"
  /usr/bin/time -f "%e %M" -o "$W/time" "$@" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; echo "$name failed" >&2; }
  sleep 0.3  # let the relay record the closed connections
  echo "$name $(tail -n 1 "$W/time") $(wire)"  # GNU time adds a line when the command was killed
}

# shellcheck shell=bash
# Shared pieces of the mount benchmarks (bench/mount_bench.sh, bench/mount_list_bench.sh):
# a private sshd, a delaying proxy in front of it, mounting with skiff or sshfs, and the
# timing helpers. Source it from the repository root after setting SKIFF, PROXY and
# CIPHER; it defines:
#   mount_bench_setup PREFIX   WORK=/tmp/PREFIX-XXXXXX, a private sshd in $WORK/sshd
#                              (ENVDIR; its env file sourced: SSHD_PORT, SSH_CONFIG,
#                              PLAIN_REMOTE_DIR...), DATA=$PLAIN_LOCAL_DIR/bench, and an
#                              EXIT trap that unmounts $WORK/mnt-*, stops the proxy and
#                              sshd (by pid, via sshd-env) and removes $WORK
#   start_delay_proxy RTT_MS   skiff-faultproxy delaying each direction RTT_MS/2 in front
#                              of sshd, trusted by known_hosts; sets PROXY_PID, PROXY_PORT
#   stop_delay_proxy           stops it
#   mount_fs KIND PORT MNT     mounts $PLAIN_REMOTE_DIR/bench with skiff or sshfs on MNT
#   umount_fs MNT              unmounts and lets the daemon exit
#   make_tree DIR N            N small files (1..8 KiB, seeded) in 100 directories
#   median X...                the median, or "-" with no figures
#   ratio A B                  A / B as "N.NNx", or "-" when either is missing
#   elapsed CMD...             seconds taken by CMD (which must succeed)

mount_bench_cleanup() {
  local m
  for m in "$WORK"/mnt-*; do mountpoint -q "$m" 2>/dev/null && fusermount3 -u -z "$m"; done
  [[ -n ${PROXY_PID:-} ]] && kill "$PROXY_PID" 2>/dev/null || true
  tests/support/sshd-env stop "$ENVDIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}

mount_bench_setup() {  # mount_bench_setup PREFIX
  WORK=$(mktemp -d "/tmp/$1-XXXXXX")
  ENVDIR=$WORK/sshd
  PROXY_PID=
  trap mount_bench_cleanup EXIT
  tests/support/sshd-env start "$ENVDIR" >/dev/null
  # shellcheck disable=SC1091
  source "$ENVDIR/env"
  DATA=$PLAIN_LOCAL_DIR/bench
  mkdir -p "$DATA" && chmod 777 "$DATA"
}

start_delay_proxy() {  # start_delay_proxy RTT_MS
  "$PROXY" --listen 0 --to "127.0.0.1:$SSHD_PORT" --delay-ms $(($1 / 2)) >"$WORK/proxy.out" &
  PROXY_PID=$!
  for _ in $(seq 50); do [[ -s $WORK/proxy.out ]] && break; sleep 0.1; done
  PROXY_PORT=$(head -1 "$WORK/proxy.out")
  [[ -n $PROXY_PORT ]] || { echo "skiff-faultproxy printed no port within 5 s" >&2; exit 1; }
  tests/support/sshd-env trust-port "$ENVDIR" "$PROXY_PORT" >/dev/null
}

stop_delay_proxy() {
  kill "$PROXY_PID"
  wait "$PROXY_PID" 2>/dev/null || true
  PROXY_PID=
}

mount_fs() {  # mount_fs KIND PORT MNT: returns when mounted
  local kind=$1 port=$2 mnt=$3
  mkdir -p "$mnt"
  if [[ $kind == skiff ]]; then
    "$SKIFF" mount -F "$SSH_CONFIG" -p "$port" -o "Ciphers=$CIPHER" \
      "skiff-plain:$PLAIN_REMOTE_DIR/bench" "$mnt"
  else
    sshfs -F "$SSH_CONFIG" -p "$port" -o "Ciphers=$CIPHER" \
      "skiff-plain:$PLAIN_REMOTE_DIR/bench" "$mnt"
  fi
}

umount_fs() {  # umount_fs MNT
  fusermount3 -u "$1"
  sleep 0.3  # let the daemon exit before the next mount
}

make_tree() {  # make_tree DIR N
  python3 - "$1" "$2" <<'PY'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
random.seed(1)
for i in range(n):
    sub = os.path.join(d, "d%03d" % (i % 100))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%05d" % i), "wb") as f:
        f.write(os.urandom(random.randint(1024, 8192)))
PY
}

median() {
  python3 -c 'import sys,statistics; a=[float(x) for x in sys.argv[1:]]; print("%.3f" % statistics.median(a) if a else "-")' "$@"
}
ratio() { python3 -c 'import sys; a,b=sys.argv[1:]; print("-" if "-" in (a,b) else "%.2fx" % (float(a)/max(float(b),1e-9)))' "$1" "$2"; }
now() { date +%s.%N; }
elapsed() { local t0; t0=$(now); "$@"; python3 -c "print($(now) - $t0)"; }

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
#   mount_fs KIND PORT MNT     mounts $PLAIN_REMOTE_DIR/bench with skiff (plus -o $SKIFF_OPTS
#                              when set) or sshfs on MNT
#   umount_fs MNT              unmounts and lets the daemon exit
#   make_tree DIR N            N small files (1..8 KiB, seeded) in 100 directories
#   fresh_server_fs DIR        mounts a new, empty ext4 (on a loop device over a file in
#                              /dev/shm, FRESH_FS_MB MiB, default 512) on DIR, writable by
#                              all; the EXIT trap unmounts it
#   drop_server_fs DIR         unmounts it and frees its memory
#   spread X...                "min .. max" of the figures, or "-"
#   mount_pids MNT             the FUSE daemon serving MNT and its children, and sshfs's ssh
#   server_pids                the server-side processes of this sshd (sessions, sftp-server)
#   cpu_ticks PID...           their summed user+system CPU in clock ticks (exited: 0)
#   median X...                the median, or "-" with no figures
#   ratio A B                  A / B as "N.NNx", or "-" when either is missing
#   elapsed CMD...             seconds taken by CMD (which must succeed)

mount_bench_cleanup() {
  local m
  for m in "$WORK"/mnt-*; do mountpoint -q "$m" 2>/dev/null && fusermount3 -u -z "$m"; done
  [[ -n ${PROXY_PID:-} ]] && kill "$PROXY_PID" 2>/dev/null || true
  for m in "${FRESH_FS[@]}"; do drop_server_fs "$m"; done
  tests/support/sshd-env stop "$ENVDIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}

mount_bench_setup() {  # mount_bench_setup PREFIX
  WORK=$(mktemp -d "/tmp/$1-XXXXXX")
  FRESH_FS=()
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
    "$SKIFF" mount -F "$SSH_CONFIG" -p "$port" -o "Ciphers=$CIPHER" ${SKIFF_OPTS:+-o "$SKIFF_OPTS"} \
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

# A timed untar onto the server's own filesystem (/tmp, the machine's disk) varied 2x
# from run to run for both tools: ext4's state after the previous run's rm -rf (file
# creation slows after mass deletions), that tree's writeback and other processes' disk
# traffic land in the next run. A new ext4 in memory for each run starts every run from
# the same state and keeps the disk out of it, for both tools alike.
fresh_server_fs() {  # fresh_server_fs DIR
  local dir=$1 img
  img=$(mktemp "/dev/shm/skiff-bench-fs-XXXXXX")
  truncate -s "${FRESH_FS_MB:-512}M" "$img"
  # No lazy inode-table or journal initialisation: that would write in the background
  # during the timed run.
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$img"
  mkdir -p "$dir"
  mount -o loop "$img" "$dir"
  rm -f "$img"  # the loop device keeps it until the unmount
  chmod 1777 "$dir"
  FRESH_FS+=("$dir")
}

drop_server_fs() {  # drop_server_fs DIR
  local i
  if mountpoint -q "$1" 2>/dev/null; then
    # The server's sftp-server may take a moment to exit after the FUSE unmount.
    for i in $(seq 20); do umount "$1" 2>/dev/null && break; sleep 0.25; done
    mountpoint -q "$1" && umount -l "$1"
  fi
  for i in "${!FRESH_FS[@]}"; do [[ ${FRESH_FS[$i]} == "$1" ]] && unset "FRESH_FS[$i]"; done
  return 0
}

mount_pids() {  # mount_pids MNT
  local d
  d=$(pgrep -n -f -- " $1\$") || return 0
  # sshfs starts its ssh before it daemonizes: the ssh is then no child of the daemon
  # (its parent exited; it belongs to init), so it is found by its command line, which
  # names this bench's ssh_config. Until session 5 it was missed, and sshfs's client
  # CPU counted without its ssh (the encryption).
  echo "$d" $(pgrep -P "$d") $(pgrep -f -- "^ssh .*-F$SSH_CONFIG .*sftp\$")
}
server_pids() {  # descendants of this bench's sshd (not other benches' sessions)
  local todo=("$SSHD_PID") p c
  while ((${#todo[@]})); do
    p=${todo[0]}
    todo=("${todo[@]:1}")
    for c in $(pgrep -P "$p"); do
      echo "$c"
      todo+=("$c")
    done
  done
}
cpu_ticks() {
  local t=0 p
  for p in "$@"; do
    # Fields 14 and 15 of /proc/PID/stat (after the parenthesised name): utime, stime.
    [[ -r /proc/$p/stat ]] && t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$t"
}
# shellcheck disable=SC2034  # used by the benches
TICKS=$(getconf CLK_TCK)

spread() {
  python3 -c 'import sys; a=[float(x) for x in sys.argv[1:]]; print("%.3f .. %.3f" % (min(a), max(a)) if a else "-")' "$@"
}

median() {
  python3 -c 'import sys,statistics; a=[float(x) for x in sys.argv[1:]]; print("%.3f" % statistics.median(a) if a else "-")' "$@"
}
ratio() { python3 -c 'import sys; a,b=sys.argv[1:]; print("-" if "-" in (a,b) else "%.2fx" % (float(a)/max(float(b),1e-9)))' "$1" "$2"; }
now() { date +%s.%N; }
elapsed() { local t0; t0=$(now); "$@"; python3 -c "print($(now) - $t0)"; }

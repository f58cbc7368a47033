#!/usr/bin/env bash
# mount_list_bench.sh: the listing side of `skiff mount` vs sshfs on a tree too large to
# untar through sshfs at high latency in reasonable time. The tree (FILES small files of
# 1..8 KiB in 100 directories) is written straight into the server's directory, then
# each run mounts afresh (cold caches) and times `find -ls` cold, `find -ls` warm and
# reading every file (`find -type f | xargs cat`). Prints the median of REPS runs of
# each, and the ratio (sshfs time / skiff time; > 1 = skiff is faster).
#
#   bench/mount_list_bench.sh [BUILD_DIR]      (default: build)
#
# Environment: REPS (3), FILES (5000), RTT (20; through skiff-faultproxy, 0 = direct),
# READ_ALL (1; 0 skips the read-all workload, which waits 2 round trips per file),
# CIPHER (aes128-gcm@openssh.com). Needs root (private sshd, FUSE); everything it
# starts it stops by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SKIFF=$PWD/$BUILD/cli/skiff
PROXY=$PWD/$BUILD/tests/support/skiff-faultproxy
REPS=${REPS:-3}
FILES=${FILES:-5000}
RTT=${RTT:-20}
READ_ALL=${READ_ALL:-1}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
[[ -x $SKIFF && -x $PROXY ]] || { echo "build skiff and skiff-faultproxy in $BUILD first" >&2; exit 2; }
command -v sshfs >/dev/null || { echo "sshfs is not installed" >&2; exit 2; }

WORK=$(mktemp -d /tmp/skiff-listbench-XXXXXX)
ENVDIR=$WORK/sshd
PROXY_PID=
cleanup() {
  for m in "$WORK"/mnt-*; do mountpoint -q "$m" 2>/dev/null && fusermount3 -u -z "$m"; done
  [[ -n $PROXY_PID ]] && kill "$PROXY_PID" 2>/dev/null || true
  tests/support/sshd-env stop "$ENVDIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
tests/support/sshd-env start "$ENVDIR" >/dev/null
# shellcheck disable=SC1091
source "$ENVDIR/env"
DATA=$PLAIN_LOCAL_DIR/bench
mkdir -p "$DATA" && chmod 777 "$DATA"
python3 - "$DATA/tree" "$FILES" <<'PY'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
random.seed(1)
for i in range(n):
    sub = os.path.join(d, "d%03d" % (i % 100))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%05d" % i), "wb") as f:
        f.write(os.urandom(random.randint(1024, 8192)))
PY
port=$SSHD_PORT
if [[ $RTT != 0 ]]; then
  "$PROXY" --listen 0 --to "127.0.0.1:$SSHD_PORT" --delay-ms $((RTT / 2)) > "$WORK/proxy.out" &
  PROXY_PID=$!
  for _ in $(seq 50); do [[ -s $WORK/proxy.out ]] && break; sleep 0.1; done
  port=$(head -1 "$WORK/proxy.out")
  tests/support/sshd-env trust-port "$ENVDIR" "$port" >/dev/null
fi

median() { python3 -c 'import sys,statistics; print("%.3f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
now() { date +%s.%N; }
elapsed() { local t0; t0=$(now); "$@"; python3 -c "print($(now) - $t0)"; }

declare -A RESULT
for kind in skiff sshfs; do
  declare -a t_cold=() t_warm=() t_all=()
  mnt=$WORK/mnt-$kind
  mkdir -p "$mnt"
  for rep in $(seq "$REPS"); do
    if [[ $kind == skiff ]]; then
      "$SKIFF" mount -F "$SSH_CONFIG" -p "$port" -o "Ciphers=$CIPHER" "skiff-plain:$PLAIN_REMOTE_DIR/bench" "$mnt"
    else
      sshfs -F "$SSH_CONFIG" -p "$port" -o "Ciphers=$CIPHER" "skiff-plain:$PLAIN_REMOTE_DIR/bench" "$mnt"
    fi
    t_cold+=("$(elapsed sh -c "find '$mnt/tree' -ls > /dev/null")")
    t_warm+=("$(elapsed sh -c "find '$mnt/tree' -ls > /dev/null")")
    if [[ $READ_ALL == 1 ]]; then
      t_all+=("$(elapsed sh -c "find '$mnt/tree' -type f -print0 | xargs -0 cat > /dev/null")")
    fi
    fusermount3 -u "$mnt"
    sleep 0.3  # let the daemon exit before the next mount
  done
  RESULT[$kind,cold]=$(median "${t_cold[@]}")
  RESULT[$kind,warm]=$(median "${t_warm[@]}")
  [[ $READ_ALL == 1 ]] && RESULT[$kind,all]=$(median "${t_all[@]}")
done

printf '\n== RTT %s ms (%s files in 100 dirs, %s runs, cipher %s) ==\n' "$RTT" "$FILES" "$REPS" "$CIPHER"
printf '%-22s %10s %10s %8s\n' workload "skiff s" "sshfs s" "ratio"
for w in cold warm all; do
  [[ -n ${RESULT[skiff,$w]:-} ]] || continue
  case $w in
    cold) label="find -ls cold";; warm) label="find -ls warm";; all) label="read all files";;
  esac
  printf '%-22s %10s %10s %7.2fx\n' "$label" "${RESULT[skiff,$w]}" "${RESULT[sshfs,$w]}" \
    "$(python3 -c "print(${RESULT[sshfs,$w]} / max(${RESULT[skiff,$w]}, 1e-9))")"
done

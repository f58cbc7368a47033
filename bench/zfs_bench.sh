#!/usr/bin/env bash
# zfs_bench.sh: stream throughput of `skiff zfs send` (stream stored as files over SFTP)
# vs `zfs send ... | ssh host 'cat > file'`, on the same private loopback sshd, the same
# account (skiff-plain: the SFTP-only account cannot run cat) and the same cipher.
# Also `zfs send > /dev/null` (what the source can produce at all) and skiff to the
# chrooted SFTP-only account. Prints medians of REPS runs and ratio skiff/peer
# (throughput; >= 0.9 is the issue's target).
#
#   bench/zfs_bench.sh [BUILD_DIR]      (default: build)
#
# Environment: REPS (3), DATA_MB (512), CIPHER (aes128-gcm@openssh.com).
# Needs root and zfs-fuse. Starts its own zfs-fuse daemon (foreground, stopped by its
# pid) and refuses to run if another zfs-fuse is running (the socket path is fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SKIFF=$PWD/$BUILD/cli/skiff
REPS=${REPS:-3}
DATA_MB=${DATA_MB:-512}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
[[ -x $SKIFF ]] || { echo "build skiff in $BUILD first" >&2; exit 2; }
[[ -x /usr/sbin/zfs-fuse ]] || { echo "zfs-fuse is not installed (apt-get install zfs-fuse)" >&2; exit 2; }
if pgrep -x zfs-fuse >/dev/null; then
  echo "a zfs-fuse daemon this script did not start is running; not sharing it" >&2
  exit 2
fi

WORK=$(mktemp -d /tmp/skiff-zfsbench-XXXXXX)
ENVDIR=$WORK/sshd
POOL=skiffbench-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
ZPID=
cleanup() {
  zpool destroy -f "$POOL" >/dev/null 2>&1 || true
  if [[ -n $ZPID ]]; then
    kill "$ZPID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$ZPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$ZPID" 2>/dev/null || true
  fi
  tests/support/sshd-env stop "$ENVDIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

/usr/sbin/zfs-fuse --no-daemon --no-kstat-mount >"$WORK/zfs-fuse.log" 2>&1 &
ZPID=$!
for _ in $(seq 200); do [[ -S /var/run/zfs/zfs_socket ]] && zpool list >/dev/null 2>&1 && break; sleep 0.1; done
truncate -s $((DATA_MB * 2 + 256))M "$WORK/vdev"
zpool create -m "$WORK/mnt" "$POOL" "$WORK/vdev" 2>/dev/null
zfs create "$POOL/data"
head -c $((DATA_MB << 20)) /dev/urandom >"$WORK/mnt/data/blob"
zfs snapshot "$POOL/data@bench"

tests/support/sshd-env start "$ENVDIR" >/dev/null
# shellcheck disable=SC1091
source "$ENVDIR/env"
OUT=$PLAIN_LOCAL_DIR/zfsbench
mkdir -p "$OUT" && chmod 777 "$OUT"
BYTES=$(zfs send "$POOL/data@bench" | wc -c)

median() { python3 -c 'import sys,statistics; print("%.3f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
now() { date +%s.%N; }
elapsed() { local t0; t0=$(now); "$@" >/dev/null; python3 -c "print($(now) - $t0)"; }
mbps() { python3 -c "print('%.1f' % ($BYTES / 1048576 / $1))"; }

run_devnull() { zfs send "$POOL/data@bench" >/dev/null; }
run_ssh() {
  rm -f "$OUT/peer.zfs"
  zfs send "$POOL/data@bench" |
    ssh -F "$SSH_CONFIG" -c "$CIPHER" skiff-plain "cat > $PLAIN_REMOTE_DIR/zfsbench/peer.zfs"
}
run_skiff() {
  rm -rf "$OUT/store"
  "$SKIFF" zfs send -q -F "$SSH_CONFIG" -o "Ciphers=$CIPHER" "$POOL/data" \
    "skiff-plain:$PLAIN_REMOTE_DIR/zfsbench/store"
}
run_skiff_sftp() {
  rm -rf "$SFTP_LOCAL_DIR/store"
  "$SKIFF" zfs send -q -F "$SSH_CONFIG" -o "Ciphers=$CIPHER" "$POOL/data" \
    "skiff-sftp:$SFTP_REMOTE_DIR/store"
}

declare -A T
for kind in devnull ssh skiff skiff_sftp; do
  ts=()
  for _ in $(seq "$REPS"); do ts+=("$(elapsed "run_$kind")"); done
  T[$kind]=$(median "${ts[@]}")
  echo "  $kind: ${ts[*]}" >&2
done
# The stored stream is byte-identical to what ssh cat stored.
cmp -s "$OUT/peer.zfs" "$OUT"/store/streams/*.zfs || { echo "stored streams differ" >&2; exit 1; }

echo "zfs stream: $((BYTES >> 20)) MiB, cipher $CIPHER, medians of $REPS"
printf '%-44s %8s s %8s MiB/s\n' "zfs send > /dev/null (source ceiling)" "${T[devnull]}" "$(mbps "${T[devnull]}")"
printf '%-44s %8s s %8s MiB/s\n' "zfs send | ssh skiff-plain 'cat > file'" "${T[ssh]}" "$(mbps "${T[ssh]}")"
printf '%-44s %8s s %8s MiB/s\n' "skiff zfs send skiff-plain:DIR" "${T[skiff]}" "$(mbps "${T[skiff]}")"
printf '%-44s %8s s %8s MiB/s\n' "skiff zfs send skiff-sftp:/data (chroot)" "${T[skiff_sftp]}" "$(mbps "${T[skiff_sftp]}")"
python3 -c "print('ratio skiff/ssh-cat throughput: %.2f (target >= 0.9)' % (${T[ssh]} / ${T[skiff]}))"

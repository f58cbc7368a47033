#!/usr/bin/env bash
# zfs_bench.sh: stream throughput of `skiff zfs send` (stream stored as files over SFTP)
# vs `zfs send ... | ssh host 'cat > file'`, on the same private loopback sshd, the same
# account (skiff-plain: the SFTP-only account cannot run cat) and the same cipher.
# Also `zfs send > /dev/null` (what the source can produce at all) and skiff to the
# chrooted SFTP-only account. Then the receive path: `skiff zfs send` to a key whose
# forced command is `skiff serve --zfs-receive POOL/recv` vs `zfs send | ssh host zfs
# receive` (same account skiff-restricted, same cipher; a second key without a forced
# command for the peer). Prints medians of REPS runs and the ratios skiff/peer
# (throughput; >= 0.9 is the issue's target).
#
#   bench/zfs_bench.sh [BUILD_DIR]      (default: build)
#
# Environment: REPS (3), DATA_MB (512), CIPHER (aes128-gcm@openssh.com), KINDS (the rows
# to run: devnull ssh skiff skiff_sftp ssh_recv skiff_recv).
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
# Room for the source and, per rep, one received copy for each of the two receive rows.
truncate -s $((DATA_MB * (2 + 4 * REPS) + 256))M "$WORK/vdev"
zpool create -m "$WORK/mnt" "$POOL" "$WORK/vdev" 2>/dev/null
zfs create "$POOL/data"
head -c $((DATA_MB << 20)) /dev/urandom >"$WORK/mnt/data/blob"
zfs snapshot "$POOL/data@bench"

tests/support/sshd-env start "$ENVDIR" >/dev/null
# shellcheck disable=SC1091
source "$ENVDIR/env"
# The receive rows run as skiff-restricted: it must reach this script's zfs-fuse socket
# (zfs-fuse checks nothing else), run skiff, and own the prefix's mount point.
zfs create "$POOL/recv"
chmod 755 /var/run/zfs "$WORK"
chmod 666 /var/run/zfs/zfs_socket
chown skiff-restricted "$WORK/mnt/recv"
mkdir -p "$WORK/bin" && cp "$SKIFF" "$WORK/bin/skiff" && chmod 755 "$WORK/bin" "$WORK/bin/skiff"
SERVE_KEY=$(tests/support/sshd-env add-key "$ENVDIR" skiff-restricted \
  "restrict,command=\"$WORK/bin/skiff serve --zfs-receive $POOL/recv\"")
PEER_KEY=$(tests/support/sshd-env add-key "$ENVDIR" skiff-restricted "restrict")
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
# Each rep receives into a new dataset (destroying a just-received, mounted one right
# away is refused as busy by zfs-fuse).
REP=0
run_ssh_recv() {
  zfs send "$POOL/data@bench" |
    ssh -F "$SSH_CONFIG" -i "$PEER_KEY" -c "$CIPHER" skiff-restricted \
      "/usr/sbin/zfs receive $POOL/recv/peer$REP"
}
run_skiff_recv() {
  "$SKIFF" zfs send -q -F "$SSH_CONFIG" -i "$SERVE_KEY" -o "Ciphers=$CIPHER" "$POOL/data" \
    "skiff-restricted:skiff$REP"
}

declare -A T TS
KINDS=${KINDS:-devnull ssh skiff skiff_sftp ssh_recv skiff_recv}
# Reps interleaved (each rep runs every kind once) so that a load change on the shared
# machine hits all kinds alike rather than the kinds measured during it.
for REP in $(seq "$REPS"); do
  for kind in $KINDS; do
    if [[ -n ${CPU:-} ]]; then
      /usr/bin/time -f "  $kind cpu: %U user %S sys %e wall" bash -c "$(declare -f "run_$kind"); $(declare -p POOL CIPHER SSH_CONFIG SKIFF OUT PLAIN_REMOTE_DIR SFTP_LOCAL_DIR SFTP_REMOTE_DIR PEER_KEY SERVE_KEY REP); REP=cpu$REP; run_$kind" >/dev/null
    fi
    TS[$kind]+="$(elapsed "run_$kind") "
  done
done
for kind in $KINDS; do
  # shellcheck disable=SC2086
  T[$kind]=$(median ${TS[$kind]})
  echo "  $kind: ${TS[$kind]}" >&2
done
# The stored stream is byte-identical to what ssh cat stored; the received snapshots
# are the source's (same guid).
if [[ -n ${T[ssh]:-} && -n ${T[skiff]:-} ]]; then
  cmp -s "$OUT/peer.zfs" "$OUT"/store/streams/*.zfs || { echo "stored streams differ" >&2; exit 1; }
fi
guid() { zfs get -H -p -o value guid "$1"; }
if [[ -n ${T[skiff_recv]:-} ]] && [[ $(guid "$POOL/recv/skiff$REPS@bench") != $(guid "$POOL/data@bench") ]]; then
  echo "received snapshot differs" >&2
  exit 1
fi
row() { [[ -n ${T[$2]:-} ]] && printf '%-48s %8s s %8s MiB/s\n' "$1" "${T[$2]}" "$(mbps "${T[$2]}")"; return 0; }
ratio() { [[ -n ${T[$2]:-} && -n ${T[$3]:-} ]] && python3 -c "print('ratio $1 throughput: %.2f (target >= 0.9)' % (${T[$3]} / ${T[$2]}))"; return 0; }

echo "zfs stream: $((BYTES >> 20)) MiB, cipher $CIPHER, medians of $REPS"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
row "zfs send > /dev/null (source ceiling)" devnull
row "zfs send | ssh skiff-plain 'cat > file'" ssh
row "skiff zfs send skiff-plain:DIR (stream files)" skiff
row "skiff zfs send skiff-sftp:/data (chroot)" skiff_sftp
row "zfs send | ssh skiff-restricted zfs receive" ssh_recv
row "skiff zfs send to serve --zfs-receive" skiff_recv
ratio "skiff/ssh-cat (stream files)" skiff ssh
ratio "skiff-serve/ssh-zfs-receive" skiff_recv ssh_recv

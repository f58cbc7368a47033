#!/usr/bin/env bash
# bench/link_compression.sh: what SSH compression (zlib, ssh -C) does to the bench incremental's
# hard-link requests: 4852 hardlink@openssh.com requests with the bench's paths (OpenSSH sftp -b
# `ln`, one at a time) over the bench relay, Compression=no and yes, 3 runs each; prints links
# made, wire bytes (both directions), wall/user/sys of the sftp client and the load.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=1
. bench/lib.sh
bench_start_sshd skiff-link-compression
start_relay
python3 - "$SFTP_LOCAL_DIR" <<'PY'
import os, sys
base = sys.argv[1] + "/repo/snapshots"
for d in range(100):
    os.makedirs(f"{base}/2026-11-22T110501Z/src/small/d{d:03}", exist_ok=True)
    for i in range(50):
        open(f"{base}/2026-11-22T110501Z/src/small/d{d:03}/f{i:03}.txt", "w").close()
PY
chown -R skiff-sftp: "$SFTP_LOCAL_DIR/repo" 2>/dev/null || chmod -R a+rwX "$SFTP_LOCAL_DIR/repo"
{ echo "-mkdir /data/repo/snapshots/.incomplete"; echo "-mkdir /data/repo/snapshots/.incomplete/src"; echo "-mkdir /data/repo/snapshots/.incomplete/src/small"
  for d in $(seq -f %03g 0 99); do echo "-mkdir /data/repo/snapshots/.incomplete/src/small/d$d"; done
  n=0; for d in $(seq -f %03g 0 99); do for i in $(seq -f %03g 0 49); do n=$((n+1)); [ $n -le 4852 ] || break 2
    echo "ln /data/repo/snapshots/2026-11-22T110501Z/src/small/d$d/f$i.txt /data/repo/snapshots/.incomplete/src/small/d$d/f$i.txt"; done; done; } > "$W/batch"
SFTPOPTS=("${SSHOPTS[@]}"); for k in "${!SFTPOPTS[@]}"; do [ "${SFTPOPTS[$k]}" = -p ] && SFTPOPTS[$k]=-P; done
for rep in 1 2 3; do for c in no yes; do
  rm -rf "$SFTP_LOCAL_DIR/repo/snapshots/.incomplete"; sync; : > "$W/wire"
  /usr/bin/time -f "%e %U %S" -o "$W/ct" sftp -q "${SFTPOPTS[@]}" -o Compression=$c -b "$W/batch" skiff-sftp >/dev/null 2>"$W/err" || { tail -3 "$W/err"; }
  sleep 0.5  # the relay records a connection's bytes when it closes
  links=$(find "$SFTP_LOCAL_DIR/repo/snapshots/.incomplete" -type f | wc -l)
  echo "rep $rep compression=$c links $links wire $(wire) wall_user_sys $(cat $W/ct) load $(cut -d' ' -f1 /proc/loadavg)"
done; done

#!/usr/bin/env bash
# mount_bench.sh: `skiff mount` vs sshfs on the same private sshd, the same cipher, at
# 0 ms and at 20 ms round trip (through skiff-faultproxy). Prints, per workload, the
# median seconds of each and the speed ratio (sshfs time / skiff time; > 1 = skiff is
# faster), and `sftp get` at 20 ms as the ceiling for a single stream.
#
#   bench/mount_bench.sh [BUILD_DIR]      (default: build)
#
# Environment: REPS (default 3), SEQ_MB_0 (1024), SEQ_MB_20 (64), FILES_0 (5000),
# FILES_20 (500), CIPHER (aes128-gcm@openssh.com), RTTS ("0 20"), KINDS ("skiff sshfs"),
# WORKLOADS ("read write untar find": find = cold and warm find -ls and reading all files;
# find needs untar), SKIFF_OPTS (extra -o options for skiff, e.g. write_channels=1).
# A workload or kind left out prints "-".
# Needs root (private sshd, FUSE). Everything it starts it stops by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$PWD/$BUILD
SKIFF=$BUILD/cli/skiff
PROXY=$BUILD/tests/support/skiff-faultproxy
REPS=${REPS:-3}
SEQ_MB_0=${SEQ_MB_0:-1024}
SEQ_MB_20=${SEQ_MB_20:-64}
FILES_0=${FILES_0:-5000}
FILES_20=${FILES_20:-500}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
RTTS=${RTTS:-"0 20"}
KINDS=${KINDS:-"skiff sshfs"}
WORKLOADS=${WORKLOADS:-"read write untar find"}
want() { [[ " $WORKLOADS " == *" $1 "* ]]; }
[[ -x $SKIFF && -x $PROXY ]] || { echo "build skiff and skiff-faultproxy in $BUILD first" >&2; exit 2; }
command -v sshfs >/dev/null || { echo "sshfs is not installed" >&2; exit 2; }

# shellcheck source=bench/mount_lib.sh
source bench/mount_lib.sh
mount_bench_setup skiff-bench

declare -A RESULT
run_case() {  # run_case RTT_MS PORT
  local rtt=$1 port=$2 seq_mb files
  if [[ $rtt == 0 ]]; then seq_mb=$SEQ_MB_0; files=$FILES_0; else seq_mb=$SEQ_MB_20; files=$FILES_20; fi
  if want read; then head -c $((seq_mb << 20)) /dev/urandom > "$DATA/seq-$rtt"; fi
  if want untar; then
    rm -rf "$WORK/tree" && mkdir -p "$WORK/tree" && make_tree "$WORK/tree" "$files"
    tar -C "$WORK/tree" -cf "$WORK/tree-$rtt.tar" .
  fi
  for kind in $KINDS; do
    declare -a t_read=() t_write=() t_untar=() t_cold=() t_warm=() t_all=()
    for rep in $(seq "$REPS"); do
      local mnt=$WORK/mnt-$kind
      mount_fs "$kind" "$port" "$mnt"
      if want read; then
        t_read+=("$(elapsed dd if="$mnt/seq-$rtt" of=/dev/null bs=1M status=none)")
      fi
      if want write; then
        t_write+=("$(elapsed dd if=/dev/zero of="$mnt/w-$kind" bs=1M count="$seq_mb" conv=fsync status=none)")
      fi
      if want untar; then
        mkdir "$mnt/untar-$kind-$rep"
        t_untar+=("$(elapsed tar -C "$mnt/untar-$kind-$rep" --no-same-owner -xf "$WORK/tree-$rtt.tar")")
      fi
      umount_fs "$mnt"
      if want find && want untar; then
        mount_fs "$kind" "$port" "$mnt"  # cold caches
        t_cold+=("$(elapsed sh -c "find '$mnt/untar-$kind-$rep' -ls > /dev/null")")
        t_warm+=("$(elapsed sh -c "find '$mnt/untar-$kind-$rep' -ls > /dev/null")")
        t_all+=("$(elapsed sh -c "find '$mnt/untar-$kind-$rep' -type f -print0 | xargs -0 cat > /dev/null")")
        umount_fs "$mnt"
      fi
      rm -rf "$DATA/untar-$kind-$rep" "$DATA/w-$kind"
    done
    RESULT[$rtt,$kind,read]=$(median "${t_read[@]}")
    RESULT[$rtt,$kind,write]=$(median "${t_write[@]}")
    RESULT[$rtt,$kind,untar]=$(median "${t_untar[@]}")
    RESULT[$rtt,$kind,cold]=$(median "${t_cold[@]}")
    RESULT[$rtt,$kind,warm]=$(median "${t_warm[@]}")
    RESULT[$rtt,$kind,all]=$(median "${t_all[@]}")
  done
  if [[ $rtt != 0 ]] && want read; then
    local t=()
    for rep in $(seq "$REPS"); do
      t+=("$(elapsed sh -c "sftp -q -F '$SSH_CONFIG' -P $port -o Ciphers=$CIPHER \
        'skiff-plain:$PLAIN_REMOTE_DIR/bench/seq-$rtt' '$WORK/sftp-get' > /dev/null")")
    done
    RESULT[$rtt,sftp,read]=$(median "${t[@]}")
  fi
  printf '\n== RTT %s ms (sequential %s MiB, %s files in 100 dirs, %s runs, cipher %s) ==\n' \
    "$rtt" "$seq_mb" "$files" "$REPS" "$CIPHER"
  printf '%-22s %10s %10s %8s\n' workload "skiff s" "sshfs s" "ratio"
  local w label
  for w in read write untar cold warm all; do
    case $w in
      read) label="sequential read";; write) label="sequential write";; untar) label="untar";;
      cold) label="find -ls cold";; warm) label="find -ls warm";; all) label="read all files";;
    esac
    printf '%-22s %10s %10s %8s\n' "$label" "${RESULT[$rtt,skiff,$w]:--}" "${RESULT[$rtt,sshfs,$w]:--}" \
      "$(ratio "${RESULT[$rtt,sshfs,$w]:--}" "${RESULT[$rtt,skiff,$w]:--}")"
  done
  if [[ -n ${RESULT[$rtt,sftp,read]:-} ]]; then
    printf '%-22s %10s %10s %8s  (sftp get time / skiff read time)\n' "sftp get (ceiling)" \
      "${RESULT[$rtt,skiff,read]:--}" "${RESULT[$rtt,sftp,read]}" \
      "$(ratio "${RESULT[$rtt,sftp,read]}" "${RESULT[$rtt,skiff,read]:--}")"
  fi
}

for rtt in $RTTS; do
  if [[ $rtt == 0 ]]; then
    run_case 0 "$SSHD_PORT"
  else
    start_delay_proxy "$rtt"
    run_case "$rtt" "$PROXY_PORT"
    stop_delay_proxy
  fi
done

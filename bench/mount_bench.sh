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
# find needs untar), SKIFF_OPTS (extra -o options for skiff, e.g. write_channels=1),
# SERVER_FS (fresh: each untar run writes into a new, empty ext4 in memory on the
# server side, see fresh_server_fs in bench/mount_lib.sh; dir: into a directory on
# /tmp's filesystem, removed after the run, as before), FRESH_FS_MB (512), BENCH_NICE
# (-10: the whole bench, so sshd, sftp-server, both FUSE daemons and tar, runs at that
# priority; on a machine busy with builds each waited round trip otherwise waits for a
# CPU several times, and the tool with more waits per file loses more; 0 = unchanged).
# Every timed step starts after a sync. "untar CPU s" is the CPU time (user + system)
# the untar cost the client (FUSE daemon; sshfs: with its ssh) and the server (sshd
# session and sftp-server): less noisy than wall time on a busy machine; lower is
# better, its ratio is sshfs / skiff too. Below the table, the runs' min .. max.
# A workload or kind left out prints "-".
# Needs root (private sshd, FUSE). Everything it starts it stops by pid on exit.
set -euo pipefail
if [[ ${BENCH_NICE:=-10} != 0 && -z ${SKIFF_BENCH_NICED:-} ]]; then
  export SKIFF_BENCH_NICED=1
  exec nice -n "$BENCH_NICE" "$0" "$@"
fi
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
SERVER_FS=${SERVER_FS:-fresh}
[[ $SERVER_FS == fresh || $SERVER_FS == dir ]] || { echo "SERVER_FS is fresh or dir" >&2; exit 2; }
want() { [[ " $WORKLOADS " == *" $1 "* ]]; }
[[ -x $SKIFF && -x $PROXY ]] || { echo "build skiff and skiff-faultproxy in $BUILD first" >&2; exit 2; }
command -v sshfs >/dev/null || { echo "sshfs is not installed" >&2; exit 2; }

# shellcheck source=bench/mount_lib.sh
source bench/mount_lib.sh
mount_bench_setup skiff-bench

declare -A RESULT RUNS
run_case() {  # run_case RTT_MS PORT
  local rtt=$1 port=$2 seq_mb files
  if [[ $rtt == 0 ]]; then seq_mb=$SEQ_MB_0; files=$FILES_0; else seq_mb=$SEQ_MB_20; files=$FILES_20; fi
  if want read; then head -c $((seq_mb << 20)) /dev/urandom > "$DATA/seq-$rtt"; fi
  if want untar; then
    rm -rf "$WORK/tree" && mkdir -p "$WORK/tree" && make_tree "$WORK/tree" "$files"
    tar -C "$WORK/tree" -cf "$WORK/tree-$rtt.tar" .
  fi
  for kind in $KINDS; do
    declare -a t_read=() t_write=() t_untar=() c_untar=() t_cold=() t_warm=() t_all=()
    for rep in $(seq "$REPS"); do
      local mnt=$WORK/mnt-$kind ut=untar-$kind-$rep
      if want untar && [[ $SERVER_FS == fresh ]]; then
        fresh_server_fs "$DATA/fresh"
        ut=fresh/$ut
      fi
      mount_fs "$kind" "$port" "$mnt"
      if want read; then
        sync
        t_read+=("$(elapsed dd if="$mnt/seq-$rtt" of=/dev/null bs=1M status=none)")
      fi
      if want write; then
        sync
        t_write+=("$(elapsed dd if=/dev/zero of="$mnt/w-$kind" bs=1M count="$seq_mb" conv=fsync status=none)")
      fi
      if want untar; then
        mkdir "$mnt/$ut"
        sync
        local pids c0 c1
        read -ra pids <<< "$(mount_pids "$mnt") $(server_pids | tr '\n' ' ')"
        c0=$(cpu_ticks "${pids[@]}")
        t_untar+=("$(elapsed tar -C "$mnt/$ut" --no-same-owner -xf "$WORK/tree-$rtt.tar")")
        c1=$(cpu_ticks "${pids[@]}")
        c_untar+=("$(python3 -c "print(($c1 - $c0) / $TICKS)")")
      fi
      umount_fs "$mnt"
      if want find && want untar; then
        mount_fs "$kind" "$port" "$mnt"  # cold caches
        t_cold+=("$(elapsed sh -c "find '$mnt/$ut' -ls > /dev/null")")
        t_warm+=("$(elapsed sh -c "find '$mnt/$ut' -ls > /dev/null")")
        t_all+=("$(elapsed sh -c "find '$mnt/$ut' -type f -print0 | xargs -0 cat > /dev/null")")
        umount_fs "$mnt"
      fi
      if [[ $ut == fresh/* ]]; then drop_server_fs "$DATA/fresh"; else rm -rf "${DATA:?}/$ut"; fi
      rm -f "$DATA/w-$kind"
    done
    RUNS[$rtt,$kind,read]=$(spread "${t_read[@]}")
    RUNS[$rtt,$kind,write]=$(spread "${t_write[@]}")
    RUNS[$rtt,$kind,untar]=$(spread "${t_untar[@]}")
    RUNS[$rtt,$kind,untar_cpu]=$(spread "${c_untar[@]}")
    RUNS[$rtt,$kind,untar_all]=$(python3 -c 'import sys; print(" ".join("%.2f" % float(x) for x in sys.argv[1:]))' "${t_untar[@]}")
    RESULT[$rtt,$kind,read]=$(median "${t_read[@]}")
    RESULT[$rtt,$kind,write]=$(median "${t_write[@]}")
    RESULT[$rtt,$kind,untar]=$(median "${t_untar[@]}")
    RESULT[$rtt,$kind,untar_cpu]=$(median "${c_untar[@]}")
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
  printf '\n== RTT %s ms (sequential %s MiB, %s files in 100 dirs, %s runs, cipher %s, server fs %s, nice %s) ==\n' \
    "$rtt" "$seq_mb" "$files" "$REPS" "$CIPHER" "$SERVER_FS" "$(nice)"
  printf '%-22s %10s %10s %8s\n' workload "skiff s" "sshfs s" "ratio"
  local w label
  for w in read write untar untar_cpu cold warm all; do
    case $w in
      read) label="sequential read";; write) label="sequential write";; untar) label="untar";;
      untar_cpu) label="untar CPU s";;
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
  for w in read write untar untar_cpu; do
    want "${w%_cpu}" || continue
    printf '%-22s %21s %21s\n' "$w runs min .. max" "${RUNS[$rtt,skiff,$w]:--}" "${RUNS[$rtt,sshfs,$w]:--}"
  done
  if want untar; then
    for kind in $KINDS; do printf '%-22s %s\n' "untar runs $kind" "${RUNS[$rtt,$kind,untar_all]}"; done
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

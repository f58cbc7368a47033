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
[[ $BUILD == /* ]] || BUILD=$PWD/$BUILD
SKIFF=$BUILD/cli/skiff
PROXY=$BUILD/tests/support/skiff-faultproxy
REPS=${REPS:-3}
FILES=${FILES:-5000}
RTT=${RTT:-20}
READ_ALL=${READ_ALL:-1}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
[[ -x $SKIFF && -x $PROXY ]] || { echo "build skiff and skiff-faultproxy in $BUILD first" >&2; exit 2; }
command -v sshfs >/dev/null || { echo "sshfs is not installed" >&2; exit 2; }

# shellcheck source=bench/mount_lib.sh
source bench/mount_lib.sh
mount_bench_setup skiff-listbench
make_tree "$DATA/tree" "$FILES"
port=$SSHD_PORT
if [[ $RTT != 0 ]]; then
  start_delay_proxy "$RTT"
  port=$PROXY_PORT
fi

declare -A RESULT
for kind in skiff sshfs; do
  declare -a t_cold=() t_warm=() t_all=()
  mnt=$WORK/mnt-$kind
  for rep in $(seq "$REPS"); do
    mount_fs "$kind" "$port" "$mnt"
    t_cold+=("$(elapsed sh -c "find '$mnt/tree' -ls > /dev/null")")
    t_warm+=("$(elapsed sh -c "find '$mnt/tree' -ls > /dev/null")")
    if [[ $READ_ALL == 1 ]]; then
      t_all+=("$(elapsed sh -c "find '$mnt/tree' -type f -print0 | xargs -0 cat > /dev/null")")
    fi
    umount_fs "$mnt"
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
  printf '%-22s %10s %10s %8s\n' "$label" "${RESULT[skiff,$w]}" "${RESULT[sshfs,$w]}" \
    "$(ratio "${RESULT[sshfs,$w]}" "${RESULT[skiff,$w]}")"
done

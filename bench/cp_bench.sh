#!/usr/bin/env bash
# cp_bench.sh: throughput of `skiff cp` against OpenSSH's `ssh ... cat` and `sftp`
# get/put, on one private loopback sshd (tests/support/sshd-env) and one cipher, in one
# run. Prints the median MB/s of each and the ratios that issue 2 sets as targets:
#   skiff download >= 0.9x ssh cat,  skiff >= 1.0x sftp for download and upload.
#
# usage: bench/cp_bench.sh [-n REPS] [-s SIZE_MIB] [-c CIPHER]
#   SKIFF_BIN   the skiff program (default: build/cli/skiff, then build-*/cli/skiff)
# Needs root (sshd-env). Uses about 4x SIZE_MIB of disk under /tmp and the sshd base.
set -euo pipefail

reps=3
size_mib=1024
cipher=aes128-gcm@openssh.com
while getopts "n:s:c:" o; do
  case $o in
    n) reps=$OPTARG ;;
    s) size_mib=$OPTARG ;;
    c) cipher=$OPTARG ;;
    *) sed -n '2,10p' "$0"; exit 64 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
skiff=${SKIFF_BIN:-}
if [[ -z $skiff ]]; then
  for c in "$root"/build/cli/skiff "$root"/build-*/cli/skiff; do
    [[ -x $c ]] && { skiff=$c; break; }
  done
fi
[[ -x ${skiff:-} ]] || { echo "cp_bench: no skiff binary; set SKIFF_BIN" >&2; exit 64; }

work=$(mktemp -d /tmp/skiff-cp-bench.XXXXXX)
cleanup() {
  "$root/tests/support/sshd-env" stop "$work/sshd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$root/tests/support/sshd-env" start "$work/sshd" >/dev/null
# shellcheck disable=SC1091
source "$work/sshd/env"

bytes=$((size_mib * 1024 * 1024))
echo "creating a ${size_mib} MiB file..." >&2
head -c "$bytes" /dev/urandom >"$work/src"
cp "$work/src" "$PLAIN_LOCAL_DIR/bench.src"
remote_src="$PLAIN_REMOTE_DIR/bench.src"
remote_dst="$PLAIN_REMOTE_DIR/bench.up"
ssh_opts=(-F "$SSH_CONFIG" -c "$cipher")

# Runs "$@" and prints MB/s for `bytes` moved.
measure() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  awk -v b="$bytes" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.1f\n", b / 1e6 / (z - a) }'
}
check() {  # the copy must be complete, or the figure means nothing
  local got
  got=$(stat -c %s "$1")
  [[ $got == "$bytes" ]] || { echo "cp_bench: $1 has $got bytes, expected $bytes" >&2; exit 2; }
  rm -f "$1"
}

dl_ssh() { ssh "${ssh_opts[@]}" skiff-plain "cat $remote_src" >"$work/out"; }
dl_sftp() { sftp "${ssh_opts[@]}" -q -b - skiff-plain <<<"get $remote_src $work/out"; }
dl_skiff() { "$skiff" cp -F "$SSH_CONFIG" -o "Ciphers=$cipher" "skiff-plain:$remote_src" "$work/out"; }
ul_ssh() { ssh "${ssh_opts[@]}" skiff-plain "cat > $remote_dst" <"$work/src"; }
ul_sftp() { sftp "${ssh_opts[@]}" -q -b - skiff-plain <<<"put $work/src $remote_dst"; }
ul_skiff() { "$skiff" cp -F "$SSH_CONFIG" -o "Ciphers=$cipher" "$work/src" "skiff-plain:$remote_dst"; }

declare -A results
for ((i = 1; i <= reps; i++)); do
  for t in dl_ssh dl_sftp dl_skiff ul_ssh ul_sftp ul_skiff; do
    r=$(measure $t)
    if [[ $t == dl_* ]]; then check "$work/out"; else check "$PLAIN_LOCAL_DIR/bench.up"; fi
    results[$t]+="$r "
    echo "run $i $t: $r MB/s" >&2
  done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
declare -A med
for t in "${!results[@]}"; do med[$t]=$(median "${results[$t]}"); done

echo "skiff cp benchmark: ${size_mib} MiB, cipher $cipher, median of $reps, loopback sshd $(/usr/sbin/sshd -V 2>&1 | cut -d, -f1)"
printf "%-10s %12s %12s %12s\n" "" "ssh cat" "sftp" "skiff cp"
printf "%-10s %9s MB/s %7s MB/s %7s MB/s\n" download "${med[dl_ssh]}" "${med[dl_sftp]}" "${med[dl_skiff]}"
printf "%-10s %9s MB/s %7s MB/s %7s MB/s\n" upload "${med[ul_ssh]}" "${med[ul_sftp]}" "${med[ul_skiff]}"
echo "download: skiff/ssh-cat $(ratio "${med[dl_skiff]}" "${med[dl_ssh]}") (target >= 0.9)," \
  "skiff/sftp $(ratio "${med[dl_skiff]}" "${med[dl_sftp]}") (target >= 1.0)"
echo "upload:   skiff/ssh-cat $(ratio "${med[ul_skiff]}" "${med[ul_ssh]}")," \
  "skiff/sftp $(ratio "${med[ul_skiff]}" "${med[ul_sftp]}") (target >= 1.0)"

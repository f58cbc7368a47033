#!/usr/bin/env bash
# The README's main job, on an embedded default: installs what is needed, builds skiff,
# starts a private OpenSSH sshd on 127.0.0.1 with throwaway keys and a chrooted SFTP-only
# account (ForceCommand internal-sftp, the most locked-down server skiff supports), and
# has skiff work against it: list, upload, download, and check the round trip byte for
# byte. sshd is always stopped on exit (including errors and Ctrl-C).
#
# Run as root (sshd needs it). Environment: BUILD_DIR (default build), DEMO_MB (size of
# the large sample file, default 64), KEEP_DEMO=1 keeps the sample/download directory,
# SKIP_BUILD=1 reuses an existing build in BUILD_DIR (no install, no build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=${BUILD_DIR:-build}
demo_mb=${DEMO_MB:-64}

say() { printf '\n== %s\n' "$*"; }
# Prints a command, then runs it.
run() {
  printf '$ %s\n' "$*"
  "$@"
}
fail() {
  echo "demo: FAILED: $*" >&2
  exit 1
}

[[ $(id -u) == 0 ]] || fail "run as root (the private sshd needs root for its chroot)"

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  say "installing dependencies (scripts/install-deps.sh)"
  ./scripts/install-deps.sh
  say "building skiff (scripts/build.sh, BUILD_DIR=$build_dir)"
  BUILD_DIR=$build_dir ./scripts/build.sh
fi
skiff=$root/$build_dir/cli/skiff
[[ -x $skiff ]] || fail "$skiff was not built"
for cmd in ls cp; do
  "$skiff" "$cmd" --help >/dev/null 2>&1 || fail "this build of skiff has no working 'skiff $cmd'"
done

work=$(mktemp -d /tmp/skiff-demo-XXXXXX)
sshd_dir=$work/sshd
mounted=0
cleanup() {
  local rc=$?
  if [[ $mounted == 1 ]]; then fusermount3 -u "$work/mnt" 2>/dev/null || fusermount3 -uz "$work/mnt" || true; fi
  "$root/tests/support/sshd-env" stop "$sshd_dir" || echo "demo: could not stop the private sshd in $sshd_dir" >&2
  if [[ ${KEEP_DEMO:-0} == 1 ]]; then
    echo "demo: kept $work"
  else
    rm -rf -- "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting a private sshd on 127.0.0.1 (tests/support/sshd-env, throwaway keys)"
# The owner pid lets a later sshd-env start clean up if this script is SIGKILLed.
SSHD_ENV_OWNER_PID=$$ "$root/tests/support/sshd-env" start "$sshd_dir"
# shellcheck source=/dev/null
. "$sshd_dir/env"
cat <<EOF
sshd pid $SSHD_PID on 127.0.0.1:$SSHD_PORT, config $SSH_CONFIG
account skiff-sftp: ForceCommand internal-sftp, chrooted; writable dir "$SFTP_REMOTE_DIR"
(on this machine: $SFTP_LOCAL_DIR)
EOF
ssh_flags=(-F "$SSH_CONFIG")
target=skiff-sftp

say "making sample data: a ${demo_mb} MiB random file, a text file, a nested directory"
src=$work/sample
mkdir -p "$src/nested/deeper"
head -c $((demo_mb * 1024 * 1024)) /dev/urandom >"$src/big.bin"
printf 'hello from skiff\n' >"$src/hello.txt"
for i in 1 2 3; do head -c $((i * 70000)) /dev/urandom >"$src/nested/part-$i.bin"; done
printf 'deep\n' >"$src/nested/deeper/leaf.txt"
: >"$src/nested/empty-file"
du -sh "$src"

say "1. list the SFTP-only account's drop directory"
run "$skiff" ls -l "${ssh_flags[@]}" "$target:$SFTP_REMOTE_DIR"

say "2. upload: the directory tree, then one file under a new name"
run "$skiff" cp -r "${ssh_flags[@]}" "$src" "$target:$SFTP_REMOTE_DIR/"
run "$skiff" cp "${ssh_flags[@]}" "$src/hello.txt" "$target:$SFTP_REMOTE_DIR/renamed.txt"
run "$skiff" ls -l "${ssh_flags[@]}" "$target:$SFTP_REMOTE_DIR"
run "$skiff" ls "${ssh_flags[@]}" "$target:$SFTP_REMOTE_DIR/sample/nested"

say "3. check what arrived on the server's disk"
diff -r "$src" "$SFTP_LOCAL_DIR/sample" || fail "the server's copy differs from the source"
cmp "$src/hello.txt" "$SFTP_LOCAL_DIR/renamed.txt" || fail "renamed.txt differs on the server"
echo "server copy identical to the source ($(find "$SFTP_LOCAL_DIR/sample" -type f | wc -l) files)"

say "4. download it all back"
back=$work/download
mkdir -p "$back"
run "$skiff" cp -r "${ssh_flags[@]}" "$target:$SFTP_REMOTE_DIR/sample" "$back/"
run "$skiff" cp "${ssh_flags[@]}" "$target:$SFTP_REMOTE_DIR/renamed.txt" "$back/renamed.txt"

say "5. verify the round trip"
cmp "$src/big.bin" "$back/sample/big.bin" || fail "big.bin differs after the round trip"
diff -r "$src" "$back/sample" || fail "the downloaded tree differs from the source"
cmp "$src/hello.txt" "$back/renamed.txt" || fail "renamed.txt differs after the round trip"
echo "round trip identical: $(find "$back/sample" -type f | wc -l) files, $(du -sb "$back/sample" | cut -f1) bytes"

say "6. mount the account with FUSE, work through the mount, unmount"
mnt=$work/mnt
mkdir -p "$mnt"
run "$skiff" mount "${ssh_flags[@]}" "$target:$SFTP_REMOTE_DIR" "$mnt"
mounted=1
run ls -l "$mnt"
cmp "$src/big.bin" "$mnt/sample/big.bin" || fail "big.bin read through the mount differs"
mkdir "$mnt/made-through-mount"
printf 'written through the mount\n' >"$mnt/made-through-mount/note.txt"
mv "$mnt/made-through-mount/note.txt" "$mnt/made-through-mount/note-renamed.txt"
run "$skiff" umount "$mnt"
mounted=0
cmp <(printf 'written through the mount\n') "$SFTP_LOCAL_DIR/made-through-mount/note-renamed.txt" ||
  fail "the file written through the mount is not on the server"
echo "mount: read ${demo_mb} MiB, created, wrote and renamed through the kernel; unmounted"

say "7. back up the sample tree into versioned snapshots on the same account"
repo="$target:$SFTP_REMOTE_DIR/backups"
run "$skiff" backup "${ssh_flags[@]}" "$src" "$repo"
# Day 2: change one file in the middle, add one, touch nothing else.
printf 'inserted in the middle' | dd of="$src/big.bin" bs=1 seek=$((demo_mb * 524288)) conv=notrunc status=none
printf 'new on day two\n' >"$src/nested/day2.txt"
sleep 1  # snapshots are named by the UTC second
run "$skiff" backup "${ssh_flags[@]}" "$src" "$repo"
run "$skiff" snapshots "${ssh_flags[@]}" "$repo"
run "$skiff" check "${ssh_flags[@]}" --read-data "$repo"

say "8. restore the newest snapshot and one file of the first, and compare"
restore=$work/restore
run "$skiff" restore "${ssh_flags[@]}" "$repo" "$restore/latest"
# A snapshot holds one top-level directory per source, named by its last component.
diff -r "$src" "$restore/latest/sample" || fail "the restored tree differs from the source"
first=$("$skiff" snapshots "${ssh_flags[@]}" "$repo" | head -n 1)
[[ -n $first ]] || fail "could not read the first snapshot's name"
echo "first snapshot: $first"
run "$skiff" restore "${ssh_flags[@]}" "$repo@$first" "$restore/first" sample/hello.txt
cmp "$src/hello.txt" "$restore/first/sample/hello.txt" || fail "hello.txt from the first snapshot differs"
[[ ! -e $restore/first/sample/nested/day2.txt ]] || fail "a single-path restore wrote more than asked"
echo "restore: newest snapshot identical to the source; one file restored from the first"

say "done: skiff listed, copied, mounted, backed up and restored through a chrooted SFTP-only account"

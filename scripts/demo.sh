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
cleanup() {
  local rc=$?
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

# ---- Later issues extend the main job here, against the same private sshd: ----
# issue 3 (mount):   skiff mount skiff-sftp:/data DIR, read/write through the kernel mount,
#                    compare with the files above, unmount.
# issue 4 (backups): skiff backup of the sample tree to skiff-sftp:/data/repo, modify it,
#                    incremental backup, skiff restore of both snapshots, cmp, skiff check.

say "done: skiff listed, uploaded and downloaded through a chrooted SFTP-only account"

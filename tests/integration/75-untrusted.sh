#!/bin/bash
# binfmt (as root) never runs or registers what another user controls (issue 20):
# the probes never go near TMPDIR, a symlinked interpreter is registered by its
# resolved path, an interpreter in a directory another uid owns is refused with
# the registry untouched, and --version reads QEMU's version from the file
# instead of running it. In private binfmt_misc instances; root only (the other
# user is a real uid, nobody).
# shellcheck disable=SC2016 # single-quoted code runs in the private instance, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_private_binfmt
[[ $(id -u) == 0 ]] || skip_all "needs root: the other user's directory must belong to a real other uid"
id nobody >/dev/null 2>&1 || skip_all "no nobody user"
[[ -x /usr/bin/qemu-aarch64-static ]] || skip_all "Debian's qemu-user-static is not installed"
command -v strace >/dev/null || skip_all "strace is not installed"
plan 10

WORK=$(mktemp -d /tmp/binfmt-75-untrusted.XXXXXX)
on_exit rm -rf "$WORK"
chmod 755 "$WORK"
export WORK

# 1. The probes: a world-writable TMPDIR is not touched at all (the old code
#    made its probe directory there, by path: swappable between write and exec).
mkdir -m 0777 "$WORK/shared-tmp"
probe_paths() {
    "$BINFMT" --mount "$BM" --qemu-path /usr/bin --install arm64 >/dev/null 2>&1
    # LeakSanitizer cannot stop the world under ptrace: a sanitized binfmt then
    # ends with a "fatal error" of LSan's own; leaks are checked in every other run.
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 TMPDIR=$WORK/shared-tmp strace -f -qq -e trace=%file,%desc -o "$WORK/trace" "$BINFMT" --mount "$BM" >"$WORK/status.json"
}
export -f probe_paths
in_private_binfmt probe_paths
# Under valgrind the traced process is valgrind too, which keeps its own files in
# TMPDIR (valgrind_proc_<pid>_cmdline/auxv, opened O_EXCL 0600 and unlinked, and
# the vgdb-pipe-* FIFOs) before binfmt's first instruction: those are valgrind's,
# not binfmt's, and only those names are set aside.
tmpdir_calls() {
    local pat='^$'
    [[ -n ${BINFMT_VALGRIND:-} ]] && pat="$WORK/shared-tmp/(valgrind_proc_[0-9]+_(cmdline|auxv)_|vgdb-pipe-)"
    grep "$WORK/shared-tmp" "$WORK/trace" | grep -Evc "$pat"
}
t_is "status with a world-writable TMPDIR: no syscall names TMPDIR" "$(tmpdir_calls)" 0
t_like "... and the probes ran: linux/arm64 supported" "$(cat "$WORK/status.json")" '"linux/arm64"'

# 2. A symlink in a root-owned directory: registered by the file it names.
mkdir -m 0755 "$WORK/links"
ln -s /usr/bin/qemu-aarch64-static "$WORK/links/qemu-aarch64-static"
symlinked() {
    "$BINFMT" --mount "$BM" --qemu-path "$WORK/links" --install arm64 >/dev/null 2>&1
    sed -n 's/^interpreter //p' "$BM/qemu-aarch64"
}
export -f symlinked
t_is "a symlinked emulator is registered by its resolved path" "$(in_private_binfmt symlinked)" \
    "$(readlink -f /usr/bin/qemu-aarch64-static)"

# 3. The same link in a directory nobody owns: what gets registered is the file
#    it names, so re-pointing the link later changes nothing.
mkdir -m 0755 "$WORK/userdir" "$WORK/usercopy"
ln -s /usr/bin/qemu-aarch64-static "$WORK/userdir/qemu-aarch64-static"
chown -h nobody "$WORK/userdir" "$WORK/userdir/qemu-aarch64-static"
export QP=$WORK/userdir
t_is "a link in another user's directory: the file it names is registered" \
    "$(in_private_binfmt bash -c '"$BINFMT" --mount "$BM" --qemu-path "$QP" --flags P --install arm64 >/dev/null 2>&1
        sed -n "s/^interpreter //p" "$BM/qemu-aarch64"')" "$(readlink -f /usr/bin/qemu-aarch64-static)"
# A root-owned emulator file in a directory nobody owns (nobody can replace it):
# refused, naming the directory, nothing registered.
cp /usr/bin/qemu-aarch64-static "$WORK/usercopy/"
chown nobody "$WORK/usercopy"
untrusted() {
    "$BINFMT" --mount "$BM" --qemu-path "$QP" --flags P --install arm64 2>&1
    echo "rc=$?"
    ls "$BM"
}
export -f untrusted
out=$(QP=$WORK/usercopy in_private_binfmt untrusted)
t_like "emulator in another user's directory: refused, naming it" "$out" "usercopy, owned by uid [0-9]+"
t_like "... exit non-zero" "$out" $'rc=[1-9]'
t_unlike "... nothing registered" "${out##*rc=}" "qemu-aarch64"
# A group-writable (not sticky) directory on the way, owned by root: refused too.
mkdir -m 0775 "$WORK/groupdir"
chmod 0775 "$WORK/groupdir"
cp /usr/bin/qemu-aarch64-static "$WORK/groupdir/"
out=$(in_private_binfmt bash -c '"$BINFMT" --mount "$BM" --qemu-path "$WORK/groupdir" --install arm64 2>&1; echo "rc=$?"')
t_like "emulator in a group-writable directory: refused, naming it" "$out" "groupdir, writable by group or others"

# 4. --version reads the version, it does not run the file: a script that would
#    leave a mark, carrying QEMU's banner text.
mkdir -m 0755 "$WORK/fake"
printf '#!/bin/sh\ntouch %s/ran\n# qemu-aarch64 version 9.9.9 (fake)\n' "$WORK" >"$WORK/fake/qemu-aarch64"
chmod 755 "$WORK/fake/qemu-aarch64"
chown nobody "$WORK/fake/qemu-aarch64"
out=$("$BINFMT" --qemu-path "$WORK/fake" --version 2>&1)
t_like "--version: the version read from the file" "$out" 'QEMU 9\.9\.9 '
t_ok "--version did not run the emulator file" test ! -e "$WORK/ran"
done_testing

#!/bin/bash
# A step that tries to leave emu-run's sandbox (issue 19; docs/security.md, emu-run):
# every /proc/*/{fd/*,root,cwd,exe} it can see must stay inside the root (pid 1 holds
# no descriptor and is not dumpable); as root's step, umount of /proc/sys, remount of
# /sys rw, core_pattern opened for writing, setuid files, mknod, module loading, ptrace
# of pid 1 and binfmt_misc mounts all fail, also from a user namespace of its own; as
# an unprivileged caller's step too; and where no user namespace can be made (simulated
# with max_user_namespaces=0 in an outer user namespace, where the limit is its own) a
# --rootfs step is refused (125) unless --unsafe-no-userns, which confines it by
# capabilities and seccomp. The attempts run natively (tests/helpers/escape-probe.c,
# built static here), so the answers are the kernel's, not QEMU's.
# shellcheck disable=SC2016 # single-quoted steps are expanded by the foreign shell
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

emu_require
[[ $(uname -m) == x86_64 ]] || skip_all "the escape probe runs natively as amd64"
((EUID == 0)) || skip_all "needs root (root's steps, and an unprivileged caller via setpriv)"
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) needed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emu-run-85.XXXXXX")
chmod 755 "$WORK"
on_exit rm -rf "$WORK"
R=$WORK/root
emu_make_rootfs "$R" arm64 || bail_out "cannot build the arm64 rootfs"
mkdir -p "$R/mnt"
for x in cp chmod stat mount umount; do ln -s busybox "$R/bin/$x"; done
${CC:-cc} -static -O1 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$R/probe" "$ROOT/tests/helpers/escape-probe.c" 2>"$WORK/cc.err" ||
    skip_all "cannot build a static escape probe: $(head -1 "$WORK/cc.err")"
plan 36

echo host-secret >"$WORK/secret"
host_before=$(host_listing)
core_before=$(cat /proc/sys/kernel/core_pattern)
QEMU_FILE=$(readlink -f "$(dirname "$EMU")/../qemu/qemu-aarch64")
[[ -x $QEMU_FILE ]] || QEMU_FILE=/usr/bin/qemu-aarch64-static
EMU_ID=$(stat -L -c %d:%i "$QEMU_FILE")
# The Docker set (0xa80425fb) and, for a step whose root is the host's, without
# CAP_SETFCAP (bit 31) and, without a user namespace, without CAP_MKNOD (bit 27).
CAPS_DOCKER=00000000a80425fb CAPS_HOST_ROOT=00000000280425fb CAPS_NO_USERNS=00000000200425fb

# Module loading: EPERM, or ENOSYS on a kernel built without modules. Either refuses.
norm() { sed -E 's/(init_module): (EPERM|ENOSYS)$/\1: refused/'; }
suid_files() { find "$1" -perm /6000 -printf '%P %m %u\n' 2>&1 | sort; }
absent() { [[ -e $1 || -L $1 ]] && echo 0 || echo 1; }
# A step that defeats the sandbox may also stop pid 1 (ptrace): never hang the suite.
# emu_t (emu-lib.sh) runs emu-run under timeout $EMU_GUARD (300 s), a guard against a
# hang only, as are the other "timeout -k 10 $EMU_GUARD" below: long enough for an
# ASan build on a loaded machine, since a guard that fires is a failure.
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }

# What the probe reports in the sandbox itself: the same with or without a user
# namespace (capabilities, locked mounts, seccomp); then each case's own lines.
ESCAPE_SANDBOX="umount /proc/sys: EPERM
remount /sys rw: EPERM
open core_pattern for writing: EROFS
mount proc: EPERM
mount binfmt_misc: EPERM
chmod 4755: EPERM
chmod 2755: EPERM
create with mode 4755: EPERM
set file capabilities: EPERM
open (no O_CREAT) with mode 4755: ok
mknod block device: EPERM
finit_module: refused
init_module: refused
ptrace pid 1: EPERM
open /proc/1/root: EACCES
open /proc/1/mem: EACCES"
# Root's step is not the host's uid 0 (an unprivileged range over an idmapped root):
# /proc/sys's owner check refuses it before the read-only mount would.
ESCAPE_ROOT="${ESCAPE_SANDBOX/core_pattern for writing: EROFS/core_pattern for writing: EACCES}
new user namespace: ok
userns: umount /proc/sys: EINVAL
userns: remount /sys rw: EPERM
userns: open core_pattern for writing: EACCES
userns: mount proc: EPERM
userns: mount binfmt_misc: ok
userns: register an entry: ok
userns: chmod 4755: EPERM
userns: chmod 2755: EPERM
userns: create with mode 4755: EPERM
userns: set file capabilities: EPERM
userns: open (no O_CREAT) with mode 4755: ok
userns: mknod block device: EACCES
userns: finit_module: refused
userns: init_module: refused
userns: ptrace pid 1: EPERM
userns: open /proc/1/root: EACCES
userns: open /proc/1/mem: EACCES"

# --- the walk: nothing visible leads out of the root ----------------------------------
# Control: the same walk in a plain chroot with a descriptor of the host's left open
# (what pid 1 held before) finds it, so a clean walk below means something.
C=$WORK/control
mkdir -p "$C/proc" && cp "$R/probe" "$C/probe"
OUT=$(unshare --mount --pid --fork --propagation private -- sh -c \
    'mount -t proc proc "$1/proc" && exec 7<"$2" && exec chroot "$1" /probe walk' sh "$C" "$WORK" 2>&1)
t_like "control: the walk finds a host directory left open in a chroot" "$OUT" "OUTSIDE /proc/[0-9]+/fd/7 -> "

# The walk starts /bin/busybox (a QEMU process to look at) and gives it only a fixed
# 300 ms to start (escape-probe.c), which a loaded machine may not meet: the probe runs
# from a foreign shell, itself a QEMU process already running, so the emulator is
# certainly there to be seen. (The sleep 5 only has to outlive the walk; the probe
# kills it after.)
exec 7<"$WORK" 8<"$WORK/secret"
emu_t --arch arm64 --rootfs "$R" --shell "/probe walk $EMU_ID /bin/busybox sleep 5; exit \$?"
exec 7<&- 8<&-
t_like "root's step: every /proc/*/{fd/*,root,cwd,exe} stays in the root, with host fds open in emu-run" \
    "$RC|$OUT" "^0\|walked [0-9]+ links, 0 outside, [1-9][0-9]* the emulator$"
t_unlike "...none is reported" "$OUT" "OUTSIDE"

# The report of the issue, as a shell step: pid 1's fd 3 was the rootfs on the host.
rm -f "$WORK/marker"
emu --arch arm64 --rootfs "$R" --shell 'cat /proc/1/fd/3/../secret; echo x >/proc/1/fd/3/../marker; ls -l /proc/1/fd/ 2>/dev/null | grep -c -- "->"; exit 7'
t_is "the issue's step: no host file read or created, none of pid 1's links readable, the step's status" \
    "$RC|$OUT|$(absent "$WORK/marker")" "7|0|1"
t_like "...pid 1's descriptors are closed to it" "$ERR" "can't open '/proc/1/fd/3/../secret': (Permission denied|No such file)"

emu --arch arm64 --rootfs "$R" -- /bin/sh -c 'stat -c %u /proc/self/fd; grep CapBnd /proc/self/status' 
t_is "root's step: dumpable again after its exec, bounding set Docker's without CAP_SETFCAP" \
    "$(emu_words "$OUT")|$RC" "0 CapBnd: $CAPS_HOST_ROOT|0"
emu --arch arm64 --rootfs "$R" -u builder -- stat -c %u /proc/self/fd
t_is "...and as --user builder: its /proc/self is its own (1000)" "$OUT|$RC" "1000|0"

# --- root's step tries each escape ------------------------------------------------------
suid_before=$(suid_files "$R")
emu_t --arch arm64 --rootfs "$R" -- /probe escape
t_is "root's step: every escape fails, also from a user namespace of its own (locked mounts)" \
    "$(norm <<<"$OUT")|$RC" "$ESCAPE_ROOT|0"
t_is "...no setuid/setgid file appeared in the root on the host" "$(suid_files "$R")" "$suid_before"
t_is "...no device node either" "$(absent "$R/escape-sda")" "1"
t_is "...core_pattern unchanged" "$(cat /proc/sys/kernel/core_pattern)" "$core_before"
emu_host_unchanged "...the host's binfmt_misc registry unchanged (the entry went to its own instance)" "$host_before"
rm -f "$R"/escape-*

emu --arch arm64 --rootfs "$R" --shell 'cp /bin/busybox /sh2 && chmod 4755 /sh2; echo $?; exit 3'
t_is "a foreign shell's chmod 4755: refused inside, the step's status (3) returned" "$OUT|$RC|$(stat -c %a "$R/sh2")" \
    "1|3|755"
t_like "...with an ordinary error" "$ERR" "chmod: /sh2: Operation not permitted"
rm -f "$R/sh2"

emu_t --arch arm64 --rootfs "$R" --shell 'mount -o remount,rw /sys || echo no-remount; umount /proc/sys || echo no-umount
echo x >/proc/sys/kernel/core_pattern || echo no-core-pattern; echo done'
t_is "a foreign shell's remount, umount and core_pattern write fail; the step goes on" "$(emu_words "$OUT")|$RC" \
    "no-remount no-umount no-core-pattern done|0"
t_like "...with ordinary errors" "$(emu_words "$ERR")" \
    "umount: can't unmount /proc/sys: Operation not permitted .*core_pattern: Read-only file system"

# --- root's step is not the host's root ------------------------------------------------
# Its ids are root's first range in /etc/subuid, else emu-run's default block.
S_UID=$(awk -F: '$1 == "root" && $3 > 0 { print $2; exit }' /etc/subuid 2>/dev/null)
S_GID=$(awk -F: '$1 == "root" && $3 > 0 { print $2; exit }' /etc/subgid 2>/dev/null)
[[ -n $S_UID && -n $S_GID ]] || S_UID=1878982656 S_GID=1878982656
SOCK=emu-run-85-$$
"$R/probe" serve "$SOCK" >"$WORK/serve.out" 2>&1 &
serve_pid=$!
serving() { grep -q listening "$WORK/serve.out" || ! kill -0 "$serve_pid" 2>/dev/null; }
emu_until "$EMU_DEADLINE" serving || diag "the probe's server never said listening"
emu_t --arch arm64 --rootfs "$R" --network host -- /probe connect "$SOCK"
t_is "root's step, --network host: a host daemon's SO_PEERCRED shows the range's ids, not 0" \
    "$RC|$OUT|$(kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; tail -1 "$WORK/serve.out")" \
    "0|peer uid $S_UID gid $S_GID|peer uid $S_UID gid $S_GID"
# From outside while it runs, as ps shows it. The step sleeps for an hour: it is there
# to be looked at until the wait below (up to EMU_DEADLINE) finds it, then killed.
"$EMU" --arch arm64 --rootfs "$R" -- /bin/sleep 3600.85 &
emu_pid=$!
step_uid=
step_seen() {
    local p
    # QEMU as the kernel runs it, or as emu-run's launcher does (the CPU model, issue 18).
    p=$(pgrep -f '(qemu-aarch64[^ ]*|/dev/[.]emu-run-accel/qemu) .*sleep 3600[.]85' | head -1)
    [[ -n $p ]] && step_uid=$(awk '/^Uid:/ { print $2 ":" $3 ":" $4 ":" $5 }' "/proc/$p/status") && [[ -n $step_uid ]]
}
emu_until "$EMU_DEADLINE" step_seen || diag "the step never showed up"
kill "$emu_pid" 2>/dev/null
wait "$emu_pid" 2>/dev/null
t_is "...from outside, the step's process is uid $S_UID (real, effective, saved, fs)" "$step_uid" \
    "$S_UID:$S_UID:$S_UID:$S_UID"
emu --arch arm64 --rootfs "$R" --shell 'cat /proc/self/uid_map; touch /made-by-step; ls -ln /made-by-step'
t_is "...inside it is root of a 65536-id range; what it creates is the host root's on disk (idmapped root)" \
    "$RC|$(emu_words "$OUT" | cut -d' ' -f1-6)|$(stat -c %u:%g "$R/made-by-step")" "0|0 $S_UID 65536 -rw-r--r-- 1 0|0:0"
rm -f "$R/made-by-step"
mkdir -m 755 "$WORK/bindsrc"
emu --arch arm64 --rootfs "$R" --bind "$WORK/bindsrc:/src" --shell 'stat -c %u /src && echo x >/src/out'
t_is "...a root-owned --bind source is idmapped too: its root's, and what the step writes there is root's on disk" \
    "$RC|$OUT|$(stat -c %u:%g "$WORK/bindsrc/out" 2>&1)" "0|0|0:0"
# A root on a filesystem that cannot be idmapped (ramfs): the step keeps the host's ids
# in its own user namespace, as before, says so with --verbose, and stays confined.
mkdir "$WORK/ram"
OUT=$(unshare --mount --propagation private bash -c 'mount -t ramfs ramfs "$1" && cp -a "$2/." "$1/" &&
    timeout -k 10 "$4" "$3" --verbose --arch arm64 --rootfs "$1" --shell "cat /proc/self/uid_map; chmod 4755 /bin/busybox; echo chmod=\$?"' \
    sh "$WORK/ram" "$R" "$EMU" "$EMU_GUARD" 2>&1)
t_like "a root on ramfs (no idmapped mounts): --verbose says the step's ids stay the host's, and why" "$OUT" \
    "emu-run: ids: the step's root is the host's root, in a user namespace of its own: the root $WORK/ram cannot be idmapped: Invalid argument"
t_like "...and then the step is confined as before (no setuid file)" "$(emu_words "$OUT")" "0 0 4294967295 .*chmod=1"

# --- an unprivileged caller's step -----------------------------------------------------
N=$WORK/nroot
cp -a "$R" "$N" && chown -R 65534:65534 "$N"
run nobody timeout -k 10 "$EMU_GUARD" "$EMU" --arch arm64 --rootfs "$N" --shell "/probe walk $EMU_ID /bin/busybox sleep 5; exit \$?"
t_like "nobody's step: every link stays in the root" "$RC|$OUT" "^0\|walked [0-9]+ links, 0 outside, [1-9][0-9]* the emulator$"
run nobody timeout -k 10 "$EMU_GUARD" "$EMU" --arch arm64 --rootfs "$N" --shell 'cat /proc/1/fd/3/../secret; echo x >/proc/1/fd/3/../marker; grep CapBnd /proc/self/status'
t_is "nobody's step: the issue's reproduction reads and writes nothing of the host" \
    "$(emu_words "$OUT")|$RC|$(absent "$WORK/marker")" "CapBnd: $CAPS_DOCKER|0|1"
run nobody timeout -k 10 "$EMU_GUARD" "$EMU" --arch arm64 --rootfs "$N" -- /probe escape
t_is "nobody's step: only setuid files and file capabilities (nobody's), a user namespace and its own binfmt_misc instance work" \
    "$(norm <<<"$OUT" | grep -c .)|$(grep ': ok$' <<<"$OUT")" "34|chmod 4755: ok
chmod 2755: ok
create with mode 4755: ok
set file capabilities: ok
open (no O_CREAT) with mode 4755: ok
new user namespace: ok
userns: mount binfmt_misc: ok
userns: register an entry: ok
userns: chmod 4755: ok
userns: chmod 2755: ok
userns: create with mode 4755: ok
userns: set file capabilities: ok
userns: open (no O_CREAT) with mode 4755: ok"
t_is "...its setuid files belong to nobody on the host, not to root" \
    "$(find "$N" -perm /6000 -printf '%u\n' | sort -u)" "nobody"
emu_host_unchanged "...the host's binfmt_misc registry unchanged" "$host_before"

# --- no user namespace (simulated) -----------------------------------------------------
# An outer user + mount namespace of ours, its max_user_namespaces 0 (the limit is per
# user namespace), with its own binfmt_misc instance standing in for the caller's
# registry (one entry). The amd64 probe runs natively: no registration needed.
cat >"$WORK/nouserns.sh" <<'EOF'
set -u
echo 0 >/proc/sys/user/max_user_namespaces || exit 90
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 91
echo ':caller-entry:E::callerx::/bin/true:' >/proc/sys/fs/binfmt_misc/register || exit 92
# The caller's arm64 entry, with F: what path 2 (no private instance) uses.
printf '%s' "$3" >/proc/sys/fs/binfmt_misc/register || exit 93
before=$(ls /proc/sys/fs/binfmt_misc; cat /proc/sys/fs/binfmt_misc/caller-entry)
timeout -k 10 "$EMU_GUARD" "$EMU" --arch amd64 --rootfs "$1" -- /probe escape >"$2/refused.out" 2>"$2/refused.err"
echo "refused=$?"
timeout -k 10 "$EMU_GUARD" "$EMU" --unsafe-no-userns --arch amd64 --rootfs "$1" -- /probe escape >"$2/unsafe.out" 2>"$2/unsafe.err"
echo "unsafe=$?"
timeout -k 10 "$EMU_GUARD" "$EMU" --unsafe-no-userns --arch amd64 --rootfs "$1" -- /probe walk >"$2/walk.out" 2>&1
echo "walk=$?"
timeout -k 10 "$EMU_GUARD" "$EMU" --unsafe-no-userns --arch arm64 --rootfs "$1" --shell 'ls /proc/sys/fs/binfmt_misc | wc -l; grep -E "^(CapBnd|Seccomp):" /proc/self/status; exit 5' \
    >"$2/status.out" 2>&1
echo "status=$?"
after=$(ls /proc/sys/fs/binfmt_misc; cat /proc/sys/fs/binfmt_misc/caller-entry)
[ "$before" = "$after" ] && echo "registry=unchanged" || echo "registry=changed"
EOF
# binfmt's register string (with F) for the emulator it finds, as the caller's would be.
REG=$("$BINFMT" --install arm64 --dry-run 2>/dev/null | grep '^:qemu-aarch64:')
OUT=$(EMU=$EMU unshare --user --map-root-user --mount --propagation private -- \
    bash "$WORK/nouserns.sh" "$R" "$WORK" "$REG" 2>&1)
t_like "no user namespace: a --rootfs step is refused (125)" "$OUT" "refused=125"
t_like "...in one line that names the fix" "$(cat "$WORK/refused.err")" \
    "^emu-run: cannot create a user namespace \(.*\), and without one a --rootfs step would be the host's root: enable user namespaces \(sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone=1, kernel.apparmor_restrict_unprivileged_userns=0\) or pass --unsafe-no-userns$"
t_is "...the step never ran" "$(cat "$WORK/refused.out")" ""
t_is "--unsafe-no-userns: every escape fails (capabilities and seccomp)" \
    "$(norm <"$WORK/unsafe.out")|$(grep -o 'unsafe=[0-9]*' <<<"$OUT")" "$ESCAPE_SANDBOX
new user namespace: EPERM|unsafe=0"
t_like "--unsafe-no-userns: nothing visible leads out of the root" "$(cat "$WORK/walk.out")|$OUT" \
    "^walked [0-9]+ links, 0 outside, 0 the emulator\|.*walk=0"
t_like "--unsafe-no-userns: the caller's registry is unchanged" "$OUT" "registry=unchanged"
t_is "--unsafe-no-userns, arm64 through the caller's F entry: no registry in view, Docker's set without SETFCAP and MKNOD, a filter; its status" \
    "$(emu_words "$(grep -v '^emu-run: note:' "$WORK/status.out")")|$(grep -o 'status=[0-9]*' <<<"$OUT")" \
    "0 CapBnd: $CAPS_NO_USERNS Seccomp: 2|status=5"
emu_host_unchanged "after everything, the host's binfmt_misc registry is unchanged" "$host_before"
t_is "...and no setuid/setgid file in the root" "$(suid_files "$R")" "$suid_before"

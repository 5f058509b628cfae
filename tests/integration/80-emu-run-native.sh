#!/bin/bash
# Native or emulated, decided by fact: the host's own platform runs natively without a
# probe; the rest of its QEMU family (386/i486 on x86-64, arm on arm64) runs natively
# only when its probe program runs here, executed where no binfmt_misc entry can take
# it (our fresh private instance, or without one only when the visible registry has no
# entry for it); a foreign target (arm64 here) costs no probe at all. Where memfds
# may not be executed (vm.memfd_noexec=2), the probe runs from a detached tmpfs.
#
# The step is a hand-made static i386 program that exits 42, and the "emulator" is
# tests/helpers/fake-emulator.c built to exit 3: 42 means the kernel ran the program
# itself, 3 that it went through a binfmt_misc entry.
#
# Whether 32-bit x86 code runs natively is the machine's: some kernels refuse it
# although built with IA32 emulation (seen: a VM kernel whose /proc/sys/abi/vsyscall32
# exists). lib.sh's I386_NATIVE (tests/helpers/cpu-view's real i386 exec in an empty
# instance) says which case this machine is, and "what this machine does" below
# expects that case: native (42) where 32-bit code runs, emulated by the real
# qemu-i386 (also 42, with --verbose saying so) or refused where it does not.
# The negative case is also FAKED, on every machine, with an LD_PRELOAD shim built by
# this script: it makes emu-run's execveat(2) of its probe (argv[0] "emu-run-probe")
# fail with ENOEXEC. The shim is test-only and never installed; emu-run itself has no
# switch, environment variable or hook that changes the decision.
# shellcheck disable=SC2016
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

emu_require
[[ $(uname -m) == x86_64 ]] || skip_all "the native cases here are x86-64's (386 and amd64)"
FAKE=$(dirname "$(dirname "$BINFMT")")/tests/fake-emu-exit3
[[ -x $FAKE ]] || skip_all "fake emulators not built (make unit)"
CC=${CC:-cc}
command -v "$CC" >/dev/null || skip_all "no C compiler for the probe shim"
command -v python3 >/dev/null || skip_all "python3 needed"
plan 21

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emu-run-80n.XXXXXX")
chmod 755 "$WORK"
on_exit rm -rf "$WORK"
host_before=$(host_listing)

# A static i386 program: exit(42) through int 0x80, loaded at 0x08048000.
I386=$WORK/i386-exit42
python3 - "$I386" <<'EOF' || bail_out "cannot write the i386 program"
import struct, sys
base, code = 0x08048000, bytes([0xb8, 1, 0, 0, 0, 0xbb, 42, 0, 0, 0, 0xcd, 0x80])
size = 52 + 32 + len(code)
ehdr = struct.pack('<16sHHIIIIIHHHHHH', b'\x7fELF\x01\x01\x01' + bytes(9), 2, 3, 1, base + 84, 52, 0, 0,
                   52, 32, 1, 0, 0, 0)
phdr = struct.pack('<8I', 1, 0, base, base, size, size, 5, 0x1000)
open(sys.argv[1], 'wb').write(ehdr + phdr + code)
EOF
chmod 755 "$I386"

SHIM=$WORK/probe-shim.so
"$CC" -shared -fPIC -O2 -o "$SHIM" -x c - -ldl <<'EOF' || bail_out "cannot build the probe shim"
/* Test-only: emu-run's native probes, logged (PROBE_SHIM_LOG) or failed with
 * ENOEXEC (PROBE_SHIM_ENOEXEC) as on a host without the compat ABI. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	static int (*real)(int, const char *, char *const[], char *const[], int);
	const char *log = getenv("PROBE_SHIM_LOG");

	if (argv && argv[0] && !strcmp(argv[0], "emu-run-probe")) {
		int fd = log ? open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
		if (fd >= 0) {
			dprintf(fd, "probe\n");
			close(fd);
		}
		if (getenv("PROBE_SHIM_ENOEXEC")) {
			errno = ENOEXEC;
			return -1;
		}
	}
	if (!real)
		real = (int (*)(int, const char *, char *const[], char *const[], int))dlsym(RTLD_NEXT, "execveat");
	return real(dirfd, path, argv, envp, flags);
}
EOF
LOG=$WORK/probes.log
# shimmed [ENOEXEC] ARGS...: emu-run with the shim (sanitized builds: not first in the list).
shimmed() {
    local fail=
    [[ $1 == ENOEXEC ]] && { fail=1; shift; }
    : >"$LOG"
    run env LD_PRELOAD="$SHIM" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" PROBE_SHIM_LOG="$LOG" \
        ${fail:+PROBE_SHIM_ENOEXEC=1} "$EMU" "$@"
}
probes() { wc -l <"$LOG"; }

# --- what this machine does ---------------------------------------------------------------
# NATIVE_LINE: what --verbose says of 386 here; EMULATED: the lines after it when not native.
if [[ -n $I386_NATIVE ]]; then
    NATIVE_LINE="emu-run: 386 runs natively here (probe ran)"
else
    NATIVE_LINE="emu-run: 386 does not run natively here (probe: exec format error): emulating"
fi
"$I386" 2>/dev/null
rc=$?
if [[ -n $I386_NATIVE ]]; then
    t_is "sanity: the i386 program exits 42 when the kernel runs it" "$rc" 42
    shimmed --arch 386 --verbose -- "$I386"
    t_is "--arch 386: the probe ran natively, so the step runs natively (42)" "$RC|$ERR|$(probes)" \
        "42|$NATIVE_LINE|1"
    shimmed --arch 386 --qemu "$FAKE" -- "$I386"
    t_is "...an emulator is not used even when given (--qemu exiting 3)" "$RC" 42
    shimmed --arch i486 --verbose -- "$I386"
    t_is "--arch i486: i386's probe answers for it" "$RC|$ERR|$(probes)" "42|emu-run: i486 runs natively here (probe ran)|1"
else
    t_is "sanity: this kernel refuses 32-bit code (exec format error: 126), as cpu-view found" "$rc" 126
    shimmed --arch 386 --verbose -- "$I386"
    t_like "--arch 386: the probe failed, so the real qemu-i386 runs the step (42) in the private instance" \
        "$RC|$(probes)|$ERR" "^42\|1\|$(sed 's/[()]/\\&/g' <<<"$NATIVE_LINE")"$'\n'"emu-run: emulation: private binfmt_misc instance \(path 1\)"
    shimmed --arch 386 --qemu "$FAKE" -- "$I386"
    t_is "...and an emulator given is the one used (--qemu exiting 3)" "$RC" 3
    # QEMU builds no qemu-i486 (its qemu-i386 takes EM_486 too; emu-run does not use it for i486 yet).
    shimmed --arch i486 --verbose -- "$I386"
    t_like "--arch i486: i386's probe answers for it; without qemu-i486, 125 naming it" "$RC|$(probes)|$ERR" \
        "^125\|1\|emu-run: cannot run i486 code: it does not run natively here \(probe: exec format error\), the private binfmt_misc instance failed \(no qemu-i486"
fi
shimmed --arch amd64 --verbose -- /bin/true
t_is "--arch amd64, the host's own platform: native, no probe" "$RC|$ERR|$(probes)" \
    "0|emu-run: linux/amd64 runs natively here: no emulation|0"
shimmed --arch arm64 --verbose -- "$FIXTURES/busybox/arm64/busybox" uname -m
t_like "--arch arm64, foreign: emulated, no probe (the common case costs nothing more)" "$RC|$OUT|$(probes)|$ERR" \
    "^0\|aarch64\|0\|emu-run: emulation: private binfmt_misc instance \(path 1\)"
t_unlike "...and --verbose says nothing about running natively" "$ERR" "natively"

# --- faked: the compat probe fails (see the header) -----------------------------------------
shimmed ENOEXEC --arch 386 --verbose --qemu "$FAKE" -- "$I386"
t_is "faked ENOEXEC: 386 is emulated through the private instance (the fake emulator's 3)" "$RC|$(probes)" "3|1"
t_like "...and --verbose says why" "$ERR" \
    "^emu-run: 386 does not run natively here \(probe: exec format error\): emulating"$'\n'"emu-run: emulation: private binfmt_misc instance \(path 1\)"
t_like "...registering qemu-i386 in the private instance only" "$ERR" "registered: :qemu-i386:M::.*:$FAKE:PF"
shimmed ENOEXEC --arch 386 -- "$I386"
t_is "faked ENOEXEC: the real qemu-i386 runs the program (42)" "$RC" 42
shimmed ENOEXEC --arch 386 --qemu "$WORK/no-such-qemu" -- "$I386"
t_like "faked ENOEXEC without an emulator: 125, saying both" "$RC|$ERR" \
    "^125\|emu-run: cannot run linux/386 code: it does not run natively here \(probe: exec format error\), the private binfmt_misc instance failed \(.*no-such-qemu"

# --- a host registration for i386 cannot fool the probe --------------------------------------
# Inside a user namespace whose own instance is mounted at /proc/sys/fs/binfmt_misc (the
# registry emu-run sees as the host's), with an i386 entry whose interpreter exits 3.
I386_MAGIC='\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00'
I386_MASK='\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
visible() { # FLAGS CMD...: an i386 entry with FLAGS ("" none) in a fresh visible instance, then CMD
    unshare --user --map-root-user --mount --propagation private -- bash -c '
        flags=$1; shift
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 99
        if [[ -n $flags ]]; then
            printf "%s" ":qemu-i386:M::$MAGIC:$MASK:$FAKE:$flags" >/proc/sys/fs/binfmt_misc/register || exit 98
        fi
        "$@"' visible "$@"
}
export MAGIC=$I386_MAGIC MASK=$I386_MASK FAKE
run visible F "$I386"
t_is "sanity: with that entry, a plain exec of the program goes through it (3)" "$RC" 3
run visible F "$EMU" --arch 386 --verbose -- "$I386"
t_is "path 1: the probe runs in the fresh private instance, not through the entry: $([[ -n $I386_NATIVE ]] && echo native || echo 'not native, real qemu-i386') (42)" \
    "$RC|$(head -1 <<<"$ERR")" "42|$NATIVE_LINE"
run visible F env EMU_RUN_NO_PRIVATE_BINFMT=1 "$EMU" --arch 386 --verbose -- "$I386"
t_is "no private instance: the entry takes the probe, so no native claim; the entry is used (3)" "$RC" 3
t_like "...and --verbose says so" "$ERR" \
    "emu-run: 386: the host's binfmt_misc entry qemu-i386 takes its programs before the kernel's own loader: emulating"
run visible "" env EMU_RUN_NO_PRIVATE_BINFMT=1 "$EMU" --arch 386 --verbose -- "$I386"
if [[ -n $I386_NATIVE ]]; then
    t_is "no private instance, no entry: a plain probe is truthful and runs: native (42)" "$RC|$ERR" \
        "42|$NATIVE_LINE"
else
    t_like "no private instance, no entry: a plain probe is truthful and fails: 125 naming the fixes" "$RC|$ERR" \
        "^125\|emu-run: cannot run linux/386 code: it does not run natively here \(probe: exec format error\), no private binfmt_misc instance"
fi
run visible "" env EMU_RUN_NO_PRIVATE_BINFMT=1 LD_PRELOAD="$SHIM" PROBE_SHIM_ENOEXEC=1 \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" "$EMU" --arch 386 -- "$I386"
t_like "faked ENOEXEC, no private instance, no entry: 125 naming the probe and the fixes" "$RC|$ERR" \
    "^125\|emu-run: cannot run linux/386 code: it does not run natively here \(probe: exec format error\), no private binfmt_misc instance \(EMU_RUN_NO_PRIVATE_BINFMT is set\), and no usable host registration .*binfmt --install 386$"

# --- where memfds may not be executed --------------------------------------------------------
# vm.memfd_noexec is per pid namespace and inherited: 2 in a pid namespace of this test's
# own refuses executable memfds there (and in emu-run's namespaces below it), never on the host.
noexec_before=$(cat /proc/sys/vm/memfd_noexec 2>/dev/null)
if [[ -n $noexec_before ]]; then
    run unshare --user --map-root-user --pid --fork --mount --mount-proc -- sh -c '
        echo 2 >/proc/sys/vm/memfd_noexec || exit 90
        python3 -c "import os; os.memfd_create(\"x\", 0x10)" 2>/dev/null && exit 91
        exec "$0" --arch 386 --verbose -- "$1"' "$EMU" "$I386"
    t_is "vm.memfd_noexec=2: the probe runs from a detached tmpfs instead ($([[ -n $I386_NATIVE ]] && echo native || echo 'fails, emulated'), 42)" \
        "$RC|$(head -1 <<<"$ERR")" "42|$NATIVE_LINE"
    t_is "...and the host's vm.memfd_noexec is untouched" "$(cat /proc/sys/vm/memfd_noexec)" "$noexec_before"
else
    skip "no vm.memfd_noexec (Linux < 6.3)" 2
fi

emu_host_unchanged "the host's binfmt_misc registry is unchanged" "$host_before"

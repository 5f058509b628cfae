#!/bin/bash
# Bad input and hostile environments: every case must fail with one clear line on
# stderr that names the problem, the documented exit code (2 usage, 3 environment
# or permission), nothing on stdout, and a registry left byte-for-byte unchanged.
# All in a private binfmt_misc instance; the host's registry is checked untouched.
# shellcheck disable=SC2016 # single-quoted code runs in the private instance, on purpose
# shellcheck disable=SC2012,SC2010 # the registry listing is what `ls` shows, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_private_binfmt
[[ -x $FIXTURES/busybox/arm64/busybox ]] ||
    skip_all "busybox for arm64 not cached in $FIXTURES (run tests/fixtures/fetch.sh)"
[[ -x /usr/bin/qemu-aarch64-static && -x /usr/bin/qemu-riscv64-static ]] ||
    skip_all "Debian's qemu-user-static is not installed"
command -v setpriv >/dev/null || skip_all "setpriv(1) not found"
plan 134

export QEMU_BINARY_PATH=/usr/bin NL=$'\n'
WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-30-bad-input.XXXXXX")
on_exit rm -rf "$WORK"
export WORK

# Interpreters that must be refused, each alone in its directory as qemu-aarch64.
mkdir -p "$WORK"/{dyn,ow,wm,owner,noexec,script,both,ro}
# dynamically linked: Debian's non-static QEMU when installed, else any dynamic binary
if [[ -x /usr/bin/qemu-aarch64 ]] && readelf -l /usr/bin/qemu-aarch64 2>/dev/null | grep -q INTERP; then
    cp /usr/bin/qemu-aarch64 "$WORK/dyn/qemu-aarch64"
else
    cp /bin/ls "$WORK/dyn/qemu-aarch64"
fi
cp /usr/bin/qemu-aarch64-static "$WORK/ow/qemu-aarch64" && chmod 0757 "$WORK/ow/qemu-aarch64"
cp "$FIXTURES/busybox/arm64/busybox" "$WORK/wm/qemu-aarch64" # an arm64 binary: wrong machine
cp /usr/bin/qemu-aarch64-static "$WORK/owner/qemu-aarch64" && chown 1000:1000 "$WORK/owner/qemu-aarch64"
cp /usr/bin/qemu-aarch64-static "$WORK/noexec/qemu-aarch64" && chmod 0644 "$WORK/noexec/qemu-aarch64"
printf '#!/bin/sh\nexec /usr/bin/qemu-aarch64-static "$@"\n' >"$WORK/script/qemu-aarch64"
chmod 0755 "$WORK/script/qemu-aarch64"
# a dynamic qemu-aarch64 next to a static qemu-aarch64-static: the static one is used
cp "$WORK/dyn/qemu-aarch64" "$WORK/both/qemu-aarch64"
cp /usr/bin/qemu-aarch64-static "$WORK/both/qemu-aarch64-static"
LONG=$(printf 'a%.0s' {1..5000})
export LONG

# --- host registry snapshot ----------------------------------------------------------
host_before=$(host_listing)

# --- helpers (run inside the private instance) -----------------------------------------

# refused DESC EXIT ERE CMD...: 3 test points. CMD exits EXIT; stderr is one
# "binfmt: ..." line matching ERE (plus, for usage errors, the "Try" hint);
# stdout is empty and the registry unchanged.
refused() {
    local desc=$1 want=$2 ere=$3 before
    shift 3
    before=$(snapshot)
    run "$@"
    t_is "$desc: exit $want" "$RC" "$want"
    t_like "$desc: one line on stderr naming the problem" "$ERR" \
        "^binfmt: [^$NL]*($ere)[^$NL]*($NL""Try 'binfmt --help' for more information\\.)?\$"
    t_is "$desc: nothing on stdout, registry unchanged" "$OUT$(snapshot)" "$before"
}
bad() { # DESC EXIT ERE ARGS...: refused, for binfmt --mount $BM ARGS...
    local desc=$1 want=$2 ere=$3
    shift 3
    refused "$desc" "$want" "$ere" "$BINFMT" --mount "$BM" "$@"
}

checks() {
    # Something to keep unchanged: one of ours, one of someone else's.
    run "$BINFMT" --mount "$BM" --install riscv64
    printf '%s' ':WSLInterop:E::wsl::/bin/true:' >"$BM/register"
    t_is "pre-registered qemu-riscv64 and WSLInterop" "$RC|$(ls "$BM" | paste -sd' ' -)" \
        "0|WSLInterop qemu-riscv64 register status"

    # --- names (usage errors, exit 2) ---
    bad "--install foo" 2 "unknown architecture 'foo'; accepted: .*linux/arm64" --install foo
    bad "--install ''" 2 "empty list" --install ''
    bad "--install arm64,," 2 "empty name" --install arm64,,
    bad "--install linux/foo" 2 "'linux/foo'.*accepted: .*linux/arm64" --install linux/foo
    bad "--install a:b" 2 "'a:b'.*accepted" --install a:b
    bad "--install 'arm64 riscv64'" 2 "'arm64 riscv64'.*accepted" --install 'arm64 riscv64'
    bad "--install windows/amd64" 2 "not a linux platform" --install windows/amd64
    bad "--install of a 5000-character name" 2 "5000 characters.*too long" --install "$LONG"
    bad "--install arm64 with one bad name installs nothing" 2 "unknown architecture 'foo'" --install arm64,foo
    bad "--uninstall riscv64 with one bad name removes nothing" 2 "unknown architecture 'foo'" \
        --uninstall riscv64,foo
    bad "--uninstall foo" 2 "unknown architecture 'foo'" --uninstall foo

    # --- options (usage errors, exit 2) ---
    bad "nonexistent --qemu-path" 2 "'$WORK/missing' does not exist" --qemu-path "$WORK/missing" --install arm64
    bad "--flags C" 2 "--credential" --flags C --install arm64
    bad "--flags X" 2 "invalid --flags 'X'" --flags X --install arm64
    bad "unexpected positional argument" 2 "unexpected argument 'extra'" --install arm64 extra
    refused "QEMU_BINARY_PREFIX with a slash" 2 "QEMU_BINARY_PREFIX 'bad/'" \
        env QEMU_BINARY_PREFIX=bad/ "$BINFMT" --mount "$BM" --install arm64
    # BINFMT_PROBE_TIMEOUT_MS was read with an unchecked strtoul (issue 17): "abc"
    # and "-1" became 0 and a huge wait, silently. Digits, 1 to 600000, only.
    local v
    for v in abc -1 0 600001 ' 5' 99999999999999999999; do
        refused "BINFMT_PROBE_TIMEOUT_MS='$v'" 2 "BINFMT_PROBE_TIMEOUT_MS='$v' is not a number of milliseconds from 1 to 600000 \\(unset it for the default, 3000\\)" \
            env BINFMT_PROBE_TIMEOUT_MS="$v" "$BINFMT" --mount "$BM" --install arm64
    done
    run env BINFMT_PROBE_TIMEOUT_MS= "$BINFMT" --mount "$BM" --dry-run --install arm64
    t_is "BINFMT_PROBE_TIMEOUT_MS set but empty: the default (as QEMU_BINARY_PATH)" "$RC" 0
    run env BINFMT_PROBE_TIMEOUT_MS=4000 "$BINFMT" --mount "$BM" --dry-run --install arm64
    t_is "BINFMT_PROBE_TIMEOUT_MS=4000 is taken" "$RC" 0

    # --- unsafe interpreters (environment, exit 3) ---
    bad "dynamically linked interpreter" 3 "$WORK/dyn/qemu-aarch64 is dynamically linked.*static" \
        --qemu-path "$WORK/dyn" --install arm64
    refused "dynamically linked interpreter via QEMU_BINARY_PATH" 3 "dynamically linked" \
        env QEMU_BINARY_PATH="$WORK/dyn" "$BINFMT" --mount "$BM" --install arm64
    bad "interpreter writable by others" 3 "$WORK/ow/qemu-aarch64 is writable by group or others" \
        --qemu-path "$WORK/ow" --install arm64
    bad "interpreter for the wrong machine (arm64 busybox)" 3 "$WORK/wm/qemu-aarch64 is built for another machine" \
        --qemu-path "$WORK/wm" --install arm64
    bad "interpreter not owned by root" 3 "$WORK/owner/qemu-aarch64 is owned by uid [0-9]+, not root" \
        --qemu-path "$WORK/owner" --install arm64
    bad "interpreter not executable" 3 "$WORK/noexec/qemu-aarch64 is not executable" \
        --qemu-path "$WORK/noexec" --install arm64
    bad "interpreter is a shell script" 3 "$WORK/script/qemu-aarch64 is not an ELF file" \
        --qemu-path "$WORK/script" --install arm64

    # --- --quiet changes what success prints, not what is checked or refused ---
    bad "--quiet: a dynamically linked interpreter is still refused" 3 "$WORK/dyn/qemu-aarch64 is dynamically linked" \
        --qemu-path "$WORK/dyn" --install arm64 --quiet
    bad "--install all --quiet: an emulator for another machine is still refused" 3 \
        "$WORK/wm/qemu-aarch64 is built for another machine" --qemu-path "$WORK/wm" --install all --quiet
    bad "--quiet: an interpreter not owned by root is still refused" 3 "$WORK/owner/qemu-aarch64 is owned by uid" \
        --qemu-path "$WORK/owner" -q --install arm64
    bad "--quiet without --install/--uninstall (nothing to silence)" 2 "--quiet is for --install/--uninstall" --quiet
    bad "--quiet --dry-run" 2 "--quiet does not combine with --dry-run" --install arm64 --quiet --dry-run
    bad "-q -v" 2 "--quiet does not combine with --verbose" -q -v --install arm64

    # --- the libraries loaded only when needed (environment, exit 3) ---
    # A kernel without binfmt_misc: faked by a /proc/filesystems without it, in a
    # mount namespace of its own; the module cannot really be loaded from here.
    mkdir -p "$WORK/unmounted" "$WORK/badlib"
    grep -vw binfmt_misc /proc/filesystems >"$WORK/filesystems"
    echo "not a library" >"$WORK/badlib/libkmod.so.2"
    echo "not a library" >"$WORK/badlib/libmount.so.1"
    nofs() { unshare --mount --propagation private sh -c 'mount --bind "$1" /proc/filesystems && shift && exec "$@"' \
        _ "$WORK/filesystems" "$@"; }
    refused "binfmt_misc missing from the kernel: libkmod is loaded, the module is not there" 3 \
        "module could not be loaded.*modprobe binfmt_misc|not available in this kernel even after loading" \
        nofs "$BINFMT" --mount "$WORK/unmounted" --install arm64
    refused "... and libkmod cannot be loaded: says so, and the fix" 3 \
        "needs libkmod\.so\.2, which cannot be used \($WORK/badlib/libkmod\.so\.2: .*modprobe binfmt_misc" \
        nofs env LD_LIBRARY_PATH="$WORK/badlib" "$BINFMT" --mount "$WORK/unmounted" --install arm64 --quiet
    refused "binfmt_misc to be mounted, libmount cannot be loaded: says so, and the fix" 3 \
        "$WORK/unmounted: mounting needs libmount\.so\.1, which cannot be used .*mount -t binfmt_misc" \
        env LD_LIBRARY_PATH="$WORK/badlib" "$BINFMT" --mount "$WORK/unmounted" --install arm64
    t_is "... and nothing was mounted there" "$(findmnt -n -o FSTYPE "$WORK/unmounted")" ""

    # --- privileges (environment, exit 3) ---
    refused "root without CAP_SYS_ADMIN" 3 "CAP_SYS_ADMIN.*--privileged" \
        setpriv --bounding-set=-sys_admin "$BINFMT" --mount "$BM" --install arm64
    refused "unprivileged user (nested user namespace, no root mapping)" 3 "CAP_SYS_ADMIN|--privileged" \
        unshare --user "$BINFMT" --mount "$BM" --install arm64
    if ! { mount --bind "$BM" "$WORK/ro" && mount -o remount,bind,ro "$WORK/ro"; }; then
        t_fail "bind-mount the instance read-only at $WORK/ro"
    fi
    refused "read-only binfmt_misc mount (--install)" 3 "read-only.*--privileged" \
        "$BINFMT" --mount "$WORK/ro" --install arm64
    refused "read-only binfmt_misc mount (--uninstall)" 3 "read-only.*--privileged" \
        "$BINFMT" --mount "$WORK/ro" --uninstall riscv64
    umount "$WORK/ro"

    # --- the static emulator is chosen over a dynamic one of the same name ---
    local before
    before=$(snapshot)
    run "$BINFMT" --mount "$BM" --qemu-path "$WORK/both" --install arm64
    t_is "dynamic qemu-aarch64 next to qemu-aarch64-static: exit 0" "$RC" 0
    t_like "... the static one is registered" "$(cat "$BM/qemu-aarch64" 2>&1)" \
        $'\ninterpreter '"$WORK"$'/both/qemu-aarch64-static\n'
    run "$BINFMT" --mount "$BM" --uninstall arm64
    t_is "... and uninstalling it restores the registry" "$RC|$(snapshot)" "0|$before"
}

in_private_binfmt checks
rc=$?
((rc != 125)) || t_fail "private binfmt_misc instance"

# --- last: host untouched ---------------------------------------------------------------
t_is "host $HOST_BM state identical before and after" "$(host_listing)" "$host_before"

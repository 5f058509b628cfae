#!/bin/bash
# binfmt --install / --uninstall for real, in a private binfmt_misc instance:
# entries as the kernel shows them, real foreign busybox binaries running through
# them (argv0 kept by P, chroot without the emulator inside thanks to F),
# idempotency, every alias on uninstall, --install all / --uninstall all, and the
# status JSON. The host's registry is never touched (checked at the end).
# shellcheck disable=SC2016 # single-quoted code runs in the private instance, on purpose
# shellcheck disable=SC2012,SC2010 # the registry listing is what `ls` shows, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_private_binfmt
for a in arm64 armhf ppc64el s390x riscv64 mips64el; do
    [[ -x $FIXTURES/busybox/$a/busybox ]] ||
        skip_all "busybox for $a not cached in $FIXTURES (run tests/fixtures/fetch.sh)"
done
[[ -x /usr/bin/qemu-aarch64-static ]] || skip_all "Debian's qemu-user-static is not installed"
plan 66

# Emulators come from /usr/bin (Debian's qemu-user-static), whatever is staged.
export QEMU_BINARY_PATH=/usr/bin NL=$'\n'
WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-10-install.XXXXXX")
on_exit rm -rf "$WORK"
export WORK

# --- host registry snapshot ----------------------------------------------------------
host_before=$(host_listing)

# --- helpers (run inside the private instance) -----------------------------------------

bb() { printf '%s\n' "$FIXTURES/busybox/$1/busybox"; }

# The kernel's view of our entry for CPU: QEMU's magic/mask with EI_OSABI masked.
expected_entry() {
    local magic mask
    case $1 in
    aarch64) magic=7f454c460201010000000000000000000200b700 mask=ffffffffffffff00fffffffffffffffffeffffff ;;
    arm) magic=7f454c4601010100000000000000000002002800 mask=ffffffffffffff00fffffffffffffffffeffffff ;;
    ppc64le) magic=7f454c4602010100000000000000000002001500 mask=ffffffffffffff00fffffffffffffffffeffff00 ;;
    s390x) magic=7f454c4602020100000000000000000000020016 mask=ffffffffffffff00fffffffffffffffffffeffff ;;
    riscv64) magic=7f454c460201010000000000000000000200f300 mask=ffffffffffffff00fffffffffffffffffeffffff ;;
    esac
    printf 'enabled\ninterpreter /usr/bin/qemu-%s-static\nflags: %s\noffset 0\nmagic %s\nmask %s' \
        "$1" "${2:-PF}" "$magic" "$mask"
}

# Golden status JSON: exact, but for what runs natively, which depends on the
# machine and on how binfmt runs (valgrind's CPUID has no AVX-512; some kernels
# refuse 32-bit code): NATIVE_PLATFORMS and I386_NATIVE, from lib.sh's cpu-view run
# the way binfmt runs.
EMPTY_STATUS=$(status_json "$NATIVE_PLATFORMS $I386_NATIVE" "")
export EMPTY_STATUS

json_ok() { # stdin: status JSON; exits 0 when it parses with the documented shape
    python3 -c 'import json,sys
d=json.load(sys.stdin)
assert sorted(d)==["emulators","supported"], d
assert isinstance(d["supported"],list) and isinstance(d["emulators"],list)
assert all(isinstance(x,str) for x in d["supported"]+d["emulators"])'
}

checks() {
    local cpu out rc a expect

    # --- 1-3: install five targets ---
    bf --install arm64,armhf,ppc64el,s390x,riscv64
    t_is "install five targets: exit 0" "$RC" 0
    t_is "one OK line per item on stderr" "$ERR" "installing: linux/arm64 (qemu-aarch64) OK
installing: linux/arm/v7 (qemu-arm) OK
installing: linux/ppc64le (qemu-ppc64le) OK
installing: linux/s390x (qemu-s390x) OK
installing: linux/riscv64 (qemu-riscv64) OK"
    t_is "registry lists the five entries" "$(listing)" \
        "qemu-aarch64 qemu-arm qemu-ppc64le qemu-riscv64 qemu-s390x register status"

    # --- 4-8: entries as the kernel shows them ---
    for cpu in aarch64 arm ppc64le s390x riscv64; do
        t_is "entry qemu-$cpu: enabled, PF, static interpreter, table magic/mask" \
            "$(cat "$BM/qemu-$cpu" 2>&1)" "$(expected_entry "$cpu")"
    done

    # --- 9: status printed after the install ---
    t_is "status JSON on stdout after install" "$OUT" "$(status_json \
        "$NATIVE_PLATFORMS linux/arm64 linux/riscv64 linux/ppc64le linux/s390x $I386_NATIVE linux/arm/v7 linux/arm/v6" \
        "qemu-aarch64 qemu-arm qemu-ppc64le qemu-riscv64 qemu-s390x")"

    # --- 10-14: real foreign binaries run ---
    for a in arm64:aarch64 armhf:armv7l ppc64el:ppc64le s390x:s390x riscv64:riscv64; do
        t_is "${a%%:*} busybox: uname -m" "$("$(bb "${a%%:*}")" uname -m 2>&1)" "${a#*:}"
    done

    # --- 15-16: argv0 survives (P) ---
    ln -s "$(bb arm64)" "$WORK/echo"
    t_is "busybox applet through a symlink named echo" "$("$WORK/echo" hi 2>&1)" "hi"
    t_is "busybox applet via argv0 only (exec -a echo busybox): needs P" \
        "$( (exec -a echo "$(bb arm64)" hi) 2>&1)" "hi"

    # --- 17: a #!/bin/sh script in a foreign chroot without QEMU inside (F) ---
    mkdir -p "$WORK/root/bin"
    cp "$(bb arm64)" "$WORK/root/bin/busybox"
    cp "$(bb arm64)" "$WORK/root/bin/sh"
    printf '#!/bin/sh\necho "chroot $(/bin/busybox uname -m) $((6*7))"\n' >"$WORK/root/script.sh"
    chmod 755 "$WORK/root/script.sh"
    t_is "#!/bin/sh script runs in an arm64 chroot without QEMU in it" \
        "$(chroot "$WORK/root" /script.sh 2>&1; echo "rc=$?")" $'chroot aarch64 42\nrc=0'

    # --- 18-20: idempotency ---
    local before
    before=$(snapshot)
    bf --install arm64,armhf,ppc64el,s390x,riscv64
    t_is "second install: exit 0" "$RC" 0
    t_is "second install: every item already registered" "$ERR" \
        "installing: linux/arm64 (qemu-aarch64) OK (already registered)
installing: linux/arm/v7 (qemu-arm) OK (already registered)
installing: linux/ppc64le (qemu-ppc64le) OK (already registered)
installing: linux/s390x (qemu-s390x) OK (already registered)
installing: linux/riscv64 (qemu-riscv64) OK (already registered)"
    t_is "second install: entries unchanged" "$(snapshot)" "$before"

    # --- 21-24: uninstall by alias ---
    bf --uninstall armhf
    t_is "uninstall armhf removes qemu-arm" "$RC|$ERR|$(listing)" \
        "0|uninstalling: linux/arm/v7 (qemu-arm) OK|qemu-aarch64 qemu-ppc64le qemu-riscv64 qemu-s390x register status"
    bf --uninstall ppc64el
    t_is "uninstall ppc64el removes qemu-ppc64le" "$RC|$ERR|$(listing)" \
        "0|uninstalling: linux/ppc64le (qemu-ppc64le) OK|qemu-aarch64 qemu-riscv64 qemu-s390x register status"
    bf --uninstall qemu-s390x
    t_is "uninstall qemu-s390x removes qemu-s390x" "$RC|$ERR|$(listing)" \
        "0|uninstalling: linux/s390x (qemu-s390x) OK|qemu-aarch64 qemu-riscv64 register status"
    bf --uninstall linux/riscv64
    t_is "uninstall linux/riscv64 removes qemu-riscv64" "$RC|$ERR|$(listing)" \
        "0|uninstalling: linux/riscv64 (qemu-riscv64) OK|qemu-aarch64 register status"

    # --- 25-28: status with only arm64 installed ---
    bf
    t_is "status (no action): exit 0, nothing on stderr" "$RC|$ERR" "0|"
    t_is "status with only arm64: supported has linux/arm64 (not riscv64), emulators qemu-aarch64" "$OUT" \
        "$(status_json "$NATIVE_PLATFORMS linux/arm64 $I386_NATIVE" qemu-aarch64)"
    t_ok "status JSON parses; both keys are lists of strings" json_ok <<<"$OUT"
    t_unlike "linux/riscv64 not supported once its entry is gone" "$OUT" 'linux/riscv64'

    # --- 29-30: the last one, and the binaries stop running ---
    bf --uninstall linux/arm64
    t_is "uninstall linux/arm64 removes qemu-aarch64" "$RC|$ERR|$(listing)" \
        "0|uninstalling: linux/arm64 (qemu-aarch64) OK|register status"
    out=""
    for a in arm64 armhf ppc64el s390x riscv64; do
        out+="$a: $("$(bb "$a")" uname -m 2>&1 | grep -o 'Exec format error')"$'\n'
    done
    t_is "after uninstall every busybox fails with Exec format error" "$out" \
        $'arm64: Exec format error\narmhf: Exec format error\nppc64el: Exec format error\ns390x: Exec format error\nriscv64: Exec format error\n'

    # --- 31-33: uninstalling what is not there ---
    bf --uninstall arm64
    t_is "uninstall arm64 again: exit 0, not installed" "$RC|$ERR" \
        "0|uninstalling: linux/arm64 (qemu-aarch64) OK (not installed)"
    bf --uninstall mips64le
    t_is "uninstall mips64le (never installed): exit 0, not installed" "$RC|$ERR" \
        "0|uninstalling: linux/mips64le (qemu-mips64el) OK (not installed)"
    t_is "status JSON after uninstalling everything" "$OUT" "$EMPTY_STATUS"

    # --- 34-40: --install all, --uninstall all ---
    bf --install all
    t_is "install all: exit 0" "$RC" 0
    # i386 and i486 are native only where 32-bit code runs here (lib.sh's I386_NATIVE).
    if [[ -n $I386_NATIVE ]]; then
        t_like "install all: i386, i486, x86_64 skipped as native" "$ERR" \
            $'installing: linux/386 \\(qemu-i386\\) skipped: runs natively on this host\ninstalling: qemu-i486 skipped: runs natively on this host\ninstalling: linux/amd64 \\(qemu-x86_64\\) skipped: runs natively on this host\n'
    else
        t_like "install all: x86_64 skipped as native, i386 emulated (32-bit code does not run natively here)" "$ERR" \
            $'installing: linux/386 \\(qemu-i386\\) OK\n(installing: qemu-i486 OK\n)?installing: linux/amd64 \\(qemu-x86_64\\) skipped: runs natively on this host\n'
    fi
    expect=$(expected_install_all /usr/bin)
    t_is "install all: one entry per emulator in /usr/bin, none native" \
        "$(ls "$BM" | grep -v -e '^register$' -e '^status$' | LC_ALL=C sort | paste -sd' ' -)" "$expect"
    out=""
    for f in "$BM"/qemu-*; do
        grep -qx 'enabled' "$f" && grep -qx 'flags: PF' "$f" &&
            grep -qx "interpreter /usr/bin/${f##*/}-static" "$f" || out+="${f##*/} "
    done
    t_is "install all: every entry enabled, PF, its own static emulator" "$out" ""
    out=""
    for a in arm64:aarch64 armhf:armv7l ppc64el:ppc64le s390x:s390x riscv64:riscv64 mips64el:mips64; do
        out+="$("$(bb "${a%%:*}")" uname -m 2>&1) "
    done
    t_is "install all: all six foreign busyboxes run" "$out" "aarch64 armv7l ppc64le s390x riscv64 mips64 "
    t_is "install all: supported lists every platform in BuildKit order" \
        "$(python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["supported"]))' <<<"$OUT")" \
        "linux/amd64 ${AMD64_LEVELS:+$AMD64_LEVELS }linux/arm64 linux/riscv64 linux/ppc64 linux/ppc64le linux/s390x linux/386 linux/mips64le linux/mips64 linux/loong64 linux/arm/v7 linux/arm/v6 linux/mipsle linux/mips"
    t_is "install all: emulators lists every entry" \
        "$(python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["emulators"]))' <<<"$OUT")" "$expect"

    bf --uninstall all
    t_is "uninstall all: exit 0, registry empty, empty status" "$RC|$(listing)|$OUT" \
        "0|register status|$EMPTY_STATUS"
    t_is "uninstall all: one OK line per removed entry" "$(grep -c ' OK$' <<<"$ERR")" \
        "$(wc -w <<<"$expect")"

    # --- 43-53: --quiet: the same registry, nothing printed on success ---
    local loud quiet
    bf --install all
    loud=$(snapshot)
    bf --uninstall all
    rc=0
    out=$("$BINFMT" --mount "$BM" --install all --quiet 2>&1) || rc=$?
    t_is "install all --quiet: exit 0, nothing on stdout or stderr (not even the user-namespace note)" \
        "$rc|$out" "0|"
    quiet=$(snapshot)
    t_is "install all --quiet: the registry a non-quiet install makes, byte for byte" "$quiet" "$loud"
    rc=0
    out=$("$BINFMT" --mount "$BM" -q --install all 2>&1) || rc=$?
    t_is "-q --install all again (everything registered): exit 0, silent, unchanged" \
        "$rc|$out|$(snapshot)" "0||$quiet"
    if [[ -z ${BINFMT_VALGRIND:-} ]] && command -v strace >/dev/null 2>&1; then
        bf --uninstall all
        strace -f -qq -e trace=openat -o "$WORK/trace" "$BINFMT" --mount "$BM" --install all --quiet >/dev/null 2>&1
        # Each check opens the emulator once, by name in its already opened
        # directory, not following links, not blocking (issue 20); libelf's
        # reading is cached (test_interp.c): checked before and under the lock.
        out=$(grep -o '"qemu-[^"]*", O_RDONLY|O_NONBLOCK|O_NOFOLLOW' "$WORK/trace" | cut -d'"' -f2 | sort)
        t_is "install all: each emulator opened once per check (before and again under the lock)" \
            "$(uniq -c <<<"$out" | awk '$1 > 2')|$(($(sort -u <<<"$out" | wc -l) > 20))" "|1"
        t_is "... and this program's own ELF header once, not once per emulator" \
            "$(grep -c '"/proc/self/exe", O_RDONLY' "$WORK/trace")" 1
    else
        skip "strace missing, or binfmt runs under valgrind" 2
    fi
    rc=0
    out=$("$BINFMT" --mount "$BM" --uninstall all --quiet 2>&1) || rc=$?
    t_is "uninstall all --quiet: exit 0, silent, registry empty" "$rc|$out|$(listing)" "0||register status"

    # A conflict (exit 4): its line, and only it.
    printf '%s' ':qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/bin/false:F' \
        >"$BM/register"
    bf --install arm64,riscv64 --quiet
    t_is "--quiet with a conflict: exit 4, one CONFLICT line, nothing on stdout, the rest installed" \
        "$RC|$OUT|$(listing)" "4||qemu-aarch64 qemu-riscv64 register status"
    t_like "... the line names the entry in the way" "$ERR" \
        '^installing: linux/arm64 \(qemu-aarch64\) CONFLICT: entry qemu-aarch64 exists with [^'"$NL"']*/bin/false[^'"$NL"']*$'
    echo -1 >"$BM/status"

    # A registration the kernel refuses (exit 1, rolled back): the emulator passes
    # every check but sits on a noexec mount, which F cannot open.
    mkdir -p "$WORK/noexec"
    if mount -t tmpfs -o noexec tmpfs "$WORK/noexec" && cp /usr/bin/qemu-aarch64-static "$WORK/noexec/"; then
        rc=0
        out=$(QEMU_BINARY_PATH="$WORK/noexec:/usr/bin" "$BINFMT" --mount "$BM" --install riscv64,arm64 --quiet \
            2>"$WORK/err") || rc=$?
        t_is "--quiet, the kernel refuses one: exit 1, rolled back, nothing on stdout" \
            "$rc|$out|$(listing)" "1||register status"
        t_like "... one FAILED line on stderr, with the cause" "$(cat "$WORK/err")" \
            '^installing: linux/arm64 \(qemu-aarch64\) FAILED: [^'"$NL"']*noexec[^'"$NL"']*$'
        umount "$WORK/noexec"
    else
        t_fail "mount a noexec tmpfs at $WORK/noexec"
        t_fail "(skipped with it)"
    fi

    # Nothing mounted at --mount: libmount, loaded only now, mounts binfmt_misc there
    # (this user namespace's instance, the one at $BM: hence the flush after).
    mkdir -p "$WORK/unmounted"
    out=$(unshare --mount --propagation private sh -c \
        '"$1" --mount "$2" --install arm64 --quiet && cat "$2/qemu-aarch64"' _ "$BINFMT" "$WORK/unmounted" 2>&1)
    t_like "binfmt_misc not mounted at --mount: mounted (libmount loaded on demand), registered, silent" "$out" \
        '^enabled'"$NL"'interpreter /usr/bin/qemu-aarch64-static'"$NL"
    echo -1 >"$BM/status"

    # --- 54: without F the chroot needs QEMU inside: proves F did the work above ---
    bf --flags P --install arm64
    # The install itself must have worked (issue 17: a failed one made the point
    # below pass too): registered, with P and without F.
    t_is "--flags P: registered (exit 0), flags P only" "$RC|$(grep '^flags' "$BM/qemu-aarch64" 2>&1)" "0|flags: P"
    rc=0
    out=$(chroot "$WORK/root" /script.sh 2>&1) || rc=$?
    t_isnt "with flags P only the arm64 chroot script does not run (exit $rc)" "$out|$rc" "chroot aarch64 42|0"
    echo -1 >"$BM/status"

    # --- the short options (util-linux style; binfmt(8)): -m -n -i -f -u ---
    run "$BINFMT" -m "$BM" -n -i arm64
    t_is "-m DIR -n -i arm64: a dry run (exit 0) printing the register string, nothing registered" \
        "$RC|${OUT%%:M:*}|$(listing)" "0|:qemu-aarch64|register status"
    # Someone else's entry of that name: the same magic, another interpreter.
    foreign=${OUT%:/*}:/bin/true:
    run "$BINFMT" -m "$BM" -i arm64 -q
    t_is "-m DIR -i arm64 -q: registered, quiet" "$RC|$OUT|$(listing)" "0||qemu-aarch64 register status"
    echo -1 >"$BM/qemu-aarch64"
    printf '%s' "$foreign" >"$BM/register"
    run "$BINFMT" -m "$BM" -i arm64
    t_is "...without -f that entry is a conflict (exit 4), left alone" "$RC|$(grep '^interpreter' "$BM/qemu-aarch64")" \
        "4|interpreter /bin/true"
    run "$BINFMT" -m "$BM" -f -i arm64
    t_is "-f -i arm64: a foreign entry of that name replaced (exit 0)" "$RC|$(grep '^interpreter' "$BM/qemu-aarch64")" \
        "0|interpreter /usr/bin/qemu-aarch64-static"
    run "$BINFMT" -m "$BM" -u arm64
    t_is "-u arm64: removed (exit 0)" "$RC|$(listing)" "0|register status"

    # --- the environment (binfmt(8) ENVIRONMENT), dry runs: the register string ---
    flags_of() { sed -n 's/^:qemu-aarch64:.*:\([A-Z]*\)$/\1/p' <<<"$OUT"; }
    local v got=""
    for v in 0 false NO ''; do
        run env QEMU_PRESERVE_ARGV0="$v" "$BINFMT" -m "$BM" -n -i arm64
        got+="[$v]$RC:$(flags_of) "
    done
    t_is "QEMU_PRESERVE_ARGV0 empty, 0, false, no: without P" "$got" "[0]0:F [false]0:F [NO]0:F []0:F "
    run env QEMU_PRESERVE_ARGV0=yes "$BINFMT" -m "$BM" -n -i arm64
    t_is "QEMU_PRESERVE_ARGV0=yes: with P" "$RC:$(flags_of)" "0:PF"
    run env QEMU_PRESERVE_ARGV0=0 "$BINFMT" -m "$BM" -n -i arm64 --flags PF
    t_is "...and --flags wins over it (explicit flags as given)" "$RC:$(flags_of)" "0:PF"
    # The suite sets QEMU_BINARY_PATH; empty must search as unset does (the
    # staged payload next to binfmt first), not as "" or the current directory.
    run env -u QEMU_BINARY_PATH "$BINFMT" -m "$BM" -n -i arm64
    local unset_out=$RC:$OUT
    run env QEMU_BINARY_PATH= "$BINFMT" -m "$BM" -n -i arm64
    t_is "QEMU_BINARY_PATH set but empty: the default search, as when unset" "$RC:$OUT" "$unset_out"
    t_is "...nothing registered by any of these" "$(listing)" "register status"
}

in_private_binfmt checks
rc=$?
((rc != 125)) || t_fail "private binfmt_misc instance"

# --- 55: host untouched ---------------------------------------------------------------
t_is "host $HOST_BM state identical before and after" "$(host_listing)" "$host_before"

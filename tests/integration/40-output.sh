#!/bin/bash
# What binfmt prints and writes without (or besides) registering: --dry-run's
# register strings, --export's binfmt.d files (and that the kernel accepts them as
# systemd-binfmt would write them), the flags new entries get (QEMU_PRESERVE_ARGV0,
# --flags, --credential), -V, -h, Go-style options, -v, and the status JSON golden.
# All in private binfmt_misc instances; the host's registry is checked untouched.
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
plan 52

export QEMU_BINARY_PATH=/usr/bin NL=$'\n'
WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-40-output.XXXXXX")
on_exit rm -rf "$WORK"
export WORK BB_ARM64=$FIXTURES/busybox/arm64/busybox
unset QEMU_PRESERVE_ARGV0 QEMU_BINARY_PREFIX

MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
export A64_LINE=':qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:'"$MASK"':/usr/bin/qemu-aarch64-static:PF'
export RV64_LINE=':qemu-riscv64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00:'"$MASK"':/usr/bin/qemu-riscv64-static:PF'
# Exact, but for what runs natively (machine- and wrapper-dependent: lib.sh's cpu-view).
EMPTY_STATUS=$(status_json "$NATIVE_PLATFORMS $I386_NATIVE" "")
export EMPTY_STATUS

# --- host registry snapshot ----------------------------------------------------------
host_before=$(host_listing)

# --- helpers (run inside the private instance) -----------------------------------------
# flags_of [VAR=VALUE...] -- ARGS...: install arm64 with that environment and
# arguments; prints "exit status|flags line", then removes the entry.
flags_of() {
    local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    run env "${envs[@]}" "$BINFMT" --mount "$BM" --install arm64 "$@"
    printf '%s|%s' "$RC" "$(grep '^flags:' "$BM/qemu-aarch64" 2>&1)"
    [[ -e $BM/qemu-aarch64 ]] && echo -1 >"$BM/qemu-aarch64"
}

checks() {
    local before conf line

    # --- 1-2: status golden on an empty instance ---
    bf
    if [[ $(uname -m) == x86_64 ]]; then
        t_is "status on an empty instance: the golden JSON, exactly" "$OUT" "$EMPTY_STATUS"
    else
        skip "golden status is for x86_64 hosts"
    fi
    t_is "status: exit 0, nothing on stderr" "$RC|$ERR" "0|"

    # --- 3-10: --dry-run ---
    before=$(snapshot)
    bf --dry-run --install arm64
    t_is "dry-run arm64: exit 0" "$RC" 0
    t_is "dry-run arm64: stdout is exactly the register string" "$OUT" "$A64_LINE"
    t_is "dry-run arm64: stderr says what would happen" "$ERR" \
        "installing: linux/arm64 (qemu-aarch64) would be registered"
    t_is "dry-run arm64: registry unchanged" "$(snapshot)" "$before"
    bf --dry-run --install arm64,riscv64
    t_is "dry-run arm64,riscv64: one register string per line" "$RC|$OUT" "0|$A64_LINE$NL$RV64_LINE"
    printf '%s' "$A64_LINE" >"$BM/register"
    before=$(snapshot)
    bf --dry-run --install arm64,riscv64
    t_is "dry-run with arm64 registered: only riscv64's string" "$RC|$OUT" "0|$RV64_LINE"
    bf --dry-run --uninstall arm64
    t_is "dry-run uninstall: no output, would be removed" "$RC|$OUT|$ERR" \
        "0||uninstalling: linux/arm64 (qemu-aarch64) would be removed"
    t_is "dry-runs left the registry unchanged" "$(snapshot)" "$before"
    echo -1 >"$BM/status"

    # --- 11-19: --export ---
    mkdir -p "$WORK/binfmt.d"
    bf --export "$WORK/binfmt.d" --install arm64
    t_is "export arm64: exit 0" "$RC" 0
    t_is "export arm64: says where it wrote" "$ERR" \
        "exporting: linux/arm64 (qemu-aarch64) -> $WORK/binfmt.d/qemu-aarch64.conf"
    t_is "export arm64: exactly qemu-aarch64.conf written" "$(ls -A "$WORK/binfmt.d")" "qemu-aarch64.conf"
    conf=$(cat "$WORK/binfmt.d/qemu-aarch64.conf" 2>&1)
    t_is "export: the non-comment line equals the dry-run line" "$(grep -v '^[#;]' <<<"$conf")" "$A64_LINE"
    t_unlike "export: every other line is a comment" "$(grep -v -e '^[#;]' -e '^$' <<<"$conf" | sed 1d)" .
    t_is "export: nothing registered" "$(listing)" "register status"
    # What systemd-binfmt does with the file: each non-comment line, one write.
    while IFS= read -r line; do
        [[ -z $line || $line == [#\;]* ]] && continue
        printf '%s' "$line" >"$BM/register" || break
    done <"$WORK/binfmt.d/qemu-aarch64.conf"
    t_like "exported line accepted by the kernel: entry with flags PF" "$(cat "$BM/qemu-aarch64" 2>&1)" \
        $'^enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: PF\n'
    t_is "exported entry runs arm64 busybox" "$("$BB_ARM64" uname -m 2>&1)" "aarch64"
    bf --install arm64
    t_is "binfmt then finds it already registered" "$RC|$ERR" \
        "0|installing: linux/arm64 (qemu-aarch64) OK (already registered)"
    echo -1 >"$BM/status"

    # --- 20-24: --export errors, --export --quiet ---
    bf --export "$WORK/missing" --install arm64
    t_is "export into a missing dir: exit 3" "$RC" 3
    t_like "export into a missing dir: says it does not exist" "$ERR" "^binfmt: [^$NL]*$WORK/missing does not exist"
    t_is "export into a missing dir: nothing created or registered" \
        "$([[ -e $WORK/missing ]] && echo created)|$(listing)" "|register status"
    bf --export "$WORK/binfmt.d" --dry-run --install arm64
    t_is "export with --dry-run: usage error" "$RC" 2
    rm -f "$WORK/binfmt.d"/*
    bf --export "$WORK/binfmt.d" --install arm64 --quiet
    t_is "export --quiet: exit 0, nothing on stdout or stderr, the file written, nothing registered" \
        "$RC|$OUT|$ERR|$(ls -A "$WORK/binfmt.d")|$(listing)" "0|||qemu-aarch64.conf|register status"

    # --- 25-34: flags of new entries ---
    t_is "default flags: PF" "$(flags_of --)" "0|flags: PF"
    t_is "QEMU_PRESERVE_ARGV0=0: flags F" "$(flags_of QEMU_PRESERVE_ARGV0=0 --)" "0|flags: F"
    t_is "QEMU_PRESERVE_ARGV0=false: flags F" "$(flags_of QEMU_PRESERVE_ARGV0=false --)" "0|flags: F"
    t_is "QEMU_PRESERVE_ARGV0=no: flags F" "$(flags_of QEMU_PRESERVE_ARGV0=no --)" "0|flags: F"
    t_is "QEMU_PRESERVE_ARGV0= (empty): flags F" "$(flags_of QEMU_PRESERVE_ARGV0= --)" "0|flags: F"
    t_is "QEMU_PRESERVE_ARGV0=1: flags PF" "$(flags_of QEMU_PRESERVE_ARGV0=1 --)" "0|flags: PF"
    t_is "--flags F: flags F" "$(flags_of -- --flags F)" "0|flags: F"
    t_is "--flags OF: flags OF" "$(flags_of -- --flags OF)" "0|flags: OF"
    t_is "--credential: C added, the kernel shows OC (POCF)" "$(flags_of -- --credential)" "0|flags: POCF"
    t_is "QEMU_PRESERVE_ARGV0=0 --credential: flags OCF" \
        "$(flags_of QEMU_PRESERVE_ARGV0=0 -- --credential)" "0|flags: OCF"

    # --- 35-36: -v ---
    bf -v --install arm64
    t_is "-v: exit 0" "$RC" 0
    t_like "-v: names the emulator chosen and its flags" "$ERR" \
        "(^|$NL)  emulator /usr/bin/qemu-aarch64-static, flags PF($NL|\$)"
    echo -1 >"$BM/status"

    # --- 37-43: -V, -h ---
    run "$BINFMT" -V
    t_is "-V: exit 0, nothing on stderr" "$RC|$ERR" "0|"
    t_like "-V: prints a version" "$OUT" '^binfmt[^'"$NL"']* [0-9]+\.[0-9]+\.[0-9]+'"$NL"'QEMU '
    run "$BINFMT" --version
    t_like "--version: the same" "$RC|$OUT" '^0\|binfmt[^'"$NL"']* [0-9]+\.[0-9]+\.[0-9]+'"$NL"'QEMU '
    run "$BINFMT" -h
    t_is "-h: exit 0, nothing on stderr" "$RC|$ERR" "0|"
    t_like "-h: usage on stdout" "$OUT" '^Usage:'
    t_like "-h: --credential documented with its danger" "$OUT" \
        "--credential[^$NL]*C flag.*(setuid|root).*(gain root|privilege)"
    t_like "-h: -q, --quiet documented: silent success, no status probes" "$OUT" \
        "$NL -q, --quiet +with --install/--uninstall: print nothing on success$NL[^$NL]*probes"

    # --- 44-48: Go-style options (tonistiigi/binfmt is a Go program) ---
    run "$BINFMT" -mount "$BM" -install arm64
    t_is "Go-style -mount DIR -install arm64: exit 0, registered" "$RC|$(listing)" \
        "0|qemu-aarch64 register status"
    t_like "Go-style -install: status JSON on stdout" "$OUT" '"emulators": \[[^]]*"qemu-aarch64"'
    run "$BINFMT" -mount="$BM" -uninstall=arm64
    t_is "Go-style -mount=DIR -uninstall=arm64: exit 0, removed" "$RC|$(listing)" "0|register status"
    run "$BINFMT" -version
    t_like "Go-style -version" "$RC|$OUT" '^0\|binfmt[^'"$NL"']* [0-9]+\.[0-9]+\.[0-9]+'"$NL"'QEMU '
    # Without QEMU_BINARY_PATH: the staged payload, then /usr/bin.
    run env -u QEMU_BINARY_PATH "$BINFMT" --mount "$BM" --dry-run --install arm64
    t_like "default emulator search finds an existing qemu-aarch64" "$RC|$OUT" \
        "^0\\|:qemu-aarch64:M::[^:]*:[^:]*:/[^:]*/qemu-aarch64(-static)?:PF\$"

    # --- 49: nothing left behind ---
    t_is "registry empty at the end" "$(listing)" "register status"
}

in_private_binfmt checks
rc=$?
((rc != 125)) || t_fail "private binfmt_misc instance"

# --- 50: host untouched ---------------------------------------------------------------
t_is "host $HOST_BM state identical before and after" "$(host_listing)" "$host_before"

# --- 51-52: the golden formatter the suite builds its expectations with ----------------
# status_json (lib.sh) must print binfmt's JSON byte for byte: pinned here to the
# machine-independent goldens that test_status.c checks binfmt's own output against.
G=$ROOT/tests/data/golden
t_is "status_json reproduces tests/data/golden/status-empty.json exactly" \
    "$(status_json "linux/amd64 linux/386" "")" "$(cat "$G/status-empty.json")"
t_is "status_json reproduces tests/data/golden/status-partial.json exactly" \
    "$(status_json "linux/amd64 linux/arm64 linux/386" "qemu-aarch64 qemu-riscv64 qemu-s390x")" \
    "$(cat "$G/status-partial.json")"

# shellcheck shell=bash
# Shared by the bench/*.sh sections. Source it, do not run it.
#
# Every comparison runs in private binfmt_misc instances: a "holder" is a process in
# its own user+mount namespace (unshare --user --map-root-user) whose binfmt_misc
# instance has the registrations a comparison needs; commands enter it with
# `nsenter --user` (the user namespace decides which binfmt_misc instance the kernel
# consults). The host's registry is never read for dispatch nor written here; only the
# docker rows need it, and bench/docker.sh changes and restores it under the host lock.
#
#   b_log MSG | b_die MSG
#   b_runs FULL QUICK              -> the run count for the current mode
#   ab SECTION [altbench args]     -> altbench, samples appended to $RESULTS/samples.tsv
#   b_reg NAME MAGIC_CPU INTERP [FLAGS]  -> a register line for a CPU (magic from binfmt)
#   holder_start NAME REGLINE...   -> starts a holder; its pid in HOLDER[NAME]
#   holder_run NAME CMD...         -> run CMD in the holder's user namespace
#   in_holder NAME                 -> prints the nsenter prefix (for altbench strings)
#   holders_stop                   -> ends every holder started here (by pid)
#   payload_qemu VER CPU           -> path of qemu-CPU of payload VER (def 72 10 11 10pie 10nopie)
#   b_default_kind / b_default_series -> what build/qemu (payload def) holds, and which VER it is

B_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$B_ROOT/$BUILD
CACHE=${BENCH_CACHE:-/var/cache/binfmt-installer/bench}
RESULTS=${BENCH_RESULTS:-$BUILD/bench-results}
QUICK=${BENCH_QUICK:-0}
ALTBENCH=$BUILD/bench/altbench
BUSYBOX_FIXTURES=${BUSYBOX_FIXTURES:-/var/cache/binfmt-installer-tests/busybox}
ROOTFS_DIR=$CACHE/rootfs
declare -gA HOLDER=()

b_log() { printf 'bench: %s\n' "$*" >&2; }
b_die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

b_runs() { if [[ $QUICK == 1 ]]; then echo "$2"; else echo "$1"; fi; }

ab() {
    local section=$1
    shift
    mkdir -p "$RESULTS"
    "$ALTBENCH" -s "$section" -o "$RESULTS/samples.tsv" "$@"
}

# Record a key/value fact for the report (machine, versions, commands...).
b_fact() { mkdir -p "$RESULTS"; printf '%s\t%s\n' "$1" "$2" >>"$RESULTS/facts.tsv"; }
# Record the exact command line of a labelled row.
b_cmd() { mkdir -p "$RESULTS"; printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS/commands.tsv"; }

# Magic and mask of a QEMU cpu, as binfmt registers them (the project's own table).
declare -gA B_MAGIC=()
b_magic() {
    local cpu=$1 line
    if [[ -z ${B_MAGIC[$cpu]:-} ]]; then
        # In an empty private instance, so that the host's entries play no part.
        line=$(unshare --user --map-root-user --mount bash -c '
            d=$(mktemp -d) && mount -t binfmt_misc binfmt_misc "$d" &&
            "$1" --mount "$d" --install "qemu-$2" --dry-run 2>/dev/null; true' \
            _ "$BUILD/bin/binfmt" "$cpu" | grep -m1 "^:qemu-$cpu:") ||
            b_die "binfmt --dry-run gives no register line for $cpu"
        B_MAGIC[$cpu]=$(cut -d: -f4-6 <<<"$line")   # offset:magic:mask
    fi
    printf '%s\n' "${B_MAGIC[$cpu]}"
}

# b_reg NAME CPU INTERP [FLAGS]: ":NAME:M:offset:magic:mask:INTERP:FLAGS"
b_reg() { printf ':%s:M:%s:%s:%s\n' "$1" "$(b_magic "$2")" "$3" "${4:-PF}"; }
# b_reg_ext NAME EXT INTERP [FLAGS]: an extension entry (files named *.EXT)
b_reg_ext() { printf ':%s:E::%s::%s:%s\n' "$1" "$2" "$3" "${4:-PF}"; }

holder_start() {
    local name=$1 dir pidf
    shift
    dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-holder.XXXXXX")
    pidf=$dir/pid
    # The inner shell mounts a fresh instance, registers, reports its pid, then
    # becomes `sleep` (same pid) so that nsenter -t PID finds the namespaces.
    unshare --user --map-root-user --mount --propagation private --fork \
        /bin/bash -c '
            set -e
            d=$1; shift
            mkdir -p "$d/bfm"
            mount -t binfmt_misc binfmt_misc "$d/bfm"
            mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
            for l; do printf "%s" "$l" >"$d/bfm/register" || { echo "register failed: $l" >&2; exit 1; }; done
            echo $$ >"$d/pid.tmp" && mv "$d/pid.tmp" "$d/pid"
            exec sleep infinity' holder "$dir" "$@" </dev/null &
    local i
    for i in $(seq 200); do
        [[ -s $pidf ]] && break
        kill -0 $! 2>/dev/null || b_die "holder $name failed to start"
        sleep 0.02
    done
    [[ -s $pidf ]] || b_die "holder $name did not start"
    HOLDER[$name]=$(<"$pidf")
    HOLDER_UNSHARE[$name]=$!
    HOLDER_DIR[$name]=$dir
}
declare -gA HOLDER_UNSHARE=() HOLDER_DIR=()

in_holder() { printf 'nsenter -t %s --user --mount --preserve-credentials' "${HOLDER[$1]}"; }

holder_run() {
    local name=$1
    shift
    nsenter -t "${HOLDER[$name]}" --user --mount --preserve-credentials "$@"
}

holder_entries() { ls "${HOLDER_DIR[$1]}/bfm" 2>/dev/null | grep -v -e '^register$' -e '^status$' || true; }

holders_stop() {
    local n
    for n in "${!HOLDER[@]}"; do
        kill "${HOLDER[$n]}" 2>/dev/null || true
        wait "${HOLDER_UNSHARE[$n]}" 2>/dev/null || true
        rm -rf "${HOLDER_DIR[$n]}"
        unset "HOLDER[$n]"
    done
}

# --- payloads ---------------------------------------------------------------------------
# def:     the default payload: build/qemu, whatever `make qemu` staged there (its VERSION
#          says payload=rebuilt for the rebuild, nothing for Debian's binaries); the
#          start-up, workloads, install, detect and docker rows use it
# 72:      Debian 12's qemu-user-static (installed, /usr/bin/qemu-CPU-static)
# 10:      Debian trixie's qemu-user 10.0 binaries, as the manifest pins them (static-pie,
#          with capstone), staged by bench/run.sh into $BUILD/qemu-debian
# 11:      the pinned 11.1 series, Debian's binaries (bench/fetch.sh, in $CACHE/qemu-11.1)
# 10nopie: the same 10.0 rebuilt here from Debian's pinned source without capstone, static,
#          not PIE (qemu-static/build.sh: B_QEMU_TOP/out, the rebuilt payload)
# 10pie:   the static-pie link of the same objects (B_QEMU_TOP/pie, bench/qemu-build.sh)
B_ARCH=$(dpkg --print-architecture)
# qemu-static/build.sh's TOP: $QEMU_STATIC_CACHE/build/<the manifest's version without
# epoch>-<arch>; without a manifest record, the newest build for this architecture.
b_qemu_top() {
    local c=${QEMU_STATIC_CACHE:-/var/cache/binfmt-installer/qemu}/build v
    v=$(awk -v a="$B_ARCH" '$1 == "deb" && $2 == a {print $3; exit}' "$B_ROOT/qemu-static/manifest" 2>/dev/null)
    if [[ -n $v ]]; then echo "$c/${v#*:}-$B_ARCH"; else ls -d "$c"/*-"$B_ARCH" 2>/dev/null | tail -n1; fi
}
B_QEMU_TOP=$(b_qemu_top)
payload_qemu() {
    local v=$1 cpu=$2
    case $v in
    def) echo "$BUILD/qemu/qemu-$cpu" ;;
    72) echo "/usr/bin/qemu-$cpu-static" ;;
    10) echo "$BUILD/qemu-debian/qemu-$cpu" ;;
    11) echo "$CACHE/qemu-11.1/qemu-$cpu" ;;
    10pie) echo "$B_QEMU_TOP/pie/qemu-$cpu" ;;
    10nopie) echo "$B_QEMU_TOP/out/qemu-$cpu" ;;
    *) return 1 ;;
    esac
}

payload_version() { "$(payload_qemu "$1" aarch64)" -version 2>/dev/null | head -n1 | sed 's/^qemu-aarch64 version //'; }

# The compared payloads (not def: it is one of them, see b_default_series).
payloads_available() {
    local v
    for v in 72 10 11 10pie 10nopie; do
        [[ -x $(payload_qemu $v aarch64) && -x $(payload_qemu $v riscv64) ]] && printf '%s ' "$v"
    done
    echo
}

# What build/qemu holds: "rebuilt" (VERSION has payload=rebuilt) or "debian".
b_default_kind() {
    if grep -qx 'payload=rebuilt' "$BUILD/qemu/VERSION" 2>/dev/null; then echo rebuilt; else echo debian; fi
}
# The series of payload_qemu that is the default payload: 10nopie for the rebuild, 10 for
# Debian's binaries, provided its arm64 and riscv64 emulators are the very files staged in
# build/qemu (byte for byte); "def" when none is.
b_default_series() {
    local v c
    case $(b_default_kind) in rebuilt) v=10nopie ;; *) v=10 ;; esac
    for c in aarch64 riscv64; do
        cmp -s "$BUILD/qemu/qemu-$c" "$(payload_qemu "$v" "$c")" || { echo def; return 0; }
    done
    echo "$v"
}

# Debian architecture -> QEMU cpu
deb2cpu() {
    case $1 in
    arm64) echo aarch64 ;;
    riscv64) echo riscv64 ;;
    armhf) echo arm ;;
    *) return 1 ;;
    esac
}

# The machine is quiet when the 1-minute load average is below 0.5.
b_load() { cut -d' ' -f1 /proc/loadavg; }
b_quiet() { awk -v l="$(b_load)" 'BEGIN { exit !(l < 0.5) }'; }

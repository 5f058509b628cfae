# shellcheck shell=bash
# Helpers for the emu-run tests (tests/integration/80-emu-run*.sh). Source after lib.sh.
#
#   emu_require                 skip the script unless emu-run, private binfmt_misc
#                               instances, the busybox fixtures and QEMU are there
#   emu_make_rootfs DIR ARCH    a busybox root: bin/busybox + applet symlinks,
#                               etc/passwd and etc/group (root, builder 1000, extra)
#   emu ARGS...                 run emu-run; sets OUT, ERR, RC (lib.sh's run)
#   emu_uname ARCH / emu_platform ARCH   what `uname -m` and TARGETPLATFORM say
#   emu_tree DIR                every entry below DIR with type, size, mode, mtime
#   emu_names DIR               the same without mtimes (a rootfs whose directories
#                               gained and lost placeholders has new mtimes, rightly)
#   emu_host_unchanged DESC BEFORE   t_is on host_listing, with a short diff on failure
#   emu_words TEXT              TEXT's words on one line, single spaces
#   emu_until SECS CMD...       run CMD every 50 ms until it succeeds (status 0) or
#                               SECS have passed (status 1)
#   emu_wait_pgrep PATTERN      wait (up to $EMU_DEADLINE s) until a process matches
#   emu_gone PATTERN [SECS]     wait (up to SECS, default $EMU_DEADLINE) until no
#                               process matches
#   emu_kill_left PATTERN       SIGKILL what still matches (after a failed check)
#   emu_in_wait PID             emu-run's process PID is in its wait for the sandbox
#   emu_t ARGS...               emu, under a hang guard (timeout $EMU_GUARD s)
#
# Waiting (issue 17): a test waits for the thing it needs (a process, a file, a
# state), never for a fixed time. Deadlines are generous on purpose (CI machines are
# loaded, and ASan and valgrind builds are 5-20x slower): they only end a wait for
# something that never happens, so they must be longer than any slow machine needs,
# and a test that asserts "X is gone" makes X outlive the deadline on its own (a
# step that sleeps for an hour), so that gone can only mean killed or reaped.

EMU=${EMU_RUN:-$(dirname "$BINFMT")/emu-run}
EMU_ARCHES="arm64 armhf ppc64el s390x riscv64"
EMU_APPLETS="sh ls cat echo uname sha256sum sleep id env pwd mkdir touch true false kill ps grep wc tar gzip tr head"
EMU_DEADLINE=${EMU_DEADLINE:-60}
EMU_GUARD=${EMU_GUARD:-300}
export EMU EMU_DEADLINE EMU_GUARD

emu_require() {
    local a
    [[ -x $EMU ]] || skip_all "emu-run not built at $EMU (make)"
    require_private_binfmt
    for a in $EMU_ARCHES; do
        [[ -x $FIXTURES/busybox/$a/busybox ]] ||
            skip_all "busybox for $a not cached in $FIXTURES (run tests/fixtures/fetch.sh)"
    done
    [[ -x /usr/bin/qemu-aarch64-static || -x $(dirname "$EMU")/../qemu/qemu-aarch64 ]] ||
        skip_all "no QEMU (apt-get install qemu-user-static, or make qemu)"
}

emu_make_rootfs() {
    local d=$1 a=$2 x
    mkdir -p "$d/bin" "$d/etc" || return 1
    cp "$FIXTURES/busybox/$a/busybox" "$d/bin/busybox" || return 1
    for x in $EMU_APPLETS; do ln -s busybox "$d/bin/$x" || return 1; done
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'builder:x:1000:1000:builder:/home/builder:/bin/sh' >"$d/etc/passwd"
    printf '%s\n' 'root:x:0:' 'builder:x:1000:' 'extra:x:1001:builder' >"$d/etc/group"
}

emu() { run "$EMU" "$@"; }

emu_uname() {
    case $1 in
    arm64) echo aarch64 ;; armhf) echo armv7l ;; ppc64el) echo ppc64le ;;
    s390x) echo s390x ;; riscv64) echo riscv64 ;; *) echo "?" ;;
    esac
}

emu_platform() {
    case $1 in
    arm64) echo "linux/arm64 linux arm64 -" ;; armhf) echo "linux/arm/v7 linux arm v7" ;;
    ppc64el) echo "linux/ppc64le linux ppc64le -" ;; s390x) echo "linux/s390x linux s390x -" ;;
    riscv64) echo "linux/riscv64 linux riscv64 -" ;; *) echo "?" ;;
    esac
}

emu_tree() { find "$1" -printf '%P %y %s %m %T@ %l\n' 2>&1 | sort; }
emu_names() { find "$1" -printf '%P %y %s %m %l\n' 2>&1 | sort; }

emu_host_unchanged() {
    local now
    now=$(host_listing)
    if [[ $now == "$2" ]]; then
        t_pass "$1"
    else
        t_fail "$1"
        diag "$(diff <(printf '%s\n' "$2") <(printf '%s\n' "$now") | head -20)"
        return 1
    fi
}

emu_words() {
    local -a w
    read -r -d '' -a w <<<"$1"
    printf '%s' "${w[*]}"
}

emu_until() {
    local end=$((EPOCHSECONDS + $1))
    shift
    until "$@"; do
        # One last try after the deadline: a wait that overslept still sees the state.
        ((EPOCHSECONDS < end)) || { "$@"; return; }
        sleep 0.05
    done
}

_emu_matches() { pgrep -f -- "$1" >/dev/null; }
_emu_none() { ! pgrep -f -- "$1" >/dev/null; }
emu_wait_pgrep() { emu_until "$EMU_DEADLINE" _emu_matches "$1"; }
emu_gone() { emu_until "${2:-$EMU_DEADLINE}" _emu_none "$1"; }

emu_kill_left() {
    local p
    for p in $(pgrep -f -- "$1"); do kill -KILL "$p" 2>/dev/null; done
}

# Only emu-run's own wait for the sandbox blocks in sigwaitinfo (init.c,
# init_wait_forward; the sandbox's pid 1 is another process): once PID is there, it
# has forked its janitor if it forks one (run.c, wait_and_clean). Read from
# /proc/PID/syscall (rt_sigtimedwait's number), else /proc/PID/wchan.
emu_in_wait() {
    local nr w
    case $(uname -m) in x86_64) nr=128 ;; aarch64 | riscv64 | loongarch64) nr=137 ;; *) nr="" ;; esac
    if [[ -n $nr && -r /proc/$1/syscall ]]; then
        read -r w _ <"/proc/$1/syscall" 2>/dev/null
        [[ $w == "$nr" ]]
        return
    fi
    w=$(cat "/proc/$1/wchan" 2>/dev/null)
    [[ $w == *sigtimedwait* ]]
}

# A step that defeats the sandbox (or a hostile root that hangs emu-run) must not hang
# the suite: the guard only ends what would never end (exit 124, or 137 after -k).
emu_t() { run timeout -k 10 "$EMU_GUARD" "$EMU" "$@"; }

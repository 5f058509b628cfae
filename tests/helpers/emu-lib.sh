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
#   emu_wait_pgrep PATTERN      wait (up to 5 s) until a process matches
#   emu_gone PATTERN [MS]       wait (up to MS) until no process matches

EMU=${EMU_RUN:-$(dirname "$BINFMT")/emu-run}
EMU_ARCHES="arm64 armhf ppc64el s390x riscv64"
EMU_APPLETS="sh ls cat echo uname sha256sum sleep id env pwd mkdir touch true false kill ps grep wc tar gzip tr head"
export EMU

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

emu_wait_pgrep() {
    local i
    for ((i = 0; i < 100; i++)); do
        pgrep -f -- "$1" >/dev/null && return 0
        sleep 0.05
    done
    return 1
}

emu_gone() {
    local i n=$((${2:-2000} / 20))
    for ((i = 0; i < n; i++)); do
        pgrep -f -- "$1" >/dev/null || return 0
        sleep 0.02
    done
    return 1
}

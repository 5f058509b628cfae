#!/bin/bash
# emu-run for real, per architecture (arm64 armhf ppc64el s390x riscv64): a busybox
# root per arch, run as Dockerfile RUN steps in a private binfmt_misc instance
# (path 1): uname, pipes and redirects, applets through symlinks, foreign children,
# exit codes, SIGTERM, user/env/workdir, TARGET*/BUILD* variables, a RUN-style
# shell step, and an unprivileged caller. The host's registry is compared after
# every architecture.
# shellcheck disable=SC2016 # single-quoted steps are expanded by the foreign shell
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

emu_require
plan 50

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emu-run-80.XXXXXX")
on_exit rm -rf "$WORK"
chmod 755 "$WORK" # the unprivileged caller walks through it
host_before=$(host_listing)
NOBODY=65534

build_platform() {
    case $(uname -m) in x86_64) echo linux/amd64 ;; aarch64) echo linux/arm64 ;; *) echo "" ;; esac
}

check_basics() {
    local a=$1 r=$2 expected
    emu --arch "$a" --rootfs "$r" -- uname -m
    t_is "$a: uname -m" "$OUT|$RC" "$(emu_uname "$a")|0"

    expected="2
HELLO WORLD
$(printf HELLO | sha256sum | cut -c1-16)"
    emu --arch "$a" --rootfs "$r" --shell \
        'echo hello world | tr a-z A-Z >/dev/shm/o; wc -w </dev/shm/o; cat /dev/shm/o; head -c 5 /dev/shm/o | sha256sum | cut -c1-16'
    t_is "$a: pipes, redirects and applets through symlinks" "$OUT|$RC" "$expected|0"

    emu --arch "$a" --rootfs "$r" --shell 'sh -c "sh -c \"uname -m; id -u\""; env true && echo children-ok'
    t_is "$a: foreign children are emulated too" "$OUT|$RC" "$(emu_uname "$a")
0
children-ok|0"
}

check_exit_codes() {
    local a=$1 r=$2 c codes=""
    for c in 0 1 42 255; do
        emu --arch "$a" --rootfs "$r" --shell "exit $c"
        codes+="$RC "
    done
    emu --arch "$a" --rootfs "$r" -- false
    codes+="$RC"
    t_is "$a: exit codes 0 1 42 255 (and false)" "$codes" "0 1 42 255 1"
}

check_sigterm() {
    local a=$1 r=$2 marker pid rc t0 ms out
    marker="emu-80-$a-$$-$RANDOM"
    # The step sleeps for an hour: it outlives every wait below on its own, so "ended"
    # and "gone" can only mean SIGTERM ended it (not that it finished).
    "$EMU" --arch "$a" --rootfs "$r" --shell "sleep 3600; echo $marker" >"$WORK/sigterm.out" 2>&1 &
    pid=$!
    # The step's own shell (under QEMU) carries the marker in its argv.
    emu_wait_pgrep "qemu.*$marker|/bin/sh -c sleep 3600; echo $marker" || diag "$a: step never showed up"
    t0=$(date +%s%N)
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    out=$(cat "$WORK/sigterm.out")
    # No time limit: the step did not finish (no marker) and nothing is left within
    # EMU_DEADLINE (60 s), long before its hour is up. The time taken is reported only.
    if ((rc == 143)) && [[ $out != *"$marker"* ]] && emu_gone "$marker"; then
        t_pass "$a: SIGTERM ends the step: 143, the step cut short, nothing left"
    else
        t_fail "$a: SIGTERM ends the step: 143, the step cut short, nothing left"
        diag "exit $rc after $ms ms; output: $out; left: $(pgrep -fa -- "$marker")"
        emu_kill_left "$marker"
    fi
}

check_user_env() {
    local a=$1 r=$2
    emu --arch "$a" --rootfs "$r" -u builder -w /work/sub -e 'FOO=a b' -e BAR=1 \
        --shell 'id -u; id -G; pwd; echo "$HOME|$FOO|$BAR"'
    t_is "$a: --user, --workdir (created), --env, HOME from passwd" "$OUT|$RC|$(stat -c %a "$r/work/sub")" \
        "1000
1000 1001
/work/sub
/home/builder|a b|1|0|755"
    rm -rf "$r/work"

    read -r plat os arch variant <<<"$(emu_platform "$a")"
    emu --arch "$a" --rootfs "$r" --shell \
        'echo "$TARGETPLATFORM $TARGETOS $TARGETARCH ${TARGETVARIANT:--} $BUILDPLATFORM $BUILDOS $PATH"'
    t_is "$a: TARGET* and BUILD* variables, default PATH" "$OUT|$RC" \
        "$plat $os $arch $variant $(build_platform) linux /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|0"
}

check_shell_step() {
    local a=$1 r=$2 step
    # What a Dockerfile line `RUN <step>` hands to /bin/sh -c, unmodified.
    step='A="two  words"; mkdir -p /dev/shm/w && cd /dev/shm/w && echo "$A" >"f 1" && cat "f 1" && echo '\''single "q"'\'' && false || echo fallback'
    emu --arch "$a" --rootfs "$r" --shell "$step"
    t_is "$a: --shell runs a RUN step's shell form (&&, ||, quotes)" "$OUT|$RC" 'two  words
single "q"
fallback|0'
}

check_unprivileged() {
    local a=$1 r=$2 u="$WORK/$1-nobody"
    cp -a "$r" "$u" && chown -R "$NOBODY:$NOBODY" "$u"
    OUT=$(cd / && setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
        "$EMU" --arch "$a" --rootfs "$u" --shell 'id -u; uname -m; touch /made' 2>&1)
    RC=$?
    t_is "$a: unprivileged caller (uid $NOBODY): root in its namespace, emulated, writes persist" \
        "$OUT|$RC|$(stat -c %u "$u/made" 2>&1)" "0
$(emu_uname "$a")|0|$NOBODY"
}

for a in $EMU_ARCHES; do
    r=$WORK/$a
    emu_make_rootfs "$r" "$a" || bail_out "cannot build the $a rootfs"
    check_basics "$a" "$r"
    check_exit_codes "$a" "$r"
    check_sigterm "$a" "$r"
    check_user_env "$a" "$r"
    check_shell_step "$a" "$r"
    check_unprivileged "$a" "$r"
    emu_host_unchanged "$a: the host's binfmt_misc registry is unchanged" "$host_before"
done

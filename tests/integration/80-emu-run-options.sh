#!/bin/bash
# emu-run's documented options, for real (issue 17, "untested documented behaviour"):
# --user/-u USER:GROUP by name and number (the group given, not the primary one; no
# supplementary groups then; unknown names: 125, nothing run), --bind SRC:DST with the
# default mode (writable, emu-run.1), :rw and :ro, checked on the host after emu-run
# exited (and a bad mode: 125), --qemu DIR holding qemu-CPU-static or qemu-CPU (named
# by --verbose) and a DIR without it or with an unusable one (125, one line), the long
# forms --workdir/--env/--user against -w/-e/-u, and EMU_RUN_NO_PRIVATE_BINFMT: only a
# value other than empty, 0, false, no or off skips the private instance (emu-run.1).
# Real kernel, real /usr/bin/qemu-aarch64-static, the arm64 busybox root. The host's
# registry is compared at the end.
# shellcheck disable=SC2016 # single-quoted steps are expanded by the foreign shell
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

emu_require
[[ -x /usr/bin/qemu-aarch64-static && -x /usr/bin/qemu-arm-static ]] ||
    skip_all "Debian's qemu-user-static is not installed"
((EUID == 0)) || skip_all "not root (the --bind ownership checks and the emulator copies need root)"
plan 33

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emu-run-80o.XXXXXX")
on_exit rm -rf "$WORK"
host_before=$(host_listing)
R=$WORK/root
emu_make_rootfs "$R" arm64 || bail_out "cannot build the arm64 rootfs"
A=(--arch arm64 --rootfs "$R")
QEMU_A64=/usr/bin/qemu-aarch64-static
# The step's view of who it is, one line: uid gid groups HOME.
WHO='echo "$(id -u) $(id -g) $(id -G) $HOME"'

# --- --user / -u ---------------------------------------------------------------------
# The root's passwd/group (emu_make_rootfs): builder 1000:1000, extra 1001 lists builder.
emu "${A[@]}" --user builder:extra --shell "$WHO"
t_is "--user NAME:GROUP: uid 1000, gid extra (1001) not builder's primary 1000, no other groups" \
    "$OUT|$RC" "1000 1001 1001 /home/builder|0"
emu "${A[@]}" -u 1000:1001 --shell "$WHO"
t_is "-u UID:GID numeric: the same, HOME from the passwd line of uid 1000" "$OUT|$RC" "1000 1001 1001 /home/builder|0"
emu "${A[@]}" -u builder:root --shell "$WHO"
t_is "-u builder:root: gid 0, and extra (which lists builder) is not added" "$OUT|$RC" "1000 0 0 /home/builder|0"
emu "${A[@]}" -u builder --shell "$WHO"
t_is "-u builder without GROUP: primary 1000, extra (1001) as supplementary group" "$OUT|$RC" \
    "1000 1000 1000 1001 /home/builder|0"
emu "${A[@]}" -u builder:nosuchgroup --shell 'touch /ran-badgroup; echo ran'
t_is "-u builder:nosuchgroup: 125, one line naming the group, the step not run" \
    "$RC|$OUT|$ERR|$([[ -e $R/ran-badgroup ]] && echo ran)" \
    "125||emu-run: --user: no group 'nosuchgroup' in the root's /etc/group|"
emu "${A[@]}" --user nosuchuser:extra --shell 'touch /ran-baduser; echo ran'
t_is "--user nosuchuser:extra: 125, one line naming the user, the step not run" \
    "$RC|$OUT|$ERR|$([[ -e $R/ran-baduser ]] && echo ran)" \
    "125||emu-run: --user: no user 'nosuchuser' in the root's /etc/passwd|"

# --- --bind SRC:DST[:ro|:rw] ---------------------------------------------------------------
# Each mode gets a host directory of its own with a file "f" saying "host"; the step
# rewrites f and creates g. Everything is checked from the host after emu-run exited.
B=$WORK/bind
bind_dir() { rm -rf "$B" && mkdir -p "$B" && chmod 1777 "$B" && echo host >"$B/f"; }
WRITE='echo step >/mnt/f && echo new >/mnt/g && echo wrote'
host_view() { printf '%s:%s:%s' "$(cat "$B/f")" "$(cat "$B/g" 2>/dev/null || echo -)" "$(stat -c %u:%g "$B/g" 2>/dev/null || echo -)"; }

bind_dir
emu "${A[@]}" --bind "$B:/mnt" --shell "$WRITE"
t_is "--bind SRC:DST (default, documented read-write): the step's writes are on the host afterwards, owned by root" \
    "$OUT|$RC|$(host_view)" "wrote|0|step:new:0:0"
bind_dir
emu "${A[@]}" --bind "$B:/mnt:rw" --shell "$WRITE"
t_is "--bind SRC:DST:rw: the same" "$OUT|$RC|$(host_view)" "wrote|0|step:new:0:0"
bind_dir
emu "${A[@]}" --bind "$B:/mnt:ro" --shell 'cat /mnt/f; echo step >/mnt/f; echo "f:$?"; touch /mnt/g; echo "g:$?"'
t_is "--bind SRC:DST:ro: readable, writes fail inside, the host's directory unchanged" \
    "$OUT|$RC|$(host_view)|$(ls "$B")" "host
f:1
g:1|0|host:-:-|f"
t_like "--bind :ro: the failure is the kernel's read-only file system" "$ERR" "Read-only file system"
bind_dir
emu "${A[@]}" --bind "$B:/mnt" -u builder:extra --shell 'echo new >/mnt/g && echo wrote'
t_is "--bind with -u builder:extra: the step's file is owned 1000:1001 on the host" \
    "$OUT|$RC|$(host_view)" "wrote|0|host:new:1000:1001"
bind_dir
emu "${A[@]}" --bind "$B:/mnt:rx" --shell 'touch /ran-badmode; echo ran'
t_is "--bind SRC:DST:rx: usage error 125, the step not run" \
    "$RC|$OUT|$ERR|$([[ -e $R/ran-badmode ]] && echo ran)" "125||emu-run: --bind: unknown mode 'rx' (ro or rw)
Try 'emu-run --help' for more information.|"

# --- --qemu DIR ----------------------------------------------------------------------
# A copy of Debian's emulator under each name emu-run looks for (qemu-CPU, then
# qemu-CPU-static, emulation.c / interp.c), so --verbose can only name it if --qemu
# was honoured (the default would be /usr/bin/qemu-aarch64-static).
Q_STATIC=$WORK/q-static Q_PLAIN=$WORK/q-plain Q_ARM=$WORK/q-arm Q_GW=$WORK/q-groupw
mkdir -p "$Q_STATIC" "$Q_PLAIN" "$Q_ARM" "$Q_GW"
cp "$QEMU_A64" "$Q_STATIC/qemu-aarch64-static"
cp "$QEMU_A64" "$Q_PLAIN/qemu-aarch64"
cp /usr/bin/qemu-arm-static "$Q_ARM/qemu-arm-static"
cp "$QEMU_A64" "$Q_GW/qemu-aarch64-static" && chmod 775 "$Q_GW/qemu-aarch64-static"
chmod 755 "$Q_STATIC/qemu-aarch64-static" "$Q_PLAIN/qemu-aarch64" "$Q_ARM/qemu-arm-static"
qemu_line() { sed -n 's/^emu-run: QEMU: \([^ ]*\) .*/\1/p' <<<"$ERR"; }

emu "${A[@]}" --verbose --qemu "$Q_STATIC" -- uname -m
t_is "--qemu DIR with qemu-aarch64-static: that file runs the step, --verbose names it" \
    "$OUT|$RC|$(qemu_line)" "aarch64|0|$Q_STATIC/qemu-aarch64-static"
# The register string as the kernel got it: 20 bytes of magic and of mask as \xNN
# (not escaped again: "\x5cx7f" is not what was registered), then that file.
t_like "--qemu DIR: and it is the registered interpreter (the register string verbatim)" "$ERR" \
    "emu-run: registered: :qemu-aarch64:M::(\\\\x[0-9a-f]{2}){20}:(\\\\x[0-9a-f]{2}){20}:$Q_STATIC/qemu-aarch64-static:PF($|"$'\n'")"
emu "${A[@]}" --verbose --qemu "$Q_PLAIN" -- uname -m
t_is "--qemu DIR with qemu-aarch64 (no -static): found too" "$OUT|$RC|$(qemu_line)" "aarch64|0|$Q_PLAIN/qemu-aarch64"
emu "${A[@]}" --qemu "$Q_ARM" --shell 'touch /ran-noqemu; echo ran'
t_is "--qemu DIR without qemu-aarch64[-static] (only qemu-arm-static): 125, one line naming DIR, nothing run" \
    "$RC|$OUT|$ERR|$([[ -e $R/ran-noqemu ]] && echo ran)" \
    "125||emu-run: --qemu $Q_ARM: no qemu-aarch64 or qemu-aarch64-static there|"
emu "${A[@]}" --qemu "$Q_GW" -- true
t_is "--qemu DIR whose emulator is group-writable: 125, one line with the fix" "$RC|$ERR" \
    "125|emu-run: emulator $Q_GW/qemu-aarch64-static is writable by group or others: chmod go-w $Q_GW/qemu-aarch64-static"

# --- long and short forms --------------------------------------------------------------
STEP='pwd; echo "FOO=$FOO BAR=$BAR"; id -u; id -g; id -G'
emu "${A[@]}" -w /w/short -e FOO=x -e 'BAR=y z' -u builder:extra --shell "$STEP"
short="$OUT|$RC"
t_is "-w -e -u: workdir, variables and ids as given" "$short" "/w/short
FOO=x BAR=y z
1000
1001
1001|0"
emu "${A[@]}" --workdir /w/short --env FOO=x --env 'BAR=y z' --user builder:extra --shell "$STEP"
t_is "--workdir --env --user: exactly the same output as -w -e -u" "$OUT|$RC" "$short"
emu "${A[@]}" --workdir=/w/eq --env=FOO=x --user=1000:1001 --shell 'pwd; echo "$FOO"; id -u; id -g'
t_is "--workdir=DIR --env=K=V --user=UID:GID (getopt's = form)" "$(emu_words "$OUT")|$RC" "/w/eq x 1000 1001|0"

# --- EMU_RUN_NO_PRIVATE_BINFMT -----------------------------------------------------------
# In a user namespace whose own binfmt_misc instance is mounted at the usual place,
# that instance is the "host's" registry emu-run sees (as in 80-emu-run-process.sh).
# It gets an F entry whose interpreter is $Q_PLAIN/qemu-aarch64, while every run
# passes --qemu $Q_STATIC: path 1 (private) names the one, path 2 (host) the other.
AARCH64_MAGIC='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
AARCH64_MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
export MAGIC=$AARCH64_MAGIC MASK=$AARCH64_MASK HOSTQEMU=$Q_PLAIN/qemu-aarch64
visible() { # REGISTER(0|1) CMD...: in a fresh instance mounted at /proc/sys/fs/binfmt_misc
    unshare --user --map-root-user --mount --propagation private -- bash -c '
        reg=$1; shift
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 99
        if ((reg)); then
            printf "%s" ":qemu-aarch64:M::$MAGIC:$MASK:$HOSTQEMU:F" >/proc/sys/fs/binfmt_misc/register || exit 98
        fi
        "$@"' visible "$@"
}
which_path() { printf '%s|%s|%s' "$OUT|$RC" "$(grep -o '(path [0-9])' <<<"$ERR")" "$(qemu_line)"; }
P1="aarch64|0|(path 1)|$Q_STATIC/qemu-aarch64-static"
P2="aarch64|0|(path 2)|$Q_PLAIN/qemu-aarch64"

run visible 1 env -u EMU_RUN_NO_PRIVATE_BINFMT "$EMU" --verbose --qemu "$Q_STATIC" "${A[@]}" -- uname -m
t_is "EMU_RUN_NO_PRIVATE_BINFMT unset: the private instance (path 1), not the visible F entry" "$(which_path)" "$P1"
run visible 1 env EMU_RUN_NO_PRIVATE_BINFMT=0 "$EMU" --verbose --qemu "$Q_STATIC" "${A[@]}" -- uname -m
t_is "EMU_RUN_NO_PRIVATE_BINFMT=0: still the private instance (path 1)" "$(which_path)" "$P1"
run visible 1 env EMU_RUN_NO_PRIVATE_BINFMT= "$EMU" --verbose --qemu "$Q_STATIC" "${A[@]}" -- uname -m
t_is "EMU_RUN_NO_PRIVATE_BINFMT empty: still the private instance (path 1)" "$(which_path)" "$P1"
run visible 1 env EMU_RUN_NO_PRIVATE_BINFMT=False "$EMU" --verbose --qemu "$Q_STATIC" "${A[@]}" -- uname -m
t_is "EMU_RUN_NO_PRIVATE_BINFMT=False (off, as binfmt reads QEMU_PRESERVE_ARGV0): the private instance (path 1)" "$(which_path)" "$P1"
run visible 1 env EMU_RUN_NO_PRIVATE_BINFMT=no "$EMU" --verbose --qemu "$Q_STATIC" "${A[@]}" -- uname -m
t_is "EMU_RUN_NO_PRIVATE_BINFMT=no: the private instance (path 1)" "$(which_path)" "$P1"
run visible 1 env EMU_RUN_NO_PRIVATE_BINFMT=1 "$EMU" --verbose --qemu "$Q_STATIC" "${A[@]}" -- uname -m
t_is "EMU_RUN_NO_PRIVATE_BINFMT=1: the host's F entry (path 2) and its emulator" "$(which_path)" "$P2"
run visible 1 env EMU_RUN_NO_PRIVATE_BINFMT=yes "$EMU" --verbose --qemu "$Q_STATIC" "${A[@]}" -- uname -m
t_is "EMU_RUN_NO_PRIVATE_BINFMT=yes (anything but empty, 0, false, no, off): path 2 as well" "$(which_path)" "$P2"
# With nothing registered where emu-run looks, =0 must still run: the instance is real.
run visible 0 env EMU_RUN_NO_PRIVATE_BINFMT=0 "$EMU" "${A[@]}" -- uname -m
t_is "EMU_RUN_NO_PRIVATE_BINFMT=0, no visible registration: runs (private instance)" "$OUT|$RC" "aarch64|0"

# --- --cpu MODEL against the QEMU's own list (issue 18's bad input) ----------------------
# The list is what this QEMU prints for -cpu help, read here, not emu-run's.
A64_MODELS=$("$QEMU_A64" -cpu help 2>/dev/null | sed -n 's/^  \([^ ]*\).*/\1/p' | paste -sd, - | sed 's/,/, /g')
emu "${A[@]}" --qemu "$QEMU_A64" --cpu no-such-cpu --shell 'touch /ran-badcpu; echo ran'
t_is "--cpu no-such-cpu: 125 before anything runs, one line with the models this QEMU lists" \
    "$RC|$OUT|$ERR|$([[ -e $R/ran-badcpu ]] && echo ran)" \
    "125||emu-run: --cpu no-such-cpu: $QEMU_A64 has no CPU model 'no-such-cpu'; it accepts: $A64_MODELS|"
emu "${A[@]}" --qemu "$QEMU_A64" --cpu max,pauth-impdef=on --shell 'echo "[$QEMU_CPU]"; uname -m'
t_is "--cpu with properties: the model before the comma is checked and runs (on QEMU's command line, not in the step's environment: 80-emu-run-cpu.sh)" \
    "$(paste -sd'|' <<<"$OUT")|$RC" "[]|aarch64|0"
emu "${A[@]}" --qemu "$QEMU_A64" --cpu Cortex-A53 -- uname -m
t_is "--cpu in another case: refused (125), as QEMU itself refuses it" "$OUT|$RC|${ERR%%;*}" \
    "|125|emu-run: --cpu Cortex-A53: $QEMU_A64 has no CPU model 'Cortex-A53'"
emu "${A[@]}" --qemu "$QEMU_A64" --cpu cortex-a53 -- uname -m
t_is "--cpu cortex-a53 (listed): runs" "$OUT|$RC" "aarch64|0"

emu_host_unchanged "the host's binfmt_misc registry is unchanged" "$host_before"

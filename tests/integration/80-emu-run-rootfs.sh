#!/bin/bash
# emu-run --rootfs as BuildKit runs a RUN step, and against a hostile rootfs: fresh
# /proc in a pid namespace, minimal /dev, read-only /sys, generated /etc/hosts and
# hostname, the host's resolv.conf, placeholders removed afterwards, changes that
# persist (or not, with --overlay), --bind, --network none, no leaked descriptors;
# then rootfs symlinks and `..` tricks aimed at a host "victim" directory, which
# must stay exactly as it was, with nothing created or mounted in it.
# shellcheck disable=SC2016 # single-quoted steps are expanded by the foreign shell
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

emu_require
plan 30

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emu-run-80r.XXXXXX")
on_exit rm -rf "$WORK"
host_before=$(host_listing)
R=$WORK/root
emu_make_rootfs "$R" arm64 || bail_out "cannot build the arm64 rootfs"
A=(--arch arm64 --rootfs "$R")

# --- what the step sees ---------------------------------------------------------------
tree_before=$(emu_names "$R")
emu "${A[@]}" --shell 'echo $$; busybox hostname; cat /etc/hosts; test -c /dev/null && test -c /dev/urandom && echo devs'
t_is "pid 2 in a new pid namespace, hostname and /etc/hosts as BuildKit's" "$OUT|$RC" "2
buildkitsandbox
127.0.0.1	localhost buildkitsandbox
::1	localhost ip6-localhost ip6-loopback
devs|0"
t_is "placeholders (/proc /dev /sys /etc/hosts /etc/resolv.conf) are removed afterwards" \
    "$(emu_names "$R")" "$tree_before"

emu "${A[@]}" -- ls /dev
t_is "/dev is minimal" "$(emu_words "$OUT")|$RC" "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero|0"

emu "${A[@]}" --shell 'set -- /proc/[0-9]*; echo $#; grep -E " /(proc|sys|dev/pts|dev/shm) " /proc/mounts | busybox cut -d" " -f2,3 | busybox sort'
t_is "fresh /proc of the pid namespace (pid 1 and the step only), /sys, devpts, shm" "$OUT|$RC" "2
/dev/pts devpts
/dev/shm tmpfs
/proc proc
/sys sysfs|0"

emu "${A[@]}" --shell 'touch /sys/x 2>/dev/null && echo sys-writable; echo x >>/etc/hosts 2>/dev/null && echo hosts-writable; echo x >>/proc/sys/kernel/hostname 2>/dev/null && echo procsys-writable; ls /sys | grep -c . >/dev/null && echo ok'
t_is "/sys, /etc/hosts and /proc/sys are read-only" "$OUT|$RC" "ok|0"

if [[ -f /etc/resolv.conf ]]; then
    emu "${A[@]}" -- cat /etc/resolv.conf
    t_is "/etc/resolv.conf is the host's" "$OUT|$RC" "$(cat /etc/resolv.conf)|0"
else
    skip "the host has no /etc/resolv.conf"
fi

emu "${A[@]}" -- grep NoNewPrivs /proc/self/status
t_is "no new privileges for the step" "$(emu_words "$OUT")|$RC" "NoNewPrivs: 1|0"

# setuid files give nothing: the step stays who it is.
mkdir "$R/suid" && cp "$R/bin/busybox" "$R/suid/busybox" && chmod 4755 "$R/suid/busybox" && ln -s busybox "$R/suid/id"
emu "${A[@]}" -u builder -- /suid/id -u
t_is "a setuid-root binary in the root runs as the calling user" "$OUT|$RC|$(stat -c %a "$R/suid/busybox")" "1000|0|4755"
rm -rf "$R/suid"

# --- persistence and --overlay -----------------------------------------------------------
tree_before=$(emu_tree "$R")
emu "${A[@]}" --overlay --shell 'touch /newfile && echo x >>/etc/passwd && mkdir /d && cat /newfile && echo wrote'
t_is "--overlay: the step writes" "$OUT|$RC" "wrote|0"
t_is "--overlay: the rootfs is unchanged afterwards" "$(emu_tree "$R")" "$tree_before"
emu "${A[@]}" -- touch /newfile
t_is "without --overlay a change persists (it is a build step)" "$RC|$(stat -c %F "$R/newfile" 2>&1)" \
    "0|regular empty file"
rm -f "$R/newfile"

# --- --bind ------------------------------------------------------------------------------
mkdir -p "$WORK/src" && echo data >"$WORK/src/in" && echo file >"$WORK/one"
tree_before=$(emu_names "$R")
emu "${A[@]}" --bind "$WORK/src:/mnt/src" --bind "$WORK/one:/etc/one:ro" \
    --shell 'cat /mnt/src/in /etc/one; echo out >/mnt/src/out; echo x >/etc/one 2>/dev/null || echo ro'
t_is "--bind: read-write directory, read-only file" "$OUT|$RC|$(cat "$WORK/src/out")|$(cat "$WORK/one")" \
    "data
file
ro|0|out|file"
t_is "--bind: placeholder targets removed afterwards" "$(emu_names "$R")" "$tree_before"

# --- network, descriptors, stdin -----------------------------------------------------------
emu "${A[@]}" --network none --shell 'busybox tail -n +3 /proc/net/dev | busybox cut -d: -f1 | tr -d " "'
t_is "--network none: only lo" "$OUT|$RC" "lo|0"
emu "${A[@]}" --shell 'busybox tail -n +3 /proc/net/dev | wc -l'
t_is "--network host (default): the host's interfaces" "$OUT" "$(tail -n +3 /proc/net/dev | wc -l)"

exec 7</dev/null 9>"$WORK/fd9"
emu "${A[@]}" -- ls /proc/self/fd
exec 7<&- 9>&-
t_is "no descriptor leaks into the step (0 1 2 and ls's own)" "$(emu_words "$OUT")|$RC" "0 1 2 3|0"

OUT=$(printf 'line1\nline2\n' | "$EMU" "${A[@]}" -- wc -l 2>&1)
t_is "stdin passes through" "$OUT" "2"

printf '# comment\n\nFROMFILE=one two\nPASSED\nOVER=file\n' >"$WORK/envfile"
PASSED=from-host emu "${A[@]}" --env-file "$WORK/envfile" -e OVER=arg --shell 'echo "$FROMFILE|$PASSED|$OVER"'
t_is "--env-file (comments, KEY alone from emu-run's environment), -e after it wins" "$OUT|$RC" \
    "one two|from-host|arg|0"

emu_host_unchanged "the host's binfmt_misc registry is unchanged (RUN-step semantics)" "$host_before"

# --- a hostile rootfs ------------------------------------------------------------------------
# Victim: a host directory the rootfs's symlinks point at, with entries of every
# name emu-run mounts on, so that following a symlink out of the root would show.
V=$WORK/victim
mkdir -p "$V/proc" "$V/dev" "$V/sys" "$V/mnt" "$V/etc" && echo secret >"$V/file"
echo host-hosts >"$V/etc/hosts"
touch -d '2020-01-01' "$V"/* "$V"/etc/* "$V"
victim_before=$(emu_tree "$V")
H=$WORK/hostile
emu_make_rootfs "$H" arm64
ln -s "$V/proc" "$H/proc"
ln -s "../../../../../../../../$V/dev" "$H/dev"
ln -s "$V/sys" "$H/sys"
ln -s "$V/etc/hosts" "$H/etc/hosts"
ln -s "../../../../../../../$V/etc/resolv.conf" "$H/etc/resolv.conf"
ln -s "$V/mnt" "$H/mnt"
hostile_before=$(emu_names "$H")

emu --arch arm64 --rootfs "$H" --bind "$WORK/src:/mnt/x" --bind "$WORK/src:../../victim2" --shell \
    "cat /etc/hosts | head -1; ls /proc/self/ns >/dev/null && echo proc; ls /victim2/in /mnt/x/in; ls -d $V/*"
t_is "symlinked /proc /dev /sys /etc/hosts /etc/resolv.conf and bind targets resolve inside the root" \
    "$OUT|$RC" "127.0.0.1	localhost buildkitsandbox
proc
/mnt/x/in
/victim2/in
$V/dev
$V/etc
$V/mnt
$V/proc
$V/sys|0"
t_is "hostile rootfs: the victim directory is unchanged (contents, sizes, modes, mtimes)" \
    "$(emu_tree "$V")" "$victim_before"
t_unlike "hostile rootfs: nothing is mounted in the victim directory" "$(cat /proc/self/mountinfo)" "$V"
t_is "hostile rootfs: the placeholders made inside the root are removed" "$(emu_names "$H")" "$hostile_before"

# Two mounts aimed at one place: the second would have to walk into the first.
rm "$H/dev" && ln -s "$V/proc" "$H/dev"
emu --arch arm64 --rootfs "$H" -- true
t_is "a target that leads through an earlier mount is refused (125)" "$RC|$(emu_tree "$V")" "125|$victim_before"
t_like "... saying why" "$ERR" "leads through a mount point"
rm "$H/dev" && ln -s "../../../../../../../../$V/dev" "$H/dev"

# Through /proc's magic links to the host's root (/proc/1/root is emu-run's init).
ln -sfn "/proc/1/root$V/etc/hosts" "$H/etc/hosts"
emu --arch arm64 --rootfs "$H" -- true
t_is "an /etc/hosts symlink through /proc/1/root is refused (125), victim unchanged" \
    "$RC|$(emu_tree "$V")" "125|$victim_before"
ln -sfn "$V/etc/hosts" "$H/etc/hosts"

emu --arch arm64 --rootfs "$H" --bind "$WORK/src:/proc/1/root$V/mnt" -- true
t_is "a --bind target through /proc is refused (125), victim unchanged" "$RC|$(emu_tree "$V")" \
    "125|$victim_before"

emu --arch arm64 --rootfs "$H" --bind "$WORK/one:/../../../$V/file" -- cat "$V/file"
t_is "a --bind target with .. stays inside the root" "$OUT|$RC|$(cat "$V/file")" "file|0|secret"

hostile_before=$(emu_tree "$H")
emu --arch arm64 --rootfs "$H" --overlay -- true
t_is "hostile rootfs with --overlay: victim and rootfs unchanged" "$RC|$(emu_tree "$V")|$(emu_tree "$H")" \
    "0|$victim_before|$hostile_before"
emu_host_unchanged "after the hostile runs, the host's registry is unchanged" "$host_before"

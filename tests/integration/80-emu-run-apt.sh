#!/bin/bash
# emu-run as an ordinary user in a real Debian root (issue 13): the commonest RUN
# step of all, `apt-get update && apt-get install -y hello && hello`, from the
# mirror in the host's own apt configuration. The user (nobody) unpacks a cached
# mmdebstrap'd bookworm root itself (tests/fixtures/debian-roots.sh), so every
# file is the user's; emu-run maps the user as root and its subordinate ranges as
# 1..N (newuidmap/newgidmap), so apt drops to _apt, dpkg chowns, --user works, and
# files made for system users land on the host under the subordinate ids, as
# rootless Podman lays them out. Then the same user with no range: the step fails,
# and emu-run says exactly what to add.
# Then root as the caller (issue 19): its step runs in an unprivileged range (root's
# /etc/subuid line, or emu-run's default block) over an idmapped root, so on disk
# every file apt and dpkg make has the owner it has without emu-run.
# The ranges are the test's own: /etc/subuid and /etc/subgid are bind-mounted
# over in a private mount namespace (newuidmap, setuid root, reads them there);
# the host's files are never changed. Root only, to do that.
# shellcheck disable=SC2016 # single-quoted steps run in the root
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

[[ -x $EMU ]] || skip_all "emu-run not built at $EMU (make)"
require_private_binfmt
((EUID == 0)) || skip_all "needs root: the test's subordinate ranges are bind-mounted over /etc/subuid"
id nobody >/dev/null 2>&1 || skip_all "no nobody user"
if ! command -v newuidmap >/dev/null || ! command -v newgidmap >/dev/null; then
    skip_all "uidmap is not installed (tests/deps.sh)"
fi
for a in arm64 s390x; do
    [[ -s $FIXTURES/debian/bookworm-$a.tar ]] ||
        skip_all "no Debian $a root cached in $FIXTURES/debian (run tests/fixtures/debian-roots.sh as root)"
done
# shellcheck source=qemu-static/lib.sh
. "$ROOT/qemu-static/lib.sh"
MIRROR=${BINFMT_TEST_MIRROR:-$(qs_find_mirror)}
[[ -n $MIRROR ]] || skip_all "no Debian mirror in the host's apt sources"
plan 30

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emu-run-apt.XXXXXX")
on_exit rm -rf "$WORK"
chmod 755 "$WORK"
host_before=$(host_listing)
ids_before=$(sha256sum /etc/subuid /etc/subgid 2>&1)

# A range no user of this host has: above every range in the host's files.
START=$(awk -F: '$2 + $3 > m { m = $2 + $3 } END { print (m > 1000000 ? m : 1000000) }' /etc/subuid /etc/subgid 2>/dev/null)
COUNT=65536
printf 'nobody:%s:%s\n' "$START" "$COUNT" >"$WORK/subids"
: >"$WORK/none"
chmod 644 "$WORK/subids" "$WORK/none"
mkdir -m 755 "$WORK/empty-path"

# as_nobody FILE CMD...: CMD as nobody, with FILE as /etc/subuid and /etc/subgid.
as_nobody() {
    local ids=$1
    shift
    unshare --mount --propagation private bash -c '
        mount --bind "$0" /etc/subuid && mount --bind "$0" /etc/subgid || exit 125
        cd / && exec setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/ "$@"' "$ids" "$@"
}
# unpack ARCH DIR: the cached root, unpacked by nobody (device nodes are left out,
# as an ordinary user's tar must; emu-run mounts its own /dev).
unpack() {
    mkdir -m 755 "$2" && chown nobody "$2" &&
        setpriv --reuid=65534 --regid=65534 --clear-groups tar -C "$2" -xpf "$FIXTURES/debian/bookworm-$1.tar" \
            --exclude='./dev/*' &&
        printf 'deb %s bookworm main\n' "$MIRROR" | setpriv --reuid=65534 --regid=65534 --clear-groups \
            tee "$2/etc/apt/sources.list" >/dev/null
}
STEP='apt-get update -q >/dev/null && apt-get install -q -y hello >/dev/null && hello'

# --- with a subordinate range ------------------------------------------------------
R=$WORK/arm64
unpack arm64 "$R" || bail_out "cannot unpack the arm64 root as nobody"
t_is "the unpacked root is nobody's" "$(stat -c %U "$R/usr/bin/apt-get")" nobody

run as_nobody "$WORK/subids" "$EMU" --verbose --arch arm64 --rootfs "$R" --network host -- /bin/sh -c "$STEP"
t_is "with a range: apt-get update, install hello, run it (exit 0)" "$RC|$OUT" "0|Hello, world!" || diag "$ERR"
t_like "--verbose says which ids the sandbox holds" "$ERR" \
    "ids: your uid 65534 and gid 65534 as root, $COUNT subordinate uids and $COUNT gids as 1 and up \\(newuidmap, newgidmap\\)"
t_unlike "no setgroups/seteuid failure from apt" "$ERR" "setgroups|seteuid|has died unexpectedly"
# From outside, after emu-run has exited: what root made is nobody's, what _apt
# owns inside is the subordinate uid START + 42 - 1.
t_is "outside: the installed program is the caller's" "$(stat -c %U "$R/usr/bin/hello" 2>&1)" nobody
t_is "outside: _apt's directory is subordinate uid START+41" \
    "$(stat -c %u "$R/var/cache/apt/archives/partial" 2>&1)" "$((START + 41))"

emu_n() { run as_nobody "$WORK/subids" "$EMU" --arch "$1" --rootfs "$2" "${@:3}"; }
emu_n arm64 "$R" --user _apt -- /bin/sh -c 'id -u; id -g; id -un'
t_is "--user _apt (a system user of the root)" "$RC|$OUT" $'0|42\n65534\n_apt' || diag "$ERR"
emu_n arm64 "$R" -- /bin/sh -c 'touch /tmp/owned && chown daemon:daemon /tmp/owned && stat -c %u:%g /tmp/owned'
t_is "chown to a system user inside" "$RC|$OUT" "0|1:1" || diag "$ERR"
t_is "outside: that file is subordinate uid and gid START+0" "$(stat -c %u:%g "$R/tmp/owned" 2>&1)" "$START:$START"
emu_n arm64 "$R" -- /bin/sh -c 'setpriv --reuid=daemon --regid=daemon --init-groups id -u'
t_is "setuid to a system user with its groups (setgroups allowed)" "$RC|$OUT" "0|1" || diag "$ERR"
# A second run of a root whose files now carry subordinate owners.
emu_n arm64 "$R" -- /bin/sh -c 'stat -c %U /var/cache/apt/archives/partial /tmp/owned; hello -g again'
t_is "a root with subordinate owners works again: owners as inside" "$RC|$OUT" $'0|_apt\ndaemon\nagain' || diag "$ERR"

S=$WORK/s390x
unpack s390x "$S" || bail_out "cannot unpack the s390x root as nobody"
run as_nobody "$WORK/subids" "$EMU" --arch s390x --rootfs "$S" --network host -- /bin/sh -c "$STEP; dpkg --print-architecture"
t_is "s390x: the same apt step (exit 0)" "$RC|$OUT" $'0|Hello, world!\ns390x' || diag "$ERR"
t_is "s390x outside: _apt's directory is subordinate uid START+41" \
    "$(stat -c %u "$S/var/cache/apt/archives/partial" 2>&1)" "$((START + 41))"

# --- without a range ----------------------------------------------------------------
N=$WORK/arm64-none
unpack arm64 "$N" || bail_out "cannot unpack the arm64 root as nobody"
run as_nobody "$WORK/none" "$EMU" --arch arm64 --rootfs "$N" --network host -- /bin/sh -c "$STEP"
t_isnt "no range: the apt step fails" "$RC" 0
t_like "... and emu-run says the step ran with only the caller's ids" "$ERR" \
    "emu-run: note: the step failed \\(exit $RC\\) with only your own uid and gid mapped \\(as root\\)"
t_like "... why, and the fix, in that one line" "$ERR" \
    "no subordinate uids for nobody in /etc/subuid; for the other users' ids, as root, 'usermod --add-subuids 100000-165535 --add-subgids 100000-165535 nobody'"
t_is "... one note line" "$(grep -c 'emu-run: note:' <<<"$ERR")" 1
run as_nobody "$WORK/none" "$EMU" --verbose --arch arm64 --rootfs "$N" -- true
t_like "no range, --verbose: says so before the step" "$RC|$ERR" \
    "^0\\|.*ids: only your uid 65534 and gid 65534, as root: no subordinate uids for nobody"
run as_nobody "$WORK/none" "$EMU" --arch arm64 --rootfs "$N" --user _apt -- true
t_like "no range, --user _apt: refused (125), naming the fix" "$RC|$ERR" \
    "^125\\|emu-run: --user _apt \\(uid 42, gid 65534\\): that id does not exist in emu-run's user namespace, which holds only your own ids \\(as root\\): no subordinate uids for nobody.*usermod --add-subuids"
run as_nobody "$WORK/none" "$EMU" --arch arm64 --rootfs "$N" -- /bin/sh -c 'echo ok; exit 3'
t_is "no range, a step failing on its own still exits with its status" "$RC|$OUT" "3|ok"

# A range but no helpers (PATH without newuidmap): the helper named.
run as_nobody "$WORK/subids" env PATH="$WORK/empty-path" "$EMU" --verbose --arch arm64 --rootfs "$N" -- /bin/true
t_like "no newuidmap on PATH: runs with single ids, --verbose names uidmap" "$RC|$ERR" \
    "^0\\|.*ids: only your uid 65534 and gid 65534, as root: newuidmap is not installed; for the other users' ids, as root, 'apt-get install uidmap'"

# --- root as the caller ---------------------------------------------------------------
# as_root FILE CMD...: CMD as root, with FILE as /etc/subuid and /etc/subgid.
as_root() {
    local ids=$1
    shift
    unshare --mount --propagation private bash -c '
        mount --bind "$0" /etc/subuid && mount --bind "$0" /etc/subgid || exit 125
        exec "$@"' "$ids" "$@"
}
printf 'root:%s:%s\n' "$((START + COUNT))" "$COUNT" >"$WORK/root-subids"
Q=$WORK/arm64-root
mkdir -m 755 "$Q" && tar -C "$Q" -xpf "$FIXTURES/debian/bookworm-arm64.tar" --exclude='./dev/*' &&
    printf 'deb %s bookworm main\n' "$MIRROR" >"$Q/etc/apt/sources.list" || bail_out "cannot unpack the arm64 root"
run as_root "$WORK/none" "$EMU" --verbose --arch arm64 --rootfs "$Q" --network host -- /bin/sh -c "$STEP; cat /proc/self/uid_map"
t_is "root's step: the apt step (exit 0), in emu-run's default block, not as host uid 0" \
    "$RC|$(emu_words "$OUT")" "0|Hello, world! 0 1878982656 65536" || diag "$ERR"
t_like "...--verbose says so" "$ERR" "ids: the step's root is host uid 1878982656 and gid 1878982656 \(65536 uids and 65536 gids, emu-run's default block"
# From outside: owners as without emu-run (the root is idmapped, nothing chowned).
t_is "outside: hello and _apt's directory are owned as without emu-run (root, _apt)" \
    "$(stat -c %u:%g "$Q/usr/bin/hello" "$Q/var/cache/apt/archives/partial" 2>&1 | tr '\n' ' ')" "0:0 42:0 "
t_is "outside: nothing in the root is owned by an id of the range" \
    "$(find "$Q" -xdev \( -uid +65535 -o -gid +65535 \) -print 2>&1 | head -3)" ""
run as_root "$WORK/root-subids" "$EMU" --arch arm64 --rootfs "$Q" --user _apt -- /bin/sh -c 'id -u; cat /proc/self/uid_map'
t_is "with root's own range in /etc/subuid: the step is that range; --user _apt works" \
    "$RC|$(emu_words "$OUT")" "0|42 0 $((START + COUNT)) $COUNT" || diag "$ERR"
run as_root "$WORK/root-subids" "$EMU" --arch arm64 --rootfs "$Q" --user 70000 -- true
t_like "...--user outside the range: refused (125), naming it" "$RC|$ERR" \
    "^125\|emu-run: --user 70000 \(uid 70000, gid 0\): the step's user namespace holds ids 0 to 65535 and gids 0 to 65535 only \(the host's $((START + COUNT)) and up, root's ranges in /etc/subuid and /etc/subgid\)"
run "$EMU" --arch arm64 --rootfs "$Q" --overlay -- /bin/sh -c 'touch /new && chown _apt /new && stat -c %U /new && hello -g overlay'
t_is "root's step with --overlay: writes and chowns in its own root" "$RC|$(emu_words "$OUT")" "0|_apt overlay" || diag "$ERR"

t_is "host: /etc/subuid and /etc/subgid unchanged" "$(sha256sum /etc/subuid /etc/subgid 2>&1)" "$ids_before"
t_is "host $HOST_BM state identical before and after" "$(host_listing)" "$host_before"

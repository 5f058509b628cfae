#!/bin/bash
# The installer image in a real ROOTLESS Docker engine (issue 12): Debian's docker.io
# (dockerd-rootless.sh from its contrib directory), rootlesskit and uidmap (newuidmap),
# run by an ordinary user. Inside the engine's user namespace, Linux >= 6.7 gives
# binfmt_misc an instance of its own, which lives only while a mount of it does: a
# registration made from a container's own mount namespace dies with the container
# unless binfmt mounts the instance where the engine lives. Each case starts a fresh
# engine (so the namespace's instance starts empty) and checks the result with a
# FOLLOWING container, as a user would:
#
#   A. `docker run --privileged IMG --install arm64` (the container has a pid namespace
#      of its own: no process of the engine is visible): exit 3, one line saying the
#      registrations would vanish and naming the fixes (podman unshare, nsenter into
#      $XDG_RUNTIME_DIR/docker.pid, --pid=host), no OK; a following arm64 container
#      fails with "exec format error";
#   B. the fix that message names, run verbatim as the user (nsenter ... mount -t
#      binfmt_misc ...), then the same `docker run`: exit 0, OK; a following arm64
#      container prints aarch64;
#   C. an engine with its own pid namespace (rootlesskit --pidns), `docker run
#      --privileged --pid=host IMG --verbose --install arm64`: exit 0, binfmt says it
#      mounted the instance in the mount namespace of the namespace's oldest process
#      (pid and comm checked against the host's view of rootlesskit's child) and what the
#      registrations last as long as; a following arm64 container prints aarch64.
#
# The engine runs as the existing user "nobody" (HOME and XDG_RUNTIME_DIR in a 0700
# directory it owns under the test's temporary directory), in a private mount namespace
# where /etc/subuid and /etc/subgid are bind-mounted over by the test's own files giving
# it the range SUBID_BASE:65536 (newuidmap, setuid root, reads them there): no user is
# created and neither file changes (checked at the end). Where one of the two files does
# not exist, an empty one is created for the bind mount and removed at exit.
# /dev/net/tun may be root-only (slirp4netns fails): the engine uses rootlesskit's host
# network (DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host, no port driver) and dockerd runs with
# --bridge=none --iptables=false --ip6tables=false; containers need no network here.
# No registry is reachable: the installer image is `make image`'s docker archive and the
# arm64 base image the local busybox tarball, both `docker load`ed into each engine.
# The registrations are private to the engine's user namespace: the host's binfmt_misc
# state is recorded first and must be unchanged after each case (and is restored exactly
# at the end). If the host itself runs arm64 binaries, an engine's namespace without an
# instance of its own would use the host's entries (the kernel falls back to the parent
# namespace's instance), so the host's registry is disabled for the test and re-enabled
# at exit. Every engine process (found by its user namespace) is killed at exit, on
# failure too. Skipped (1..0) when the rootless engine cannot start at all.
set -uo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_require_host
e2e_install jq >/dev/null || skip_all "jq cannot be installed"
e2e_install docker.io rootlesskit uidmap >&2 || skip_all "docker.io, rootlesskit, uidmap cannot be installed"
CONTRIB=/usr/share/docker.io/contrib
[[ -x $CONTRIB/dockerd-rootless.sh ]] || skip_all "no $CONTRIB/dockerd-rootless.sh in this docker.io"
BB_ARM64=$(busybox_path arm64) || skip_all "busybox for arm64 not cached (tests/fixtures/fetch.sh)"
RL_USER=nobody
RL_UID=$(id -u "$RL_USER" 2>/dev/null) || skip_all "no user $RL_USER"
RL_GID=$(id -g "$RL_USER")
SUBID_BASE=${E2E_SUBID_BASE:-1000000000}
e2e_image >&2 || bail_out "make image failed: $(tail -n 5 "$E2E_TMP/image.log" 2>/dev/null)"
e2e_host_snapshot || bail_out "cannot take the host-registry lock"
SNAP_STATE=$(e2e_host_state)
ORIG_STATE=$SNAP_STATE
note "host's binfmt_misc before: $SNAP_STATE"

# What must be the same at the end: the host's users and subordinate ids.
ids_sum() { cat /etc/passwd /etc/group /etc/subuid /etc/subgid 2>/dev/null | sha256sum; }
for f in /etc/subuid /etc/subgid; do
    if [[ ! -e $f ]]; then
        : >"$f"
        e2e_on_exit rm -f "$f"
        diag "$f did not exist: created empty for the bind mount, removed at exit"
    fi
done
IDS_BEFORE=$(ids_sum)
printf '%s:%d:65536\n' "$RL_USER" "$SUBID_BASE" >"$E2E_TMP/subuid"
printf '%s:%d:65536\n' "$RL_USER" "$SUBID_BASE" >"$E2E_TMP/subgid"

# The host running arm64 binaries itself would answer for the engine's namespace.
host_bm_status() { # enable 1|0 through a mount of the host's instance of our own
    local d rc=0
    d=$(mktemp -d "$E2E_TMP/host-bm.XXXXXX")
    mount -t binfmt_misc binfmt_misc "$d" || { rmdir "$d"; return 1; }
    echo "$1" >"$d/status" || rc=1
    umount "$d" 2>/dev/null || umount -l "$d"
    rmdir "$d"
    return "$rc"
}
if [[ $("$BB_ARM64" uname -m 2>/dev/null) == aarch64 ]]; then
    diag "the host runs arm64 binaries: disabling its binfmt_misc registry for the test (restored at exit)"
    host_bm_status 0 || bail_out "cannot disable the host's binfmt_misc registry"
    SNAP_STATE=$(e2e_host_state)
fi

e2e_busybox_archive arm64 linux/arm64 e2e-busybox:arm64 "$E2E_TMP/bb-arm64.tar" ||
    bail_out "cannot make the arm64 busybox image"

IMG=binfmt-installer:latest
BB_IMG=e2e-busybox:arm64
HBM=/proc/sys/fs/binfmt_misc

# --- the rootless engine -------------------------------------------------------------------

RL_DIR="" RL_PID="" RL_CHILD="" RL_USERNS="" RL_LOG=""
RL_SEEN_USERNS=() # every engine's user namespace, for the final check

# as_user CMD...: CMD as the engine's user, in that engine's environment.
as_user() {
    setpriv --reuid="$RL_UID" --regid="$RL_GID" --clear-groups \
        env -i HOME="$RL_DIR" XDG_RUNTIME_DIR="$RL_DIR/run" PATH=/usr/bin:/bin:/usr/sbin:/sbin \
        DOCKER_HOST="unix://$RL_DIR/run/docker.sock" DOCKER_CONFIG="$RL_DIR/.docker" "$@"
}
udocker() { as_user "$DOCKER_BIN" "$@"; }

# rl_start NAME [ROOTLESSKIT-FLAGS]: a fresh engine in $E2E_TMP/rl-NAME; 0 once `docker
# info` answers. Must run in the main shell (it sets RL_* and registers the cleanup).
rl_start() {
    local name=$1 flags=${2:-} i
    RL_DIR=$E2E_TMP/rl-$name RL_LOG=$E2E_TMP/dockerd-rootless-$name.log
    install -d -m 0700 -o "$RL_UID" -g "$RL_GID" "$RL_DIR" "$RL_DIR/run"
    # unshare execs bash, which execs setpriv, env, the script, rootlesskit: one pid.
    # shellcheck disable=SC2016 # expanded by that bash
    unshare --mount --propagation private -- bash -c '
        mount --bind "$1" /etc/subuid && mount --bind "$2" /etc/subgid || exit 1
        shift 2
        exec "$@"' rl-start "$E2E_TMP/subuid" "$E2E_TMP/subgid" \
        setpriv --reuid="$RL_UID" --regid="$RL_GID" --clear-groups \
        env -i HOME="$RL_DIR" XDG_RUNTIME_DIR="$RL_DIR/run" \
        PATH="$CONTRIB:/usr/sbin:/usr/bin:/sbin:/bin" \
        DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=none \
        DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS="$flags" \
        dockerd-rootless.sh --bridge=none --iptables=false --ip6tables=false \
        >"$RL_LOG" 2>&1 &
    RL_PID=$!
    RL_CHILD="" RL_USERNS=""
    e2e_on_exit rl_stop
    for ((i = 0; i < 120; i++)); do
        if udocker info >/dev/null 2>&1; then
            RL_CHILD=$(pgrep -o -P "$RL_PID")
            RL_USERNS=$(stat -L -c %i "/proc/$RL_CHILD/ns/user" 2>/dev/null)
            RL_SEEN_USERNS+=("$RL_USERNS")
            return 0
        fi
        kill -0 "$RL_PID" 2>/dev/null || break
        sleep 0.5
    done
    diag "the rootless engine ($name) did not come up:" "$(tail -n 20 "$RL_LOG")"
    return 1
}

# userns_pids INODE...: the pids of every process in one of these user namespaces.
userns_pids() {
    local p ns
    for p in /proc/[0-9]*; do
        ns=$(stat -L -c %i "$p/ns/user" 2>/dev/null) || continue
        [[ " $* " == *" $ns "* ]] && echo "${p#/proc/}"
    done
}

# rl_stop: remove the containers, SIGTERM rootlesskit (it passes it on to dockerd), and
# wait up to 30 s for it and every process of the engine's user namespace to end; then
# SIGKILL what is left.
rl_stop() {
    [[ -n $RL_PID ]] || return 0
    local i ids left=()
    mapfile -t ids < <(udocker ps -aq 2>/dev/null)
    ((${#ids[@]} == 0)) || udocker rm -f "${ids[@]}" >/dev/null 2>&1
    kill "$RL_PID" 2>/dev/null
    for ((i = 0; i < 60; i++)); do
        [[ -n $RL_USERNS ]] && mapfile -t left < <(userns_pids "$RL_USERNS")
        kill -0 "$RL_PID" 2>/dev/null || ((${#left[@]})) || break
        sleep 0.5
    done
    if ((${#left[@]})); then
        diag "killing what is left of the engine: $(ps -o pid=,comm= -p "$(IFS=,; echo "${left[*]}")" | paste -sd' ')"
        kill -9 "${left[@]}" 2>/dev/null
    fi
    kill -9 "$RL_PID" 2>/dev/null
    wait "$RL_PID" 2>/dev/null
    [[ -n ${E2E_KEEP:-} ]] || rm -rf "$RL_DIR"
    RL_PID="" RL_CHILD="" RL_USERNS=""
    return 0
}

load_images() {
    udocker load -q <"$IMAGE_DIR/binfmt-installer-amd64.docker.tar" &&
        udocker load -q <"$E2E_TMP/bb-arm64.tar"
}

# rl_ready CASE: the points every fresh engine gets (2).
rl_ready() {
    t_like "$1: the engine is rootless (docker info's security options)" \
        "$(udocker info -f '{{json .SecurityOptions}}' 2>&1)" 'name=rootless'
    t_ok "$1: docker load the installer image and the arm64 busybox into it" load_images
}

# bm_mounted PID: 0 when binfmt_misc is mounted at /proc/sys/fs/binfmt_misc in PID's
# mount namespace (read from the host).
bm_mounted() {
    awk -v mp="$HBM" '$5 == mp && $0 ~ / - binfmt_misc / { f = 1 } END { exit !f }' "/proc/$1/mountinfo"
}

# t_has DESC GOT STRING: GOT contains STRING (no regular expression).
t_has() {
    if [[ $2 == *"$3"* ]]; then
        t_pass "$1"
    else
        t_fail "$1"
        diag "     got: '$2'" "  wanted: '$3' in it"
        return 1
    fi
}

# following CASE WANT: a following arm64 container, as a user would run it.
following() {
    local out rc
    out=$(udocker run --rm --platform linux/arm64 "$BB_IMG" uname -m 2>&1)
    rc=$?
    if [[ $2 == aarch64 ]]; then
        t_is "$1: a following arm64 container prints aarch64" "$out" aarch64
    else
        t_like "$1: a following arm64 container fails: exec format error (exit $rc)" "$out" \
            'exec format error'
    fi
}

FIX_PODMAN="podman unshare mount -t binfmt_misc binfmt_misc $HBM"
# shellcheck disable=SC2016 # the message names $XDG_RUNTIME_DIR literally
FIX_NSENTER='nsenter -U --preserve-credentials -m -t $(cat $XDG_RUNTIME_DIR/docker.pid) mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc'

# --- A: plain --privileged: the container's own pid namespace ----------------------------------
if ! rl_start A; then
    why=$(grep -m1 -iE 'level=fatal|\] error|level=error' "$RL_LOG" || tail -n1 "$RL_LOG")
    skip_all "rootless dockerd cannot run here: $(cut -c1-300 <<<"$why")"
fi
START=$SECONDS
plan 33

rl_ready A
out=$(udocker run --rm --privileged "$IMG" --install arm64 2>"$E2E_TMP/A.err")
rc=$?
errA=$(cat "$E2E_TMP/A.err")
t_is "A: docker run --privileged $IMG --install arm64: exit 3" "$rc" 3 || diag "$errA"
t_is "A: ... one line on stderr, nothing on stdout" "$(grep -c . <<<"$errA") [$out]" "1 []"
t_has "A: ... saying the registrations would vanish" "$errA" "would vanish when binfmt exits"
t_has "A: ... naming the rootless Podman fix" "$errA" "'$FIX_PODMAN'"
t_has "A: ... naming the rootless Docker fix" "$errA" "'$FIX_NSENTER'"
t_has "A: ... and --pid=host" "$errA" "--pid=host"
t_unlike "A: ... no OK line" "$errA" 'OK'
following A fails
t_nok "A: nothing mounted in the engine's mount namespace (dockerd's, seen from the host)" \
    bm_mounted "$(cat "$RL_DIR/run/docker.pid")"
t_is "A: the host's binfmt_misc is unchanged" "$(e2e_host_state)" "$SNAP_STATE"
rl_stop

# --- B: the fix the message names, then the same docker run ------------------------------------
fix=$(sed -n "s/.*'\(nsenter [^']*\)'.*/\1/p" <<<"$errA")
[[ -n $fix ]] || { fix=$FIX_NSENTER; diag "A's message named no nsenter command: using the documented one"; }
if rl_start B; then
    rl_ready B
    t_ok "B: the fix, as the user: $fix" as_user sh -c "$fix"
    t_ok "B: binfmt_misc is mounted in dockerd's mount namespace now (seen from the host)" \
        bm_mounted "$(cat "$RL_DIR/run/docker.pid")"
    out=$(udocker run --rm --privileged "$IMG" --install arm64 2>"$E2E_TMP/B.err")
    rc=$?
    errB=$(cat "$E2E_TMP/B.err")
    t_is "B: docker run --privileged $IMG --install arm64: exit 0" "$rc" 0 || diag "$errB"
    t_like "B: ... installing: linux/arm64 (qemu-aarch64) OK" "$errB" \
        '(^|'$'\n'')installing: linux/arm64 \(qemu-aarch64\) OK'
    t_is "B: ... its JSON names qemu-aarch64" "$(jq -c .emulators <<<"$out" 2>&1)" '["qemu-aarch64"]'
    following B aarch64
    t_is "B: the host's binfmt_misc is unchanged (the registration is the namespace's)" \
        "$(e2e_host_state)" "$SNAP_STATE"
    rl_stop
else
    t_fail "B: the rootless engine starts"
    skip "no engine for B" 8
fi

# --- C: an engine with its own pid namespace, --pid=host ---------------------------------------
if rl_start C --pidns; then
    rl_ready C
    # The namespace's oldest process: rootlesskit's child, pid 1 of its pid namespace.
    holder_pid=$(awk '/^NSpid:/ {print $NF}' "/proc/$RL_CHILD/status")
    holder_comm=$(cat "/proc/$RL_CHILD/comm")
    out=$(udocker run --rm --privileged --pid=host "$IMG" --verbose --install arm64 2>"$E2E_TMP/C.err")
    rc=$?
    errC=$(cat "$E2E_TMP/C.err")
    t_is "C: docker run --privileged --pid=host $IMG --verbose --install arm64: exit 0" "$rc" 0 ||
        diag "$errC"
    t_has "C: ... it mounted the instance in the mount namespace of pid $holder_pid ($holder_comm) too" \
        "$errC" "mounted it at $HBM in the mount namespace of pid $holder_pid ($holder_comm) as well"
    t_has "C: ... and says what the registrations last as long as" "$errC" \
        "note: these registrations are private to this user namespace and last as long as the mount at $HBM binfmt made in the mount namespace of pid $holder_pid ($holder_comm)"
    t_like "C: ... installing: linux/arm64 (qemu-aarch64) OK" "$errC" \
        '(^|'$'\n'')installing: linux/arm64 \(qemu-aarch64\) OK'
    t_ok "C: binfmt_misc is mounted in that process's mount namespace (seen from the host)" \
        bm_mounted "$RL_CHILD"
    following C aarch64
    t_is "C: the host's binfmt_misc is unchanged" "$(e2e_host_state)" "$SNAP_STATE"
    rl_stop
else
    t_fail "C: the rootless engine (--pidns) starts"
    skip "no engine for C" 8
fi

# --- the host ----------------------------------------------------------------------------------
t_is "no process of the engines' user namespaces is left" "$(userns_pids "${RL_SEEN_USERNS[@]}" | wc -l)" 0
t_is "the host's users, groups, /etc/subuid and /etc/subgid are unchanged" "$(ids_sum)" "$IDS_BEFORE"
note "3 rootless engines in $((SECONDS - START)) s"
e2e_host_restore
t_is "the host's binfmt_misc is as it was" "$(e2e_host_state)" "$ORIG_STATE"

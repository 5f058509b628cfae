# shellcheck shell=bash
# `docker run --platform` for the startup and workloads sections. Source it after
# bench/lib.sh, do not run it.
#
# A Docker daemon of this host runs its containers in the initial user namespace, so
# their foreign binaries are dispatched by the HOST's binfmt_misc registry: unlike the
# rest of the bench, this part has to change it. It does so the way the end-to-end
# tests do, with their functions (tests/e2e/lib.sh, sourced here): under the shared
# host-registry lock (/run/lock/binfmt-installer-host-binfmt.lock) it snapshots the
# host's state (mounted or not, every entry), mounts binfmt_misc on the host if needed,
# registers the default payload's arm64 and riscv64 emulators with F (the project's own
# `binfmt --install arm64,riscv64`), and starts a private dockerd (own data-root, socket
# and containerd namespace, --iptables=false --ip-masq=false --bridge=none). bd_stop
# stops that daemon, removes its data-root, restores the host's registry exactly and
# compares the listing before/after: a difference ends the section with an error.
#
#   bd_start IMAGE...      IMAGE: arm64 | riscv64 (bench/rootfs.sh's rootfs, imported as
#                          bench-arm64 / bench-riscv64) | native (the host's busybox-static,
#                          bench-native). 0 when docker is usable: BD_DOCKER is the client
#                          command for altbench rows. 1 otherwise, with the reason in BD_WHY
#                          (the caller records it and skips its docker rows).
#   bd_stop                in the caller's EXIT trap (a no-op when nothing was started)
#   bd_fact PREFIX         records the set-up as facts PREFIX.docker-*
#
# Environment:
#   BENCH_DOCKER=0          no docker rows at all
#   BENCH_DOCKER_HOST=URL   use that daemon as it is (e.g. a rootless one whose containers
#                           use a private binfmt_misc instance): no host lock, no host
#                           registration, no private dockerd; the images are imported there
#   BENCH_DOCKER_LOCK_WAIT  seconds to wait for the host-registry lock (default 600)

# shellcheck disable=SC2034 # BD_DOCKER and BD_WHY are read by the sections
BD_STATE=/var/lib/binfmt-installer-bench # the private dockerd's data-root (removed at stop)
BD_RUN=/run/binfmt-installer-bench       # its socket, exec-root, client config
BD_CLIENT=/usr/bin/docker                 # Debian's client (another `docker` may come first in PATH)
BD_DOCKER="" BD_WHY="" BD_HOST="" BD_ACTIVE="" BD_DOCKERD_PID="" BD_BEFORE=""
declare -gA BD_IMAGE_PLATFORM=()
declare -ga BD_FACTS=()

bd_docker() { "$BD_CLIENT" -H "$BD_HOST" "$@"; }

# _bd_e2e_lib: the host snapshot/restore of tests/e2e/lib.sh. That file sources the TAP
# library, which installs an EXIT trap (TAP plan checks and its cleanups): the caller's
# trap is put back, and bd_stop runs the cleanups the e2e functions registered.
_bd_e2e_lib() {
    local prev
    prev=$(trap -p EXIT)
    # shellcheck source=tests/e2e/lib.sh
    . "$B_ROOT/tests/e2e/lib.sh"
    trap - EXIT
    [[ -z $prev ]] || eval "$prev"
    export -n _TAP_STATE _TAP_PID
    _BD_E2E=1
}
_BD_E2E=""

bd_start() {
    _bd_start "$@" && return 0
    # Nothing half-done stays: the host's registry goes back now, not at exit.
    bd_stop || b_die "the host's binfmt_misc registry could not be restored (see above)"
    return 1
}

_bd_start() {
    local img
    if [[ ${BENCH_DOCKER:-1} == 0 ]]; then
        BD_WHY="BENCH_DOCKER=0"
        return 1
    fi
    if [[ ! -x $BD_CLIENT ]]; then
        BD_WHY="Debian's docker.io is not installed ($BD_CLIENT missing)"
        return 1
    fi
    export DOCKER_CONFIG=$BD_RUN/client-config # nothing of ~/.docker (contexts, plugins) plays a part
    if [[ -n ${BENCH_DOCKER_HOST:-} ]]; then
        BD_HOST=$BENCH_DOCKER_HOST
        mkdir -p "$DOCKER_CONFIG"
        bd_docker version >/dev/null 2>&1 || { BD_WHY="BENCH_DOCKER_HOST=$BD_HOST does not answer"; return 1; }
        BD_FACTS+=("setup|the daemon at BENCH_DOCKER_HOST=$BD_HOST, used as it is (the bench neither started it nor changed the host's binfmt_misc registry for it)")
    else
        _bd_start_private || return 1
    fi
    for img in "$@"; do _bd_import "$img" || return 1; done
    # One run of each image proves the whole chain (for foreign images: the host's entry).
    for img in "$@"; do
        local out
        if ! out=$(bd_docker run --rm --network=none --platform "${BD_IMAGE_PLATFORM[$img]}" "bench-$img" /bin/true 2>&1); then
            BD_WHY="docker run --platform ${BD_IMAGE_PLATFORM[$img]} bench-$img /bin/true fails: ${out//$'\n'/ }"
            return 1
        fi
    done
    BD_DOCKER="$BD_CLIENT -H $BD_HOST"
    return 0
}

_bd_start_private() {
    command -v dockerd >/dev/null || { BD_WHY="dockerd is not installed (Debian's docker.io)"; return 1; }
    [[ $EUID == 0 ]] || { BD_WHY="needs root (a dockerd, and the host's binfmt_misc registry)"; return 1; }
    [[ $(stat -L -c %i /proc/self/ns/user) == 4026531837 ]] ||
        { BD_WHY="not in the initial user namespace: a dockerd here would not use the host's registry"; return 1; }
    command -v jq >/dev/null || { BD_WHY="jq is missing (reads binfmt --inspect)"; return 1; }
    _bd_e2e_lib

    # The lock first, with the bench's own patience (e2e_host_snapshot waits 15 minutes);
    # released again at once: e2e_host_snapshot takes it on its own descriptor.
    local fd waited=$SECONDS
    mkdir -p "${E2E_HOST_LOCK%/*}"
    exec {fd}>>"$E2E_HOST_LOCK"
    if ! flock -n "$fd"; then
        b_log "docker: waiting for the host-registry lock $E2E_HOST_LOCK (held by a test)"
        if ! flock -w "${BENCH_DOCKER_LOCK_WAIT:-600}" "$fd"; then
            exec {fd}>&-
            BD_WHY="the host-registry lock $E2E_HOST_LOCK stayed held (by an end-to-end test?) for ${BENCH_DOCKER_LOCK_WAIT:-600} s"
            return 1
        fi
    fi
    exec {fd}>&-
    BD_ACTIVE=1 # from here on bd_stop has something to undo
    if ! e2e_host_snapshot 2>/dev/null; then
        BD_WHY="could not take the host-registry lock $E2E_HOST_LOCK"
        return 1
    fi
    BD_BEFORE=$(e2e_host_state) || { BD_WHY="cannot read the host's binfmt_misc state"; return 1; }
    ((SECONDS - waited < 2)) || BD_FACTS+=("lock|waited $((SECONDS - waited)) s for the host-registry lock")

    # binfmt_misc on the host, and the default payload's emulators with F.
    local was=unmounted out
    e2e_host_mounted && was=mounted
    if [[ $was == unmounted ]] && ! mount -t binfmt_misc binfmt_misc "$HOST_BM"; then
        BD_WHY="cannot mount binfmt_misc at $HOST_BM"
        return 1
    fi
    if ! out=$("$BUILD/bin/binfmt" --install arm64,riscv64 --force --flags FP --qemu-path "$BUILD/qemu" 2>&1 >/dev/null); then
        BD_WHY="binfmt --install arm64,riscv64 on the host failed: ${out//$'\n'/ }"
        return 1
    fi
    local p used=""
    for p in linux/arm64 linux/riscv64; do
        local e
        local interp flags qv want
        read -r e interp flags qv < <("$BUILD/bin/binfmt" --inspect 2>/dev/null | jq -r --arg p "$p" \
            '.platforms[] | select(.platform == $p) | "\(.entry) \(.interpreter) \(.flags) \(.qemu_version)"') || true
        want=$BUILD/qemu/qemu-$(deb2cpu "${p#linux/}")
        if [[ $flags != *F* || $(realpath -e "$interp" 2>/dev/null) != "$(realpath -e "$want")" ]]; then
            BD_WHY="after binfmt --install, $p is served by ${e:-nothing} (${interp:-no interpreter}, flags ${flags:-none}), not $want with F"
            return 1
        fi
        e="$e -> $interp (flags $flags, QEMU $qv)"
        used+="${used:+; }$p: $e"
    done
    local how="mounted at $HOST_BM by the bench"
    [[ $was == unmounted ]] || how="already mounted at $HOST_BM"
    BD_FACTS+=("binfmt|the host's registry before: ${BD_BEFORE//$'\n'/, }; binfmt_misc $how; \`binfmt --install arm64,riscv64 --force --flags FP --qemu-path ${BUILD#"$B_ROOT"/}/qemu\` registered $used")

    # The private dockerd (as tests/e2e does it, but no runc wrapper: no container here is
    # privileged, so runc needs no capability this process's bounding set lacks).
    BD_HOST=unix://$BD_RUN/docker.sock
    rm -rf "$BD_STATE/docker" "$BD_RUN/docker"
    mkdir -p "$BD_STATE" "$BD_RUN" "$DOCKER_CONFIG"
    # Its own containerd namespaces: should a system containerd run, dockerd uses it, and
    # another daemon's "moby" namespace stays apart. The lock's descriptor is not passed on.
    # shellcheck disable=SC2154 # _e2e_lock_fd: tests/e2e/lib.sh
    dockerd --iptables=false --ip-masq=false --bridge=none \
        --data-root "$BD_STATE/docker" --exec-root "$BD_RUN/docker" \
        --pidfile "$BD_RUN/docker.pid" -H "$BD_HOST" \
        --containerd-namespace binfmt-bench --containerd-plugins-namespace binfmt-bench-plugins \
        </dev/null >"$BD_RUN/dockerd.log" 2>&1 {_e2e_lock_fd}>&- &
    BD_DOCKERD_PID=$!
    local i
    for ((i = 0; i < 120; i++)); do
        bd_docker version >/dev/null 2>&1 && break
        kill -0 "$BD_DOCKERD_PID" 2>/dev/null || break
        sleep 0.5
    done
    if ! bd_docker version >/dev/null 2>&1; then
        BD_WHY="dockerd did not start: $(grep -m1 -iE 'level=(fatal|error)' "$BD_RUN/dockerd.log" | cut -c1-300)"
        return 1
    fi
    local v c
    v="Docker $(bd_docker version -f '{{.Server.Version}}' 2>/dev/null)"
    for c in containerd runc; do
        v+=", $c $(bd_docker version -f "{{range .Server.Components}}{{if eq .Name \"$c\"}}{{.Version}}{{end}}{{end}}" 2>/dev/null)"
    done
    v+=", storage driver $(bd_docker info -f '{{.Driver}}' 2>/dev/null)"
    v+=", cgroup $(bd_docker info -f '{{.CgroupDriver}} v{{.CgroupVersion}}' 2>/dev/null)"
    BD_FACTS+=("setup|a private dockerd started by the bench ($v): \`dockerd --iptables=false --ip-masq=false --bridge=none --data-root $BD_STATE/docker --exec-root $BD_RUN/docker -H $BD_HOST --containerd-namespace binfmt-bench\`; the client: \`$BD_CLIENT\` with an empty DOCKER_CONFIG")
}

# _bd_import IMAGE: bench-IMAGE from the bench's rootfs, its platform in the image config.
# `docker import --platform` is not enough: Docker 20.10 without --experimental ignores it
# (the image says amd64). So the rootfs becomes the one layer of a docker-archive whose
# config names the platform (tests/e2e/lib.sh's e2e_dir_archive), and is loaded.
_bd_import() {
    local img=$1 platform root got d
    [[ -n $_BD_E2E ]] || _bd_e2e_lib # e2e_dir_archive (a BENCH_DOCKER_HOST run sources it here)
    case $img in
    native)
        platform=linux/amd64
        root=$BD_RUN/native-root
        rm -rf "$root" && mkdir -p "$root/bin" "$root/tmp"
        cp /bin/busybox "$root/bin/busybox"
        ln -s busybox "$root/bin/true" && ln -s busybox "$root/bin/sh"
        ;;
    gcc-*)
        # A Debian root with gcc (bench/compile.sh): BD_GCC_ROOT, for linux/<the rest>.
        platform=linux/${img#gcc-}
        root=${BD_GCC_ROOT:-}
        [[ -x $root/usr/bin/gcc ]] || { BD_WHY="no root with gcc at '$root' (BD_GCC_ROOT)"; return 1; }
        ;;
    *)
        platform=linux/$img
        root=$ROOTFS_DIR/$img
        [[ -x $root/bin/busybox ]] || { BD_WHY="no rootfs $root (bench/rootfs.sh)"; return 1; }
        ;;
    esac
    d=$BD_RUN/archive-$img.tar
    e2e_dir_archive "$root" "$platform" "bench-$img:latest" "$d" as-is || { BD_WHY="cannot make a docker-archive of $root"; return 1; }
    bd_docker rmi -f "bench-$img" >/dev/null 2>&1 || true
    got=$(bd_docker load -q -i "$d" 2>&1) || { BD_WHY="docker load of $root failed: ${got//$'\n'/ }"; rm -f "$d"; return 1; }
    rm -f "$d"
    got=$(bd_docker image inspect -f '{{.Os}}/{{.Architecture}}' "bench-$img" 2>&1)
    [[ $got == "$platform" ]] || { BD_WHY="bench-$img loaded as $got, not $platform"; return 1; }
    BD_IMAGE_PLATFORM[$img]=$platform
    [[ $img != native ]] || root="the host's /bin/busybox (busybox-static) with bin/true and bin/sh links"
    BD_FACTS+=("image.$img|bench-$img ($got according to \`docker image inspect\`, $(bd_docker image inspect -f '{{.Size}}' "bench-$img" | awk '{printf "%.0f MB", $1 / 1e6}')): ${root#"$B_ROOT"/} as the one layer of a docker-archive whose config says $platform, \`docker load\`ed")
}

# bd_fact PREFIX: the set-up, as facts PREFIX.docker-KEY (in the order it happened);
# bd_stop adds PREFIX.docker-restore.
BD_PREFIX=""
bd_fact() {
    local x
    BD_PREFIX=$1
    for x in "${BD_FACTS[@]}"; do b_fact "$1.docker-${x%%|*}" "${x#*|}"; done
}

_bd_dockerd_stop() {
    [[ -n $BD_DOCKERD_PID ]] || return 0
    local p
    e2e_kill_dockerd "$BD_DOCKERD_PID" bd_docker
    BD_DOCKERD_PID=""
    # Its containerd (and shims), found by our exec-root, if dockerd left them.
    for p in $(pgrep -f "$BD_RUN/docker" 2>/dev/null); do
        b_log "docker: ending leftover process $p ($(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | cut -c1-80))"
        kill "$p" 2>/dev/null
    done
    umount -R "$BD_STATE/docker" 2>/dev/null
    rm -rf "$BD_STATE/docker" "$BD_RUN"
    rmdir "$BD_STATE" 2>/dev/null
    return 0
}

# bd_section_exit: the EXIT trap of a section using this file: the private instances
# stopped, then the docker part (exit status 1 when the host's registry did not come back).
bd_section_exit() {
    local rc=$?
    holders_stop
    bd_stop || rc=1
    exit "$rc"
}

# bd_stop: dockerd down, data-root gone, the host's registry as it was (compared).
# Returns 1 when the host's listing differs from the snapshot's (the caller's EXIT trap
# then exits non-zero: `make bench` stops there, loudly).
bd_stop() {
    local rc=0 after c
    [[ -z ${BENCH_DOCKER_HOST:-} ]] || return 0
    _bd_dockerd_stop
    if [[ -n $BD_ACTIVE ]]; then
        BD_ACTIVE=""
        if [[ -n $BD_BEFORE ]]; then
            e2e_host_restore
            after=$(e2e_host_state 2>&1)
            if [[ $after != "$BD_BEFORE" ]]; then
                b_log "error: the host's binfmt_misc registry is NOT as it was before the docker rows:"
                diff <(echo "$BD_BEFORE") <(echo "$after") >&2
                rc=1
                [[ -z $BD_PREFIX ]] || b_fact "$BD_PREFIX.docker-restore" "FAILED: the host's registry differs from its snapshot"
            else
                b_log "docker: the host's binfmt_misc is as before (${after%%$'\n'*}, $(grep -c '^entry ' <<<"$after") entries)"
                [[ -z $BD_PREFIX ]] || b_fact "$BD_PREFIX.docker-restore" "afterwards: dockerd stopped, its data-root removed, the host's registry restored (e2e_host_restore) and compared: identical to the snapshot (${after//$'\n'/, })"
            fi
        fi
    fi
    if [[ -n $_BD_E2E ]]; then
        # The e2e library's own cleanups (restore again: a no-op by now; its temporary
        # directory), then the lock.
        for c in "${_TAP_CLEANUPS[@]}"; do eval "$c" || true; done
        _TAP_CLEANUPS=()
        rm -f "${_TAP_STATE:-}"
        [[ -z ${_e2e_lock_fd:-} ]] || exec {_e2e_lock_fd}>&-
        _e2e_lock_fd="" _BD_E2E=""
    fi
    return "$rc"
}

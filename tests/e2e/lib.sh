# shellcheck shell=bash
# Shared by the end-to-end tests in tests/e2e. Source it, do not run it. It sources
# tests/integration/lib.sh (TAP: plan, t_ok, t_is, skip_all, on_exit...) and adds:
#
#   e2e_require_host          skip_all unless root, initial user namespace, Linux >= 6.7
#   e2e_install PKG...        apt-get install what is missing (apt-get update once if needed)
#   e2e_image                 make sure `make image` output is current; sets IMAGE_DIR
#   e2e_host_snapshot         take the host-registry lock (E2E_HOST_LOCK), record the host's
#                             binfmt_misc state (mounted? which entries, their contents,
#                             the status file); e2e_host_restore puts it back exactly, and
#                             runs at exit once snapshotted
#   e2e_host_mounted          0 when binfmt_misc is mounted at /proc/sys/fs/binfmt_misc here
#   e2e_host_state            "mounted|unmounted" and the instance's status and entries
#   e2e_dockerd_start         start a private dockerd (own data-root under /var/lib, own
#                             socket, --iptables=false --ip-masq=false --bridge=none);
#                             stopped, and its data-root removed, at exit
#   docker ...                /usr/bin/docker (Debian's client) on that daemon, with a
#                             private DOCKER_CONFIG (the buildx plugin goes there, not ~/.docker)
#   e2e_buildx                install the docker-buildx plugin (trixie's package, cached)
#   e2e_busybox_archive DEBARCH PLATFORM TAG OUT
#                             a docker-archive tarball of a busybox root filesystem whose
#                             config names PLATFORM (os/arch[/variant]) and tag TAG
#   e2e_dir_archive ROOT PLATFORM TAG OUT   the same of any directory ROOT
#   E2E_PLATFORMS             "platform debarch tag expected-uname" rows, see below
#   e2e_require_busybox       skip_all unless their busybox binaries are cached
#
# Environment: BUILD, ROOT, BINFMT (from tests/run), E2E_KEEP=1 keeps the daemon's
# data-root and the temporary directory for inspection.

# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

BUILD=${BUILD:-build}
case $BUILD in /*) E2E_BUILD=$BUILD ;; *) E2E_BUILD=$ROOT/$BUILD ;; esac
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-e2e.XXXXXX")
chmod 0755 "$E2E_TMP"
E2E_STATE=/var/lib/binfmt-installer-e2e # the daemons' data (removed at exit)
E2E_RUN=/run/binfmt-installer-e2e       # their sockets and exec roots
HOST_BM=/proc/sys/fs/binfmt_misc
export E2E_TMP E2E_BUILD E2E_STATE E2E_RUN HOST_BM

_e2e_cleanup() {
    [[ -n ${E2E_KEEP:-} ]] || rm -rf "$E2E_TMP"
}
on_exit _e2e_cleanup
# e2e_on_exit CMD...: like on_exit, but last registered runs first (stop dockerd, then
# restore the host, then remove the temporary directory that holds the snapshot).
e2e_on_exit() { _TAP_CLEANUPS=("$(printf '%q ' "$@")" "${_TAP_CLEANUPS[@]}"); }

# platform         debian-arch  image-tag    uname -m under QEMU 10.0 (default CPUs)
# linux/arm/v6 runs the armhf (ARMv7) busybox in an image labelled arm/v6: QEMU's
# default arm CPU executes it, and BuildKit only needs the label to pick the platform.
# shellcheck disable=SC2034 # used by the test scripts
E2E_PLATFORMS='
linux/arm64     arm64     arm64     aarch64
linux/arm/v7    armhf     arm-v7    armv7l
linux/arm/v6    armhf     arm-v6    armv7l
linux/ppc64le   ppc64el   ppc64le   ppc64le
linux/s390x     s390x     s390x     s390x
linux/riscv64   riscv64   riscv64   riscv64
linux/mips64le  mips64el  mips64le  mips64
'

# --- requirements ---------------------------------------------------------------------

# e2e_require_busybox: skip_all unless every busybox of E2E_PLATFORMS is cached.
e2e_require_busybox() {
    local a
    while read -r a; do
        busybox_path "$a" >/dev/null 2>&1 || skip_all "busybox for $a not cached (tests/fixtures/fetch.sh)"
    done < <(awk 'NF {print $2}' <<<"$E2E_PLATFORMS" | sort -u)
}

e2e_require_host() {
    [[ $EUID == 0 ]] || skip_all "needs root (installs packages, starts dockerd, changes the host's binfmt_misc)"
    [[ $(stat -L -c %i /proc/self/ns/user) == 4026531837 ]] || skip_all "needs the initial user namespace"
    local kver
    kver=$(uname -r | awk -F. '{print $1 * 1000 + $2}')
    ((kver >= 6007)) || skip_all "written for Linux >= 6.7 (per-namespace binfmt_misc); this is $(uname -r)"
    [[ $(dpkg --print-architecture 2>/dev/null) == amd64 ]] || skip_all "written for amd64 hosts"
}

_e2e_apt_updated=""
e2e_install() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    diag "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q "${missing[@]}" >"$E2E_TMP/apt.log" 2>&1; then
        [[ -z $_e2e_apt_updated ]] && apt-get update -q >>"$E2E_TMP/apt.log" 2>&1
        _e2e_apt_updated=1
        apt-get install -y -q "${missing[@]}" >>"$E2E_TMP/apt.log" 2>&1 ||
            { diag "$(tail -n 20 "$E2E_TMP/apt.log")"; return 1; }
    fi
}

# --- the installer image -----------------------------------------------------------------

# e2e_image: run `make image` unless its outputs are newer than every input.
IMAGE_DIR=$E2E_BUILD/image
export IMAGE_DIR
e2e_image() {
    local stamp=$IMAGE_DIR/binfmt-installer.oci.tar f stale=""
    if [[ ! -f $stamp || ! -f $IMAGE_DIR/binfmt-installer-amd64.docker.tar ||
        ! -f $IMAGE_DIR/binfmt-installer-arm64.docker.tar ]]; then
        stale=1
    else
        while IFS= read -r -d '' f; do
            [[ $f -nt $stamp ]] && { stale=1; break; }
        done < <(find "$ROOT/binfmt" "$ROOT/packaging/image" "$ROOT/qemu-static/manifest" \
            "$E2E_BUILD/bin/binfmt" -type f -print0 2>/dev/null)
    fi
    [[ -n $stale ]] || return 0
    diag "building the installer image (make image)"
    make -s -C "$ROOT" BUILD="$BUILD" image >"$E2E_TMP/image.log" 2>&1 ||
        { diag "$(tail -n 30 "$E2E_TMP/image.log")"; return 1; }
}

# --- the host's binfmt_misc: snapshot and exact restore -------------------------------------
#
# The registry is the initial user namespace's binfmt_misc instance. It may exist while
# it is not mounted here (another mount namespace holds a mount of it), and exec uses it
# all the same; so its content is read through a mount of our own at a private directory
# (which joins the instance when it exists, and makes a throw-away one when it does not),
# and "mounted here" is recorded apart.

# Tests that change the host's registry must not overlap (several `make check` runs on
# one machine, prove -j): they hold this lock from snapshot to exit.
E2E_HOST_LOCK=${E2E_HOST_LOCK:-/run/lock/binfmt-installer-host-binfmt.lock}

e2e_host_mounted() {
    awk -v mp="$HOST_BM" '$5 == mp && $0 ~ / - binfmt_misc / { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# _e2e_with_instance CMD...: run CMD with $BMI = a mount of the host's instance.
_e2e_with_instance() {
    local d rc=0
    d=$(mktemp -d "$E2E_TMP/instance.XXXXXX")
    mount -t binfmt_misc binfmt_misc "$d" || { rmdir "$d"; return 1; }
    BMI=$d "$@" || rc=$?
    umount "$d" 2>/dev/null || umount -l "$d"
    rmdir "$d"
    return "$rc"
}

# One line for the status and one per entry (name and content), sorted.
_e2e_listing() {
    local f
    echo "status $(cat "$BMI/status")"
    for f in "$BMI"/*; do
        case ${f##*/} in register | status) continue ;; esac
        printf 'entry %s %s\n' "${f##*/}" "$(tr '\n' ' ' <"$f")"
    done | sort
}

# e2e_host_state: "mounted|unmounted" (at /proc/sys/fs/binfmt_misc here), then the
# instance's listing; comparable across calls.
e2e_host_state() {
    if e2e_host_mounted; then echo mounted; else echo unmounted; fi
    _e2e_with_instance _e2e_listing
}

_E2E_SNAP=""
_e2e_save() {
    local f
    cat "$BMI/status" >"$_E2E_SNAP/status"
    for f in "$BMI"/*; do
        case ${f##*/} in register | status) continue ;; esac
        cat "$f" >"$_E2E_SNAP/entries/${f##*/}"
    done
}
e2e_host_snapshot() {
    mkdir -p "${E2E_HOST_LOCK%/*}"
    exec {_e2e_lock_fd}>>"$E2E_HOST_LOCK"
    if ! flock -w 900 "$_e2e_lock_fd"; then
        diag "another test has held $E2E_HOST_LOCK for 15 minutes"
        return 1
    fi
    _E2E_SNAP=$E2E_TMP/host-binfmt
    mkdir -p "$_E2E_SNAP/entries"
    if e2e_host_mounted; then echo mounted >"$_E2E_SNAP/state"; else echo unmounted >"$_E2E_SNAP/state"; fi
    _e2e_with_instance _e2e_save || return 1
    e2e_on_exit e2e_host_restore
}

# hex "7f454c46" -> "\x7f\x45\x4c\x46"
_e2e_hex_escape() {
    local h=$1 out=""
    while [[ -n $h ]]; do out+="\\x${h:0:2}" h=${h:2}; done
    printf '%s' "$out"
}

# _e2e_register_line NAME FILE: the register string of a saved entry.
_e2e_register_line() {
    local name=$1 file=$2 interp flags offset magic mask ext
    interp=$(sed -n 's/^interpreter //p' "$file")
    flags=$(sed -n 's/^flags: *//p' "$file")
    offset=$(sed -n 's/^offset //p' "$file")
    magic=$(sed -n 's/^magic //p' "$file")
    mask=$(sed -n 's/^mask //p' "$file")
    ext=$(sed -n 's/^extension \.//p' "$file")
    if [[ -n $ext ]]; then
        printf ':%s:E::%s::%s:%s' "$name" "$ext" "$interp" "$flags"
    else
        printf ':%s:M:%s:%s:%s:%s:%s' "$name" "$offset" "$(_e2e_hex_escape "$magic")" \
            "$([[ -n $mask ]] && _e2e_hex_escape "$mask")" "$interp" "$flags"
    fi
}

_e2e_fix_instance() {
    local f name
    # Entries that were not there, or differ: remove.
    for f in "$BMI"/*; do
        name=${f##*/}
        case $name in register | status) continue ;; esac
        if [[ ! -f $_E2E_SNAP/entries/$name ]] ||
            ! diff -q <(sed 1d "$f") <(sed 1d "$_E2E_SNAP/entries/$name") >/dev/null; then
            echo -1 >"$f" 2>/dev/null || diag "restore: cannot remove $name"
        fi
    done
    # Entries that were there and are gone: register again, then enable/disable.
    for f in "$_E2E_SNAP/entries"/*; do
        [[ -f $f ]] || continue
        name=${f##*/}
        [[ -e $BMI/$name ]] ||
            _e2e_register_line "$name" "$f" >"$BMI/register" 2>/dev/null ||
            diag "restore: cannot register $name again"
        if [[ -e $BMI/$name ]]; then
            case $(head -n1 "$f") in
            enabled) echo 1 >"$BMI/$name" ;;
            disabled) echo 0 >"$BMI/$name" ;;
            esac
        fi
    done
    case $(cat "$_E2E_SNAP/status") in
    enabled) echo 1 >"$BMI/status" ;;
    disabled) echo 0 >"$BMI/status" ;;
    esac
}

e2e_host_restore() {
    [[ -n $_E2E_SNAP && -f $_E2E_SNAP/state ]] || return 0
    local i
    # Mounted first when it was: an instance with no mount left dies with its entries.
    if [[ $(cat "$_E2E_SNAP/state") == mounted ]] && ! e2e_host_mounted; then
        mount -t binfmt_misc binfmt_misc "$HOST_BM" || diag "restore: could not mount $HOST_BM again"
    fi
    _e2e_with_instance _e2e_fix_instance || diag "restore: cannot mount binfmt_misc"
    if [[ $(cat "$_E2E_SNAP/state") == unmounted ]]; then
        # Every mount of it here (binfmt may have stacked one on another).
        for ((i = 0; i < 10; i++)); do
            e2e_host_mounted || break
            umount "$HOST_BM" 2>/dev/null || umount -l "$HOST_BM" 2>/dev/null || break
        done
        e2e_host_mounted && diag "restore: could not unmount $HOST_BM"
    fi
    return 0
}

# e2e_host_take_away: for tests that need the host's binfmt_misc mounted nowhere (the
# vanishing-registration trap, the real automount; issue 17: they used to skip on any
# host that mounts it): snapshot it (e2e_host_snapshot: the host lock, an exact restore
# at exit), unmount a plain mount at $HOST_BM, and check that no other mount namespace
# keeps the instance alive. 0 when arranged; else 1 with E2E_WHY saying why (the caller
# skips). Not in a subshell: the snapshot and its restore belong to the caller.
E2E_WHY=""
# shellcheck disable=SC2034 # E2E_WHY is read by the callers
e2e_host_take_away() {
    local i
    if awk -v mp="$HOST_BM" '$5 == mp && / - autofs / { f = 1 } END { exit !f }' /proc/self/mountinfo; then
        E2E_WHY="an automount point is at $HOST_BM (systemd's proc-sys-fs-binfmt_misc.automount): it cannot be taken away for the test"
        return 1
    fi
    if grep -w binfmt_misc /proc/self/mountinfo | awk -v mp="$HOST_BM" '$5 != mp { f = 1 } END { exit !f }'; then
        E2E_WHY="binfmt_misc is mounted here elsewhere than $HOST_BM: not ours to take away"
        return 1
    fi
    e2e_host_snapshot || { E2E_WHY="another test has held the host-registry lock for 15 minutes"; return 1; }
    if e2e_host_mounted; then
        diag "binfmt_misc is mounted on this host: unmounted for the test, its $(find "$_E2E_SNAP/entries" -type f | wc -l) entries recorded and restored at exit"
        for ((i = 0; i < 10; i++)); do
            e2e_host_mounted || break
            umount "$HOST_BM" || break
        done
        e2e_host_mounted && { E2E_WHY="cannot unmount $HOST_BM (restored at exit)"; return 1; }
    fi
    [[ $(unshare --mount --propagation private sh -c "mount -t binfmt_misc binfmt_misc $HOST_BM && ls $HOST_BM" |
        tr '\n' ' ') == "register status " ]] && return 0
    E2E_WHY="binfmt_misc stays mounted in another mount namespace (a container?)"
    return 1
}

# --- dockerd ------------------------------------------------------------------------------

DOCKER_BIN=/usr/bin/docker # Debian's client; another `docker` may come first in PATH
docker() { "$DOCKER_BIN" "$@"; }

_E2E_DOCKERD_PID=""
e2e_dockerd_start() {
    e2e_install docker.io || return 1
    export DOCKER_HOST=unix://$E2E_RUN/docker.sock
    export DOCKER_CONFIG=$E2E_TMP/docker-config
    mkdir -p "$DOCKER_CONFIG/cli-plugins" "$E2E_STATE" "$E2E_RUN"
    local extra=() bnd last
    # `--privileged` asks runc for every capability the kernel has; where our own
    # bounding set lacks some (sandboxes), runc fails "unable to apply caps".
    bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
    last=$(cat /proc/sys/kernel/cap_last_cap)
    if (($((16#$bnd)) != (1 << (last + 1)) - 1)); then
        e2e_install jq libcap2-bin || return 1
        extra=(--add-runtime "e2e-runc=$ROOT/tests/e2e/runc-capbnd" --default-runtime e2e-runc)
        diag "capability bounding set is $bnd, not full: privileged containers drop what it lacks (tests/e2e/runc-capbnd)"
    fi
    rm -rf "$E2E_STATE/docker" "$E2E_RUN/docker"
    dockerd --iptables=false --ip-masq=false --bridge=none \
        --data-root "$E2E_STATE/docker" --exec-root "$E2E_RUN/docker" \
        --pidfile "$E2E_RUN/docker.pid" -H "$DOCKER_HOST" "${extra[@]}" \
        >"$E2E_TMP/dockerd.log" 2>&1 &
    _E2E_DOCKERD_PID=$!
    e2e_on_exit e2e_dockerd_stop
    local i
    for ((i = 0; i < 120; i++)); do
        docker version >/dev/null 2>&1 && return 0
        kill -0 "$_E2E_DOCKERD_PID" 2>/dev/null || break
        sleep 0.5
    done
    diag "dockerd did not come up:" "$(tail -n 30 "$E2E_TMP/dockerd.log")"
    return 1
}

# e2e_kill_dockerd PID CLIENT...: remove every container through CLIENT (a command that
# talks to that daemon), then stop the dockerd PID (a child of this shell): SIGTERM, up to
# 30 s, then SIGKILL. Shared with bench/docker.sh.
e2e_kill_dockerd() {
    local pid=$1 ids i
    shift
    mapfile -t ids < <("$@" ps -aq 2>/dev/null)
    ((${#ids[@]} == 0)) || "$@" rm -f "${ids[@]}" >/dev/null 2>&1
    kill "$pid" 2>/dev/null
    for ((i = 0; i < 60; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

e2e_dockerd_stop() {
    [[ -n $_E2E_DOCKERD_PID ]] || return 0
    e2e_kill_dockerd "$_E2E_DOCKERD_PID" docker
    _E2E_DOCKERD_PID=""
    if [[ -z ${E2E_KEEP:-} ]]; then
        umount -R "$E2E_STATE/docker" 2>/dev/null
        rm -rf "$E2E_STATE/docker" "$E2E_RUN/docker"
        rmdir "$E2E_STATE" "$E2E_RUN" 2>/dev/null
    fi
    return 0
}

# --- docker-buildx from trixie -------------------------------------------------------------

# The statically linked plugin from trixie's docker-buildx, fetched through a private apt
# configuration (qemu-static/lib.sh: the host's mirror, nothing of the host's apt touched)
# and cached in $FIXTURES/docker-buildx.
e2e_buildx() {
    local cache=$FIXTURES/docker-buildx bin
    bin=$(compgen -G "$cache/*/docker-buildx" | head -n1)
    if [[ -z $bin || ! -x $bin ]]; then
        (
            set -e
            QS_PROG=e2e
            # shellcheck source=qemu-static/lib.sh
            . "$ROOT/qemu-static/lib.sh"
            d=$E2E_TMP/buildx-apt
            qs_apt_setup "$d" trixie amd64
            qs_apt_update "$d"
            (cd "$d/dl" && apt-get "${QS_APT[@]}" -q download docker-buildx:amd64) >>"$d/apt.log" 2>&1
            deb=$(compgen -G "$d/dl/docker-buildx_*_amd64.deb" | head -n1)
            v=$(dpkg-deb -f "$deb" Version)
            dpkg-deb -x "$deb" "$d/x"
            mkdir -p "$cache/$v"
            install -m 0755 "$d/x/usr/libexec/docker/cli-plugins/docker-buildx" "$cache/$v/docker-buildx.tmp"
            mv -f "$cache/$v/docker-buildx.tmp" "$cache/$v/docker-buildx"
        ) >&2 || return 1
        bin=$(compgen -G "$cache/*/docker-buildx" | head -n1)
    fi
    ln -sf "$bin" "$DOCKER_CONFIG/cli-plugins/docker-buildx"
    docker buildx version >/dev/null
}

# --- busybox base images -------------------------------------------------------------------

# e2e_busybox_archive DEBARCH PLATFORM TAG OUT: docker-archive (docker load, buildah
# pull docker-archive:) of one layer: /bin/busybox from the fixtures plus applet links.
e2e_busybox_archive() {
    local debarch=$1 platform=$2 tag=$3 out=$4 bb d a rc
    bb=$(busybox_path "$debarch") || return 1
    d=$(mktemp -d "$E2E_TMP/bb.XXXXXX")
    mkdir -p "$d/root/bin" "$d/root/tmp"
    chmod 1777 "$d/root/tmp"
    install -m 0755 "$bb" "$d/root/bin/busybox"
    for a in sh uname cat echo ls true false test env mkdir; do ln -s busybox "$d/root/bin/$a"; done
    e2e_dir_archive "$d/root" "$platform" "$tag" "$out"
    rc=$?
    rm -rf "$d"
    return "$rc"
}

# e2e_dir_archive ROOT PLATFORM TAG OUT [as-is]: docker-archive of one layer holding
# directory ROOT, its config naming PLATFORM (os/arch[/variant]); owners and mtimes are
# zeroed (a reproducible layer) unless "as-is" (the bench's workloads tar their files, so
# mtimes are part of their output). Shared with bench/docker.sh (docker import --platform
# is ignored by Docker 20.10).
e2e_dir_archive() {
    local root=$1 platform=$2 tag=$3 out=$4 d os arch variant lsha csha
    local -a norm=(--sort=name --owner=0 --group=0 --mtime=@0)
    [[ ${5:-} != as-is ]] || norm=()
    d=$(mktemp -d "${TMPDIR:-/tmp}/e2e-archive.XXXXXX") || return 1
    mkdir -p "$d/img"
    tar "${norm[@]}" --numeric-owner -C "$root" -cf "$d/layer.tar" . || { rm -rf "$d"; return 1; }
    lsha=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
    IFS=/ read -r os arch variant <<<"$platform"
    jq -cn --arg os "$os" --arg arch "$arch" --arg variant "$variant" --arg diff "sha256:$lsha" '
        {architecture: $arch, os: $os, created: "1970-01-01T00:00:00Z",
         config: {Env: ["PATH=/bin"], Cmd: ["/bin/sh"]},
         rootfs: {type: "layers", diff_ids: [$diff]},
         history: [{created: "1970-01-01T00:00:00Z", created_by: "binfmt-installer e2e busybox"}]}
        + (if $variant != "" then {variant: $variant} else {} end)' >"$d/config.json"
    csha=$(sha256sum "$d/config.json" | cut -d' ' -f1)
    mkdir -p "$d/img/$lsha"
    mv "$d/layer.tar" "$d/img/$lsha/layer.tar"
    mv "$d/config.json" "$d/img/$csha.json"
    jq -cn --arg c "$csha.json" --arg t "$tag" --arg l "$lsha/layer.tar" \
        '[{Config: $c, RepoTags: [$t], Layers: [$l]}]' >"$d/img/manifest.json"
    tar -C "$d/img" -cf "$out" . || { rm -rf "$d"; return 1; }
    rm -rf "$d"
}

# e2e_run_steps LABEL BUILD_FN: for every row of E2E_PLATFORMS, BUILD_FN PLATFORM TAG
# OUTDIR builds the "RUN uname -m" Dockerfile into OUTDIR; one test point per platform
# checks what the step printed (with the end of the build log when it fails).
e2e_run_steps() {
    local label=$1 build=$2 p _ tag uname log start=$SECONDS
    while read -r p _ tag uname; do
        [[ -n $p ]] || continue
        log=$("$build" "$p" "$tag" "$E2E_TMP/out-$tag")
        t_is "$label RUN on $p: uname -m prints $uname" "$(cat "$E2E_TMP/out-$tag/uname" 2>/dev/null)" "$uname" ||
            diag "$(tail -n 15 <<<"$log")"
    done <<<"$E2E_PLATFORMS"
    note "$(grep -c . <<<"$E2E_PLATFORMS") $label builds in $((SECONDS - start)) s"
}

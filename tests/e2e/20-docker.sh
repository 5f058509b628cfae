#!/bin/bash
# The installer image in a real Docker engine, as users type it, and real builders after
# it: Debian's docker.io (dockerd started here, private data-root, no iptables/bridge),
# its embedded BuildKit and the buildx plugin (trixie's docker-buildx). Base images are
# made locally from the cached foreign busybox binaries (no registry is reachable).
#
#   A. binfmt_misc not mounted on the host: `docker run --privileged` either makes the
#      registrations survive or fails loudly (exit 3) with the fix, registering nothing;
#   B. `docker run --privileged --pid=host ... --install all` registers on the host;
#   C. `docker buildx inspect --bootstrap` lists the emulated platforms;
#   D. BuildKit runs RUN steps for 7 foreign platforms (uname -m checked);
#   E. the arm64 image variant runs under emulation;
#   F. the image's status JSON agrees with what buildx reports;
#   G. `--uninstall all` => a foreign RUN step fails with "exec format error".
# The host's binfmt_misc state is recorded first and restored exactly at the end.
# Where this process's capability bounding set is not full (sandboxed VMs lack
# CAP_SYS_RESOURCE), `--privileged` cannot start under plain runc: the daemon then runs
# containers through tests/e2e/runc-capbnd, which drops only the unavailable capabilities.
# Skipped (1..0) when dockerd cannot start at all.
set -uo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_require_host
e2e_install jq >/dev/null || skip_all "jq cannot be installed"
e2e_require_busybox
e2e_image >&2 || bail_out "make image failed: $(tail -n 5 "$E2E_TMP/image.log" 2>/dev/null)"
e2e_host_snapshot || bail_out "cannot take the host-registry lock"
SNAP_STATE=$(e2e_host_state)
note "host's binfmt_misc before: $SNAP_STATE"
if ! e2e_dockerd_start >&2; then
    skip_all "dockerd cannot run here: $(grep -m1 -iE 'level=(fatal|error)' "$E2E_TMP/dockerd.log" | cut -c1-300)"
fi

plan 42

IMG=binfmt-installer:latest
IMG_ARM64=binfmt-installer:latest-arm64
QV=$(sed -n 's/^qemu_version=//p' "$E2E_BUILD/qemu/VERSION")
t_ok "docker load the installer image (amd64 variant as $IMG)" \
    docker load -q -i "$IMAGE_DIR/binfmt-installer-amd64.docker.tar"
t_ok "docker load the arm64 variant as $IMG_ARM64" \
    docker load -q -i "$IMAGE_DIR/binfmt-installer-arm64.docker.tar"

load_busybox() {
    local p debarch tag
    while read -r p debarch tag _; do
        [[ -n $p ]] || continue
        e2e_busybox_archive "$debarch" "$p" "e2e-busybox:$tag" "$E2E_TMP/bb-$tag.tar" || return 1
        docker load -q -i "$E2E_TMP/bb-$tag.tar" || return 1
    done <<<"$E2E_PLATFORMS"
}
t_ok "busybox base images for 7 platforms (docker load of local tarballs)" load_busybox
got="" want=""
while read -r p _ tag _; do
    [[ -n $p ]] || continue
    want+="$p "
    got+="$(docker image inspect -f '{{.Os}}/{{.Architecture}}{{with .Variant}}/{{.}}{{end}}' "e2e-busybox:$tag") "
done <<<"$E2E_PLATFORMS"
t_is "the base images carry their platforms" "$got" "$want"

# --- A: plain --privileged, binfmt_misc not mounted on the host ---------------------------
if ! e2e_host_mounted; then
    err=$(docker run --rm --privileged "$IMG" --install all 2>&1 >/dev/null)
    rc=$?
    if ((rc == 0)) && [[ $("$(busybox_path arm64)" uname -m 2>&1) == aarch64 ]]; then
        # Allowed too: binfmt made them survive (or the instance was alive elsewhere).
        t_pass "A: plain --privileged: exit 0 and the registrations survived (a foreign binary runs)"
        t_pass "A: (no failure to explain)"
        t_pass "A: (the host's registry changed on purpose)"
        e2e_host_restore
    else
        t_is "A: plain --privileged fails loudly (exit 3)" "$rc" 3 || diag "$err"
        t_like "A: ... saying why and how to fix it (--pid=host, or mount on the host)" "$err" \
            "vanish.*--pid=host.*mount -t binfmt_misc"
        t_is "A: ... and the host's registry is unchanged" "$(e2e_host_state)" "$SNAP_STATE"
    fi
else
    skip "binfmt_misc is mounted on this host: the unmounted-host case cannot be shown" 3
fi

# --- B: --privileged --pid=host --install all ----------------------------------------------
out=$(docker run --rm --privileged --pid=host "$IMG" --install all 2>"$E2E_TMP/install.err")
rc=$?
err=$(cat "$E2E_TMP/install.err")
t_is "B: docker run --privileged --pid=host $IMG --install all: exit 0" "$rc" 0 || diag "$err"
t_ok "B: binfmt_misc is mounted on the host now" e2e_host_mounted
t_like "B: one line per item, arm64 installed" "$err" "installing: linux/arm64 \(qemu-aarch64\) OK"
t_like "B: the registration outlived the container (F and P, emulator from the image)" \
    "$(tr '\n' ' ' <"$HOST_BM/qemu-aarch64" 2>&1)" "^enabled interpreter /usr/bin/qemu-aarch64 flags: PF "
t_is "B: a foreign binary runs on the host" "$("$(busybox_path riscv64)" uname -m 2>&1)" riscv64
sup=$(jq -r '.supported | join(" ")' <<<"$out" 2>/dev/null)
absent=""
while read -r p _; do
    [[ -n $p && " $sup " != *" $p "* ]] && absent+="$p "
done <<<"$E2E_PLATFORMS"
t_is "B: its status JSON lists every test platform as supported" "${absent:-none missing}" "none missing" ||
    diag "$out"

# --- C: buildx ------------------------------------------------------------------------------
t_ok "C: docker-buildx plugin from trixie's docker-buildx" e2e_buildx
bx=$(docker buildx inspect --bootstrap 2>&1)
bx_platforms=$(sed -n 's/^Platforms: *//p' <<<"$bx" | head -n1)
note "buildx: $(grep -m1 'BuildKit' <<<"$bx" | tr -s ' ') | Platforms: $bx_platforms"
for p in linux/arm64 linux/arm/v7 linux/arm/v6 linux/ppc64le linux/s390x linux/riscv64; do
    t_like "C: buildx inspect --bootstrap lists $p" ", $bx_platforms," ", $p,"
done

# --- D: BuildKit RUN steps ------------------------------------------------------------------
ctx=$E2E_TMP/ctx
mkdir -p "$ctx"
cat >"$ctx/Dockerfile" <<'EOF'
ARG BASE
FROM ${BASE} AS run
RUN uname -m >/uname
FROM scratch
COPY --from=run /uname /uname
EOF
# bk_build PLATFORM TAG OUTDIR: a BuildKit build whose RUN step runs on PLATFORM.
bk_build() {
    rm -rf "$3"
    DOCKER_BUILDKIT=1 docker build --network=none --no-cache --progress=plain --platform "$1" \
        --build-arg BASE="e2e-busybox:$2" -o "type=local,dest=$3" "$ctx" 2>&1
}
e2e_run_steps "D: BuildKit" bk_build

# --- E: the arm64 variant under emulation ---------------------------------------------------
t_is "E: docker run --platform linux/arm64 $IMG_ARM64 --version (emulated)" \
    "$(docker run --rm --network=none --platform linux/arm64 "$IMG_ARM64" --version 2>&1)" \
    "binfmt from binfmt-installer 0.1.0"$'\n'"QEMU $QV (emulators in /usr/bin)"
t_is "E: it is an aarch64 process" \
    "$(docker run --rm --network=none --platform linux/arm64 --entrypoint /usr/bin/qemu-riscv64 "$IMG_ARM64" -version 2>&1 | head -n1 | cut -d' ' -f1-3)" \
    "qemu-riscv64 version $QV"

# --- F: the image's JSON agrees with buildx -------------------------------------------------
json=$(docker run --rm --privileged "$IMG" 2>"$E2E_TMP/status.err")
t_is "F: docker run --privileged $IMG (no arguments): exit 0, JSON" "$(jq -r 'keys | join(",")' <<<"$json" 2>&1)" \
    "emulators,supported" || diag "$json" "$(cat "$E2E_TMP/status.err")"
sup=$(jq -r '.supported[]' <<<"$json" | sort)
bxs=$(tr ',' '\n' <<<"$bx_platforms" | tr -d ' ' | sed '/^$/d' | sort)
t_is "F: every platform buildx reports is in the image's \"supported\"" \
    "$(comm -13 <(echo "$sup") <(echo "$bxs") | tr '\n' ' ')" ""
# The engine's BuildKit (v0.8) probes neither amd64 levels nor ppc64, mips*, loong64.
only_image=$(comm -23 <(echo "$sup") <(echo "$bxs") | tr '\n' ' ')
t_like "F: what only the image reports is what this BuildKit does not probe ($only_image)" "$only_image" \
    '^((linux/amd64/v[234]|linux/ppc64|linux/mips64le|linux/mips64|linux/loong64|linux/mipsle|linux/mips) )*$'
host_emus=$(find "$HOST_BM" -maxdepth 1 -name 'qemu-*' -printf '%f\n' | sort | tr '\n' ' ')
t_is "F: its \"emulators\" are exactly the host's QEMU entries" \
    "$(jq -r '.emulators[]' <<<"$json" | sort | tr '\n' ' ')" "$host_emus"

# --- G: --uninstall all ------------------------------------------------------------------------
err=$(docker run --rm --privileged "$IMG" --uninstall all 2>&1 >/dev/null)
t_is "G: docker run --privileged --rm $IMG --uninstall all: exit 0" "$?" 0 || diag "$err"
t_is "G: no QEMU entry is left on the host" "$(find "$HOST_BM" -maxdepth 1 -name 'qemu-*' | wc -l)" 0
log=$(bk_build linux/arm64 arm64 "$E2E_TMP/out-after")
t_like "G: a foreign RUN step now fails with exec format error" "$log" "exec format error"
t_like "G: a riscv64 RUN step too" "$(bk_build linux/riscv64 riscv64 "$E2E_TMP/out-after")" "exec format error"
json=$(docker run --rm --privileged "$IMG" 2>/dev/null)
t_is "G: the image's JSON: no emulators" "$(jq -c .emulators <<<"$json")" "[]"
t_unlike "G: ... and no foreign platform supported" "$(jq -r '.supported | join(" ")' <<<"$json")" \
    'arm|riscv|ppc|s390|mips'
# The engine's BuildKit (v0.8) probes once, on the first request, and keeps that list for
# the daemon's lifetime: only a restarted dockerd shows the change.
bx_stale=$(docker buildx inspect --bootstrap 2>&1 | sed -n 's/^Platforms: *//p' | head -n1)
note "buildx right after --uninstall all (cached by the engine): $bx_stale"
e2e_dockerd_stop
if e2e_dockerd_start >&2 && e2e_buildx; then
    bx_platforms=$(docker buildx inspect --bootstrap 2>&1 | sed -n 's/^Platforms: *//p' | head -n1)
    t_unlike "G: after a dockerd restart buildx lists no foreign platform ($bx_platforms)" "$bx_platforms" \
        'arm|riscv|ppc|s390|mips'
else
    t_fail "G: dockerd restarts"
fi

# --- the host --------------------------------------------------------------------------------
e2e_dockerd_stop
t_is "dockerd stopped, no containerd left behind" \
    "$(pgrep -f "$E2E_RUN/docker" | wc -l)" 0
e2e_host_restore
t_is "the host's binfmt_misc is as it was" "$(e2e_host_state)" "$SNAP_STATE"

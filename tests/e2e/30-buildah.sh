#!/bin/bash
# buildah (no daemon) runs foreign RUN steps through what binfmt registered on the host:
# base images are the local busybox tarballs (buildah pull docker-archive:), in a private
# buildah storage (vfs) that is removed at the end. Then `binfmt --uninstall all` makes a
# foreign RUN step fail with "exec format error". The host's binfmt_misc state is
# recorded first and restored exactly at the end.
set -uo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_require_host
e2e_install jq >/dev/null || skip_all "jq cannot be installed"
command -v buildah >/dev/null || e2e_install buildah >&2 || skip_all "buildah cannot be installed"
# buildah's default OCI runtime is crun when it is installed first; crun refuses this
# machine's hybrid cgroup layout ("cgroups in hybrid mode not supported"): use runc.
e2e_install runc >&2 || skip_all "runc cannot be installed"
RUNTIME=$(command -v runc)
e2e_require_busybox
[[ -x $E2E_BUILD/qemu/qemu-aarch64 ]] || skip_all "no staged emulators in $E2E_BUILD/qemu (make qemu)"
e2e_host_snapshot || bail_out "cannot take the host-registry lock"
SNAP_STATE=$(e2e_host_state)

BROOT=$E2E_STATE/buildah
BRUN=$E2E_RUN/buildah
bah() { buildah --root "$BROOT" --runroot "$BRUN" --storage-driver vfs "$@"; }
bah_cleanup() {
    bah rm --all >/dev/null 2>&1
    rm -rf "$BROOT" "$BRUN"
    rmdir "$E2E_STATE" "$E2E_RUN" 2>/dev/null
    return 0
}
rm -rf "$BROOT" "$BRUN"
e2e_on_exit bah_cleanup

plan 13

load() {
    local p debarch tag
    while read -r p debarch tag _; do
        [[ -n $p ]] || continue
        e2e_busybox_archive "$debarch" "$p" "e2e-busybox:$tag" "$E2E_TMP/bb-$tag.tar" || return 1
        bah pull -q "docker-archive:$E2E_TMP/bb-$tag.tar" >/dev/null || return 1
    done <<<"$E2E_PLATFORMS"
}
t_ok "busybox base images for 7 platforms in a private buildah storage" load

out=$("$BINFMT" --qemu-path "$E2E_BUILD/qemu" --install arm64,armhf,ppc64le,s390x,riscv64,mips64el 2>&1 >/dev/null)
t_is "binfmt --install (the 7 platforms' emulators) on the host: exit 0" "$?" 0 || diag "$out"

ctx=$E2E_TMP/ctx
mkdir -p "$ctx"
cat >"$ctx/Containerfile" <<'EOF'
ARG BASE
FROM ${BASE} AS run
RUN uname -m >/uname
FROM scratch
COPY --from=run /uname /uname
EOF
bah_build() { # PLATFORM TAG OUTDIR
    rm -rf "$3"
    bah build --runtime "$RUNTIME" --quiet --network=none --pull=never --no-cache --platform "$1" \
        --build-arg BASE="localhost/e2e-busybox:$2" -f "$ctx/Containerfile" -o "type=local,dest=$3" "$ctx" 2>&1
}
e2e_run_steps "buildah" bah_build

out=$("$BINFMT" --uninstall all 2>&1 >/dev/null)
t_is "binfmt --uninstall all: exit 0" "$?" 0 || diag "$out"
t_like "a foreign (arm64) RUN step now fails with exec format error" \
    "$(bah_build linux/arm64 arm64 "$E2E_TMP/out-after")" "exec format error"
t_like "a riscv64 RUN step too" "$(bah_build linux/riscv64 riscv64 "$E2E_TMP/out-after")" "exec format error"

e2e_host_restore
t_is "the host's binfmt_misc is as it was" "$(e2e_host_state)" "$SNAP_STATE"

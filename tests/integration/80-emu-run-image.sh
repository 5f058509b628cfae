#!/bin/bash
# emu-run --image: OCI image layouts, OCI archives and docker-archives made here
# with buildah (and python's tarfile for the layers buildah would not write: an
# opaque directory, a hostile ../ entry), no registry. The manifest for --arch
# from a multi-arch index, whiteouts and opaque directories as the step sees
# them, the cache made once and reused, the cached root unchanged by a step that
# writes, and bad inputs (not an image, an arch the index lacks, a truncated
# blob, a layer escaping the root): exit 125, one line, no cache entry left.
# Then all of it as nobody, with XDG_CACHE_HOME in a temporary directory.
# shellcheck disable=SC2016 # single-quoted steps are expanded by the foreign shell
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

emu_require
((EUID == 0)) || skip_all "buildah needs root here"
command -v buildah >/dev/null || skip_all "no buildah (apt-get install buildah)"
id nobody >/dev/null 2>&1 || skip_all "no nobody user"
plan 30

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emu-run-80i.XXXXXX")
chmod 755 "$WORK"
B=(buildah --root "$WORK/storage" --runroot "$WORK/run" --storage-driver vfs)
on_exit rm -rf "$WORK"
on_exit "${B[@]}" rm -a
export XDG_CACHE_HOME=$WORK/cache
IMAGES=$XDG_CACHE_HOME/emu-run/images
entries() { ls -A "$1" 2>/dev/null | paste -sd' ' -; }

# oci_edit LAYOUT add-layer TAR: append TAR (uncompressed) as a layer of the
# layout's only manifest. oci_edit OUT merge L1 L2: one index of both layouts'
# manifests, with their platforms. Digests are recomputed: the result is valid.
oci_edit() {
    python3 - "$@" <<'EOF'
import hashlib, json, os, shutil, sys

def put(d, data):
    h = hashlib.sha256(data).hexdigest()
    os.makedirs(d + "/blobs/sha256", exist_ok=True)
    with open(d + "/blobs/sha256/" + h, "wb") as f:
        f.write(data)
    return "sha256:" + h, len(data)

def get(d, digest):
    with open(d + "/blobs/sha256/" + digest[7:], "rb") as f:
        return f.read()

def only(d):
    return json.load(open(d + "/index.json"))["manifests"][0]

if sys.argv[2] == "add-layer":
    d, tar = sys.argv[1], sys.argv[3]
    desc = only(d)
    m = json.loads(get(d, desc["digest"]))
    c = json.loads(get(d, m["config"]["digest"]))
    data = open(tar, "rb").read()
    digest, size = put(d, data)
    m["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size})
    c["rootfs"]["diff_ids"].append(digest)
    m["config"]["digest"], m["config"]["size"] = put(d, json.dumps(c).encode())
    desc["digest"], desc["size"] = put(d, json.dumps(m).encode())
    json.dump({"schemaVersion": 2, "manifests": [desc]}, open(d + "/index.json", "w"))
else:
    out, parts = sys.argv[1], sys.argv[3:]
    os.makedirs(out)
    shutil.copy(parts[0] + "/oci-layout", out)
    descs = []
    for p in parts:
        shutil.copytree(p + "/blobs", out + "/blobs", dirs_exist_ok=True)
        desc = only(p)
        c = json.loads(get(p, json.loads(get(p, desc["digest"]))["config"]["digest"]))
        desc["platform"] = {"os": c["os"], "architecture": c["architecture"]}
        descs.append(desc)
    json.dump({"schemaVersion": 2, "manifests": descs}, open(out + "/index.json", "w"))
EOF
}

# mktar OUT NAME=TEXT...: an uncompressed tar of regular files (NAME as given,
# ".." and all); NAME/ alone is a directory.
mktar() {
    python3 - "$@" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for a in sys.argv[2:]:
        name, _, text = a.partition("=")
        i = tarfile.TarInfo(name.rstrip("/"))
        if name.endswith("/"):
            i.type, i.mode = tarfile.DIRTYPE, 0o755
            t.addfile(i)
        else:
            data = text.encode()
            i.size, i.mode = len(data), 0o644
            t.addfile(i, io.BytesIO(data))
EOF
}

# image ARCH NAME: localhost/NAME, busybox for ARCH with applets, etc/passwd,
# etc/gone, data/{keep,old/f}, opq/lower; then a second layer (buildah's own
# diff) that deletes etc/gone, data/keep and data/old and adds data/new.
image() {
    local a=$1 n=$2 c m
    rm -rf "$WORK/ctx" && emu_make_rootfs "$WORK/ctx" "$a" || return 1
    mkdir -p "$WORK/ctx/data/old" "$WORK/ctx/opq" && echo gone >"$WORK/ctx/etc/gone" &&
        echo k >"$WORK/ctx/data/keep" && echo o >"$WORK/ctx/data/old/f" && echo l >"$WORK/ctx/opq/lower" || return 1
    c=$("${B[@]}" from scratch) && "${B[@]}" copy "$c" "$WORK/ctx/" / && "${B[@]}" config --arch "$a" --os linux "$c" &&
        "${B[@]}" commit -q "$c" "localhost/$n-base" >/dev/null || return 1
    c=$("${B[@]}" from "localhost/$n-base") && m=$("${B[@]}" mount "$c") || return 1
    rm -r "$m/etc/gone" "$m/data/keep" "$m/data/old" && echo n >"$m/data/new" && "${B[@]}" umount "$c" &&
        "${B[@]}" commit -q "$c" "localhost/$n" >/dev/null
} >/dev/null 2>&1

image arm64 a64 || bail_out "cannot build the arm64 image with buildah"
image s390x s390 || bail_out "cannot build the s390x image with buildah"
push() { "${B[@]}" push -q "$1" "$2" >/dev/null 2>&1; }
# The arm64 layout gets a third layer: opq/ made opaque (its marker after the
# layer's own opq/mine, so order within the layer must not matter).
mktar "$WORK/opq.tar" opq/ opq/mine=m opq/.wh..wh..opq= &&
    push localhost/a64 "oci:$WORK/a64" && oci_edit "$WORK/a64" add-layer "$WORK/opq.tar" &&
    tar -C "$WORK/a64" -cf "$WORK/a64.oci.tar" . &&
    push localhost/a64 "docker-archive:$WORK/a64.docker.tar" &&
    push localhost/s390 "oci:$WORK/s390" && oci_edit "$WORK/multi" merge "$WORK/a64" "$WORK/s390" ||
    bail_out "cannot write the image layouts and archives"

STEP='uname -m; echo $(ls /etc) / $(ls /data) / $(ls /opq)'
# --- the three formats ----------------------------------------------------------------
emu --arch arm64 --image "$WORK/a64" --shell "$STEP"
t_is "OCI layout: aarch64; whiteouts deleted etc/gone, data/keep, data/old; opq/ opaque" "$OUT|$RC" \
    "aarch64
group hosts passwd resolv.conf / new / mine|0"
emu --arch arm64 --image "$WORK/a64.oci.tar" --shell "$STEP"
t_is "OCI archive (a tar of the layout): the same" "$OUT|$RC" "aarch64
group hosts passwd resolv.conf / new / mine|0"
emu --arch arm64 --image "$WORK/a64.docker.tar" --shell "$STEP"
t_is "docker-archive (buildah push, two layers): aarch64, its whiteouts applied" "$OUT|$RC" "aarch64
group hosts passwd resolv.conf / new / lower|0"
if command -v skopeo >/dev/null && skopeo copy -q "oci:$WORK/a64" "docker-archive:$WORK/a64s.docker.tar" >/dev/null 2>&1; then
    emu --arch arm64 --image "$WORK/a64s.docker.tar" --shell "$STEP"
    t_is "docker-archive (skopeo copy of the three-layer layout): the same as the layout" "$OUT|$RC" "aarch64
group hosts passwd resolv.conf / new / mine|0"
else
    skip "no skopeo (apt-get install skopeo)"
fi
t_is "three cache entries (layout and OCI archive share one), nothing temporary" \
    "$(ls -A "$IMAGES" | wc -l)|$(ls -A "$IMAGES" | grep -c '^\.tmp')" "$(($(command -v skopeo >/dev/null && echo 3 || echo 2)))|0"

# --- the multi-arch index --------------------------------------------------------------
emu --arch arm64 --image "$WORK/multi" -- uname -m
t_is "multi-arch index, --arch arm64: aarch64" "$OUT|$RC" "aarch64|0"
emu --arch s390x --image "$WORK/multi" -- uname -m
t_is "multi-arch index, --arch s390x: s390x" "$OUT|$RC" "s390x|0"
emu --arch linux/s390x --image "$WORK/multi" --shell 'cat /etc/gone 2>/dev/null; ls /data'
t_is "the s390x image's whiteouts too" "$OUT|$RC" "new|0"

# --- the cache -----------------------------------------------------------------------------
emu -v --arch arm64 --image "$WORK/a64" -- true
t_like "a second run reuses the cached root (--verbose says so)" "$ERR" "--image: using the cached root $IMAGES/[0-9a-f]{64}/rootfs"
t_unlike "... and unpacks nothing" "$ERR" "unpacking"
CACHED=$(grep -o "$IMAGES/[0-9a-f]*/rootfs" <<<"$ERR")
tree_before=$(emu_tree "$CACHED")
emu --arch arm64 --image "$WORK/a64" --shell 'echo x >/newfile && rm /bin/busybox.x 2>/dev/null; echo y >>/etc/passwd && rm -r /data && mkdir /d && echo wrote'
t_is "a step writes and deletes" "$OUT|$RC" "wrote|0"
t_is "the cached root is unchanged afterwards (an overlay took the writes)" "$(emu_tree "$CACHED")" "$tree_before"
emu --arch arm64 --image "$WORK/a64" -- ls /data
t_is "the next step sees the image as it was" "$OUT|$RC" "new|0"
t_is "owners kept as root (busybox 0:0)" "$(stat -c %u:%g "$CACHED/bin/busybox")" "0:0"

# --- bad input: 125, one line, no cache entry -----------------------------------------------------
before=$(entries "$IMAGES")
bad() { # DESC ERE ARGS...
    local desc=$1 ere=$2
    shift 2
    emu "$@" -- true
    t_like "$desc: 125, one line" "$RC|$(wc -l <<<"$ERR")|$ERR" "^125\|1\|emu-run: $ere"
    t_is "$desc: no cache entry left" "$(entries "$IMAGES")" "$before"
}
bad "an arch the index lacks" "--image $WORK/multi: no manifest for linux/riscv64; it has linux/arm64, linux/s390x$" \
    --arch riscv64 --image "$WORK/multi"
cp -a "$WORK/a64" "$WORK/trunc" && rm -rf "${IMAGES:?}"/* &&
    python3 - "$WORK/trunc" <<'EOF'
import json, sys
d = sys.argv[1]
m = json.load(open(d + "/blobs/sha256/" + json.load(open(d + "/index.json"))["manifests"][0]["digest"][7:]))
p = d + "/blobs/sha256/" + m["layers"][0]["digest"][7:]
data = open(p, "rb").read()
open(p, "wb").write(data[: len(data) // 2])
EOF
before=$(entries "$IMAGES")
bad "a truncated layer blob" "--image $WORK/trunc: layer blobs/sha256/[0-9a-f]{64} does not match its digest sha256:[0-9a-f]{12}\.\.\. \(corrupt or truncated\)$" \
    --arch arm64 --image "$WORK/trunc"
cp -a "$WORK/s390" "$WORK/evil" && mktar "$WORK/evil.tar" ok=1 ../../../../escaped=x &&
    oci_edit "$WORK/evil" add-layer "$WORK/evil.tar"
bad "a layer with a ../ entry" "--image $WORK/evil: layer 3 .*: entry '../../../../escaped' escapes the root$" \
    --arch s390x --image "$WORK/evil"
t_ok "... and nothing was written outside" test ! -e "$WORK/escaped" -a ! -e "$IMAGES/../escaped"
bad "a directory that is no image" "--image /etc: not an OCI image layout, OCI archive or docker-archive" \
    --arch arm64 --image /etc
emu --arch arm64 --image "$WORK/a64" --rootfs "$WORK/ctx" -- true
t_like "--image with --rootfs: a usage error" "$RC|$ERR" "^125\|emu-run: --image and --rootfs are mutually exclusive"

# --- as nobody ---------------------------------------------------------------------------------------
mkdir -m 700 "$WORK/nc" && chown nobody "$WORK/nc"
chmod -R a+rX "$WORK/a64" "$WORK/a64.oci.tar" "$WORK/multi"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/nonexistent XDG_CACHE_HOME="$WORK/nc" "$@"; }
run as_nobody "$EMU" --arch arm64 --image "$WORK/a64.oci.tar" --shell "$STEP"
t_is "nobody: the OCI archive, whiteouts and opaque directory" "$OUT|$RC" "aarch64
group hosts passwd resolv.conf / new / mine|0"
NC=$(ls -d "$WORK"/nc/emu-run/images/*/rootfs)
t_is "nobody: the cache is nobody's (owners cannot be kept)" "$(stat -c %U "$NC/bin/busybox" "$NC/etc")" "nobody
nobody"
run as_nobody "$EMU" --arch arm64 --image "$WORK/a64.oci.tar" -- id -u
t_is "nobody: files appear as root inside, the step is root" "$OUT|$RC" "0|0"
tree_before=$(emu_tree "$NC")
run as_nobody "$EMU" -v --arch arm64 --image "$WORK/a64.oci.tar" --shell 'rm -r /opq && echo z >/etc/passwd && echo ok'
t_is "nobody: a writing step, the cache reused" "$OUT|$RC|$(grep -c 'using the cached root' <<<"$ERR")" "ok|0|1"
t_is "nobody: the cached root unchanged" "$(emu_tree "$NC")" "$tree_before"
run as_nobody "$EMU" --arch s390x --image "$WORK/multi" -- uname -m
t_is "nobody: the multi-arch index" "$OUT|$RC" "s390x|0"

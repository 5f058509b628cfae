#!/bin/bash
# The bench's root filesystems, cached in $CACHE/rootfs/<debarch> (arm64, riscv64):
#   bin/busybox (the static busybox test fixture), bin/<applet> symlinks, etc/passwd,
#   work/*.sh   the RUN-like workloads (shared by every runner; see below)
#   work/blob   64 MiB for sha256 (deterministic bytes)
#   work/files/ 2000 small files for tar+gzip (deterministic content and mtimes)
# Every workload script starts with `cd "$W"` and execs busybox through "$BB", so
# the same script runs chrooted (W=/work BB=/bin/busybox), under bare QEMU from the
# host's view (W=ROOT/work BB=ROOT/bin/busybox) and natively (host busybox-static).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LOOP_N=${LOOP_N:-40000}
FORK_N=${FORK_N:-300}

make_workloads() {
    local w=$1
    cat >"$w/loop.sh" <<EOF
# shell loop: $LOOP_N iterations of builtins only (test, arithmetic)
cd "\$W"; i=0; s=0
while [ \$i -lt $LOOP_N ]; do i=\$((i + 1)); s=\$(( (s + i * 7) % 1000003 )); done
echo "loop \$i \$s"
EOF
    cat >"$w/sha.sh" <<'EOF'
# sha256 of 64 MiB (one foreign exec of busybox sha256sum)
cd "$W"; "$BB" sha256sum blob
EOF
    cat >"$w/forkexec.sh" <<EOF
# $FORK_N fork+exec of foreign children (busybox true, by path: no applet shortcut)
cd "\$W"; i=0
while [ \$i -lt $FORK_N ]; do "\$BB" true || exit 1; i=\$((i + 1)); done
echo "forkexec \$i"
EOF
    cat >"$w/targz.sh" <<'EOF'
# tar+gzip of 2000 files (three foreign processes in a pipeline)
cd "$W"; "$BB" tar -cf - files | "$BB" gzip -6 -c | "$BB" sha256sum
EOF
}

make_data() {
    local w=$1 i
    # 64 MiB of deterministic, incompressible-looking bytes: sha256 chain, expanded.
    python3 - "$w/blob" <<'EOF'
import hashlib, sys
h = hashlib.sha256(b"binfmt-installer bench").digest()
chunk = bytearray()
while len(chunk) < 1 << 20:
    h = hashlib.sha256(h).digest()
    chunk += h
with open(sys.argv[1], "wb") as f:
    for i in range(64):
        f.write(bytes((b + i) & 0xff for b in chunk) if i else bytes(chunk))
EOF
    mkdir -p "$w/files"
    python3 - "$w/files" <<'EOF'
import os, sys
d = sys.argv[1]
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
for i in range(2000):
    n = 200 + (i * 7919) % 6000
    text = " ".join(words[(i + j * j) % len(words)] + str(j % 97) for j in range(n // 8))
    p = os.path.join(d, "f%04d.txt" % i)
    with open(p, "w") as f:
        f.write(text[:n] + "\n")
    os.utime(p, (1700000000, 1700000000))
os.utime(d, (1700000000, 1700000000))
EOF
}

for debarch in arm64 riscv64; do
    r=$ROOTFS_DIR/$debarch
    bb=$BUSYBOX_FIXTURES/$debarch/busybox
    [[ -x $bb ]] || b_die "$bb missing (run 'make fixtures')"
    stamp="$(sha256sum "$bb" | cut -c1-16) v3"
    if [[ -f $r/.stamp && $(<"$r/.stamp") == "$stamp" ]]; then
        make_workloads "$r/work"   # cheap: the scripts follow LOOP_N / FORK_N
        continue
    fi
    b_log "building rootfs $r"
    rm -rf "$r.tmp" && mkdir -p "$r.tmp"/{bin,etc,tmp,work,proc,dev,sys}
    cp "$bb" "$r.tmp/bin/busybox"
    cpu=$(deb2cpu "$debarch")
    q=/usr/bin/qemu-$cpu-static
    [[ -x $q ]] || q=$BUILD/qemu/qemu-$cpu
    for a in $("$q" "$r.tmp/bin/busybox" --list); do
        [[ $a == busybox ]] || ln -s busybox "$r.tmp/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$r.tmp/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$r.tmp/etc/group"
    chmod 1777 "$r.tmp/tmp"
    make_workloads "$r.tmp/work"
    if [[ -d $ROOTFS_DIR/arm64/work/files && $debarch != arm64 ]]; then
        cp -a "$ROOTFS_DIR/arm64/work/blob" "$ROOTFS_DIR/arm64/work/files" "$r.tmp/work/"
    else
        make_data "$r.tmp/work"
    fi
    echo "$stamp" >"$r.tmp/.stamp"
    rm -rf "$r" && mv "$r.tmp" "$r"
done

# An arm64 Debian root (bookworm: libc-bin, dpkg, bash, coreutils) for the correctness
# sweep's ldconfig and dpkg --version. mmdebstrap's extract variant only unpacks
# packages (no foreign code runs, so the host's registry plays no part). Optional.
D=$CACHE/debroot-arm64
if [[ ${BENCH_DEBROOT:-1} == 1 && ! -x $D/usr/bin/dpkg ]] && command -v mmdebstrap >/dev/null; then
    mirror=$(. "$B_ROOT/qemu-static/lib.sh" && qs_find_mirror)
    rm -rf "$D.tmp"
    if timeout 900 mmdebstrap --variant=extract --arch=arm64 --mode=root \
        --include=libc-bin,dpkg,coreutils,bash bookworm "$D.tmp" \
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" >"$CACHE/debroot.log" 2>&1; then
        rm -rf "$D" && mv "$D.tmp" "$D"
    else
        b_log "mmdebstrap failed (see $CACHE/debroot.log): the Debian-root correctness check is skipped"
    fi
fi

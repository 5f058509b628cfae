#!/bin/bash
# The real-root corpus (issue 16, `make corpus`): Debian's essential set bootstrapped
# from the host's mirror by mmdebstrap --variant=essential, for arm64, armhf, ppc64el
# and s390x (bookworm) and riscv64 (trixie: Debian 12 has no riscv64), every foreign
# maintainer script and ldconfig trigger running under the staged payload (build/qemu,
# or QEMU_STATIC_DIR), registered by our own `binfmt --install` in a private
# binfmt_misc instance (the host's registry is never touched). In the arm64 root,
# apt-get install -y of packages whose postinst scripts do real work: ca-certificates
# (update-ca-certificates builds /etc/ssl/certs) and cron (adds a system group).
# Everything is checked from outside, after the namespace has exited: exit status,
# the registration that was used, dpkg's status of every package, ld.so.cache.
#
# Times land in $BUILD/corpus/times.tsv (target, suite, payload, QEMU version, seconds)
# and as notes; docs/benchmarks.md section 9 records them per target and payload.
#
#   tests/run tests/corpus/corpus.sh            (what `make corpus` runs)
#   CORPUS_TARGETS="arm64 riscv64"              a subset
#   QEMU_STATIC_DIR=build/qemu-11.1             another staged payload (any directory
#                                               with qemu-<cpu> or qemu-<cpu>-static)
#
# Needs root (the namespace maps ids 0-65535), Linux >= 6.7 (private instances),
# mmdebstrap and the mirror; it skips, saying which, where one is missing. Nothing is
# cached: each run bootstraps afresh (the .debs come from the mirror at its speed; the
# time is the emulated maintainer scripts, which is what this measures).
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/fixtures/fullmap.sh
. "$ROOT/tests/fixtures/fullmap.sh"
# shellcheck source=qemu-static/lib.sh
. "$ROOT/qemu-static/lib.sh"

BUILD_DIR=$(dirname "$(dirname "$BINFMT")")
QDIR=${QEMU_STATIC_DIR:-$BUILD_DIR/qemu}
QDIR=$(cd "$QDIR" 2>/dev/null && pwd) || skip_all "${QEMU_STATIC_DIR:-$BUILD_DIR/qemu} does not exist (run make qemu)"
read -r -a TARGETS <<<"${CORPUS_TARGETS:-arm64 armhf ppc64el s390x riscv64}"
APT_TARGET=arm64
APT_PACKAGES="ca-certificates cron"

suite_of() { case $1 in riscv64) echo trixie ;; *) echo bookworm ;; esac; }
cpu_of() {
    case $1 in
    arm64) echo aarch64 ;; armhf) echo arm ;; ppc64el) echo ppc64le ;;
    s390x) echo s390x ;; riscv64) echo riscv64 ;; *) return 1 ;;
    esac
}
emulator_of() { # CPU -> the payload's file for it
    local f
    for f in "$QDIR/qemu-$1" "$QDIR/qemu-$1-static"; do [[ -x $f ]] && { echo "$f"; return 0; }; done
    return 1
}

((EUID == 0)) || skip_all "not root: the bootstrap namespace maps ids 0-65535 (run as root)"
kver=$(uname -r | awk -F. '{print $1 * 1000 + $2}')
((kver >= 6007)) || skip_all "Linux $(uname -r) has no private binfmt_misc instances (needs 6.7)"
command -v mmdebstrap >/dev/null || skip_all "mmdebstrap is not installed (tests/deps.sh installs it)"
[[ -x $BINFMT ]] || bail_out "$BINFMT is not built (make)"
for a in "${TARGETS[@]}"; do
    c=$(cpu_of "$a") || bail_out "CORPUS_TARGETS: unknown target '$a' (arm64 armhf ppc64el s390x riscv64)"
    emulator_of "$c" >/dev/null || skip_all "$QDIR has no qemu-$c (run make qemu)"
done
MIRROR=${BINFMT_TEST_MIRROR:-$(qs_find_mirror)}
[[ -n $MIRROR ]] || skip_all "no Debian mirror in the host's apt sources (set BINFMT_TEST_MIRROR)"

QVER=$("$(emulator_of aarch64 || emulator_of "$(cpu_of "${TARGETS[0]}")")" -version | head -n1 | sed 's/^qemu-[^ ]* version //')
PAYLOAD=$(sed -n 's/^payload=//p' "$QDIR/VERSION" 2>/dev/null)
[[ -f $QDIR/VERSION ]] && PAYLOAD=${PAYLOAD:-debian}
PAYLOAD=${PAYLOAD:-$QDIR}
apt_points=0
for a in "${TARGETS[@]}"; do [[ $a == "$APT_TARGET" ]] && apt_points=4; done
plan $((4 * ${#TARGETS[@]} + apt_points))

# On disk, not /tmp's tmpfs: five roots of ~200 MB each.
WORK=$(mktemp -d /var/tmp/binfmt-corpus.XXXXXX)
on_exit rm -rf "$WORK"
RESULTS=${CORPUS_RESULTS:-$BUILD_DIR/corpus}
mkdir -p "$RESULTS"
TIMES=$RESULTS/times.tsv
[[ -s $TIMES ]] || printf 'target\tsuite\tpayload\tqemu\tseconds\tresult\n' >"$TIMES"
note "payload: $PAYLOAD (QEMU $QVER) from $QDIR; mirror $MIRROR"

# unconfigured ROOT -> "pkg status" lines for every package dpkg does not call
# "install ok installed" (half-configured, unpacked, triggers-pending...).
unconfigured() {
    awk '/^Package:/ {p = $2} /^Status:/ {s = substr($0, 9); if (s != "install ok installed") print p ": " s}' \
        "$1/var/lib/dpkg/status"
}
installed_count() { grep -c '^Status: install ok installed$' "$1/var/lib/dpkg/status"; }

# The bootstrap, inside the namespace: register, record the entry, mmdebstrap; for
# the apt target also apt-get install with /proc and /dev, as a RUN step has them.
# shellcheck disable=SC2016 # expanded by the inner bash
INNER='set -e
"$BINFMT" --quiet --install "$A" >/dev/null
cat /proc/sys/fs/binfmt_misc/qemu-"$C" >"$OUT.entry"
mmdebstrap --mode=root --variant=essential ${INC:+--include="$INC"} --architectures="$A" "$SUITE" "$OUT" "$MIRROR"
[[ -z $PKGS ]] && exit 0
cp /etc/resolv.conf "$OUT/etc/resolv.conf" 2>/dev/null || true
cp /etc/hosts "$OUT/etc/hosts"
mount -t proc proc "$OUT/proc"
mount --rbind /dev "$OUT/dev"
chroot "$OUT" apt-get -q update
chroot "$OUT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $PKGS'

for a in "${TARGETS[@]}"; do
    c=$(cpu_of "$a") suite=$(suite_of "$a") q=$(emulator_of "$c")
    dir=$WORK/$a pkgs="" inc=""
    if [[ $a == "$APT_TARGET" ]]; then pkgs=$APT_PACKAGES inc=apt; fi
    t0=$SECONDS
    fullmap env QEMU_BINARY_PATH="$QDIR" BINFMT="$BINFMT" A="$a" C="$c" SUITE="$suite" OUT="$dir" \
        MIRROR="$MIRROR" INC="$inc" PKGS="$pkgs" bash -c "$INNER" >"$WORK/$a.log" 2>&1
    rc=$?
    secs=$((SECONDS - t0))
    if t_is "$a: mmdebstrap --variant=essential $suite${pkgs:+, then apt-get install $pkgs,} under QEMU $QVER exits 0" "$rc" 0; then
        result=ok
    else
        result="failed (exit $rc)"
        diag "last lines of $WORK/$a.log:" "$(tail -n 25 "$WORK/$a.log")"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$a" "$suite" "$PAYLOAD" "$QVER" "$secs" "$result" >>"$TIMES"
    note "$a ($suite): $secs s, $result"
    # The emulator the kernel ran for every foreign exec: the payload's, registered by us.
    t_ok "$a: binfmt registered the payload's qemu-$c" grep -qxF "interpreter $q" "$WORK/$a.entry"
    if [[ -s $dir/var/lib/dpkg/status ]]; then
        t_is "$a: every package configured (dpkg status, read from outside)" "$(unconfigured "$dir")" ""
        n=$(installed_count "$dir")
        ((n >= 10)) || diag "only $n packages installed"
    else
        t_fail "$a: every package configured (no $dir/var/lib/dpkg/status)"
    fi
    # ldconfig ran (libc-bin's trigger) and wrote a cache for this root's loader.
    t_ok "$a: the ldconfig trigger wrote /etc/ld.so.cache" test -s "$dir/etc/ld.so.cache"
    if [[ $a == "$APT_TARGET" ]]; then
        for p in $pkgs; do
            t_is "$a: apt-get installed $p (dpkg status)" \
                "$(awk -v p="$p" '/^Package:/ {q = $2} /^Status:/ && q == p {print substr($0, 9)}' "$dir/var/lib/dpkg/status")" \
                "install ok installed"
        done
        # What the postinst scripts did, not only that they exited 0.
        t_ok "$a: ca-certificates' postinst built /etc/ssl/certs/ca-certificates.crt" \
            grep -q 'BEGIN CERTIFICATE' "$dir/etc/ssl/certs/ca-certificates.crt"
        t_ok "$a: cron's postinst added the crontab group" grep -q '^crontab:' "$dir/etc/group"
    fi
    rm -rf "$dir" # space: the next root
done

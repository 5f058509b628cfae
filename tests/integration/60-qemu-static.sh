#!/bin/bash
# The staged static QEMU emulators (`make qemu`: qemu-static/stage.sh into build/qemu):
# every binary is the one qemu-static/manifest pins (Debian's payload) or the one
# qemu-static/build.sh recorded (the rebuilt payload: static, not PIE), static and for
# this machine (elfcheck), and runs a real arm64 busybox; elfcheck rejects dynamic,
# wrong-machine and non-ELF files; stage.sh refuses a corrupted cached .deb or rebuilt
# binary (staging nothing) and stages from its cache with no network at all. Skipped
# when build/qemu is not staged.
# shellcheck disable=SC2016 # the busybox shell expands $((...)), on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

# The build tree under test: the one holding $BINFMT (build, build-asan, ...), where
# its `make qemu` staged the payload (a cold sanitize-check has no build/ at all).
BUILD_DIR=$(dirname "$(dirname "$BINFMT")")
QDIR=${QEMU_STATIC_DIR:-$BUILD_DIR/qemu}
MANIFEST=$ROOT/qemu-static/manifest # the default series; the staged one is found below
STAGE=$ROOT/qemu-static/stage.sh
CACHE=${QEMU_STATIC_CACHE:-/var/cache/binfmt-installer/qemu}
DEAD_MIRROR=http://127.0.0.1:9/debian # nothing listens there: any download fails

[[ -f $QDIR/VERSION && -x $QDIR/qemu-aarch64 ]] || skip_all "$QDIR is not staged (run make qemu)"
[[ -r $MANIFEST ]] || skip_all "no $MANIFEST"
plan 46

WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-60-qemu.XXXXXX")
on_exit rm -rf "$WORK"

ARCH=$(sed -n 's/^arch=//p' "$QDIR/VERSION")
# The series staged in QDIR (`make qemu QEMU_SERIES=...`): the manifest that pins the
# package version its VERSION names.
staged_version=$(sed -n 's/^package_version=//p' "$QDIR/VERSION")
for m in "$ROOT"/qemu-static/manifest "$ROOT"/qemu-static/manifest-*; do
    awk -v a="$ARCH" -v v="$staged_version" '$1 == "deb" && $2 == a && $3 == v {f = 1} END {exit !f}' "$m" 2>/dev/null &&
        { MANIFEST=$m; break; }
done
BUILD_ARCH=$(dpkg --print-architecture)
case $ARCH in
amd64) MACHINE=x86_64 ;;
arm64) MACHINE=aarch64 ;;
*) bail_out "$QDIR/VERSION names an unknown arch '$ARCH'" ;;
esac

# elfcheck as `make qemu` built it, else a private build.
ELFCHECK=$BUILD_DIR/bin/elfcheck
if [[ ! -x $ELFCHECK ]]; then
    ELFCHECK=$WORK/elfcheck
    cc -std=gnu11 -Wall -Wextra -Werror -O2 -o "$ELFCHECK" "$ROOT/qemu-static/elfcheck.c" -lelf ||
        bail_out "cannot build elfcheck"
fi
export ELFCHECK

# The manifest's view of ARCH, read independently of qemu-static/lib.sh.
deb_record() { awk -v a="$ARCH" '$1 == "deb" && $2 == a {print $3, $4, $5}' "$1"; } # MANIFEST
read_pins() { # MANIFEST ARRAY: ARRAY[cpu]=sha256 from its bin records for ARCH
    # shellcheck disable=SC2034 # a nameref: the caller's array is written
    local -n into=$2
    local cpu sha
    # shellcheck disable=SC2034 # (the same, where it is written)
    while read -r cpu sha; do into["$cpu"]=$sha; done < <(awk -v a="$ARCH" '$1 == "bin" && $2 == a {print $3, $4}' "$1")
}
read -r PKG_VERSION QEMU_VERSION DEB_SHA < <(deb_record "$MANIFEST")
PACKAGE=$(awk '$1 == "package" {print $2; exit}' "$MANIFEST")
declare -A PIN=()
read_pins "$MANIFEST" PIN
DEB_CPUS=$(printf '%s\n' "${!PIN[@]}" | LC_ALL=C sort)
DEB=$CACHE/${PACKAGE}_${PKG_VERSION//:/%3a}_$ARCH.deb

# The payload staged in QDIR: Debian's (pinned by the manifest) or rebuilt here (pinned
# by the SHA256SUMS qemu-static/build.sh wrote next to its output).
PAYLOAD=$(sed -n 's/^payload=//p' "$QDIR/VERSION")
PAYLOAD=${PAYLOAD:-debian}
declare -A RPIN=()
if [[ $PAYLOAD == rebuilt ]]; then
    BUILT=$CACHE/build/${PKG_VERSION#*:}-$ARCH/out
    [[ -s $BUILT/SHA256SUMS ]] || bail_out "$QDIR holds the rebuilt payload but $BUILT/SHA256SUMS is missing"
    while read -r sha name; do RPIN[${name#qemu-}]=$sha; done <"$BUILT/SHA256SUMS"
    CPUS=$(printf '%s\n' "${!RPIN[@]}" | LC_ALL=C sort)
else
    CPUS=$DEB_CPUS
fi

# check_dir DIR [PINS] -> prints one line per binary that differs from PINS (the name of
# an associative array cpu -> sha256; default PIN, the manifest's) over its cpus
check_dir() {
    local dir=$1 cpu sha path
    local -n pins=${2:-PIN}
    declare -A got=()
    while read -r sha path; do got[${path##*/qemu-}]=$sha; done < <(
        for cpu in "${!pins[@]}"; do printf '%s\0' "$dir/qemu-$cpu"; done | xargs -0 -n 4 -P 2 sha256sum 2>/dev/null)
    for cpu in "${!pins[@]}"; do
        [[ ${got[$cpu]:-missing} == "${pins[$cpu]}" ]] || echo "qemu-$cpu: ${got[$cpu]:-missing} != ${pins[$cpu]}"
    done
}

# --- the staged directory ------------------------------------------------------------
t_is "VERSION names the pinned package version" "$(sed -n 's/^package_version=//p' "$QDIR/VERSION")" "$PKG_VERSION"
t_is "VERSION names the QEMU version" "$(sed -n 's/^qemu_version=//p' "$QDIR/VERSION")" "$QEMU_VERSION"
t_like "the manifest pins all linux-user targets (>= 30 for $ARCH)" "$(wc -w <<<"$DEB_CPUS")" '^(3[0-9]|[4-9][0-9])$'
staged=$(find "$QDIR" -maxdepth 1 -name 'qemu-*' -printf '%f\n' | sed 's/^qemu-//' | LC_ALL=C sort)
if [[ $PAYLOAD == rebuilt ]]; then
    own=$MACHINE
    t_is "rebuilt payload: the manifest's emulators except the host's own ($own) are staged" \
        "$staged" "$(grep -vx "$own" <<<"$DEB_CPUS")"
    t_is "every staged binary has the SHA-256 build.sh recorded" "$(check_dir "$QDIR" RPIN)" ""
    t_is "VERSION names the build record it was staged from" \
        "$(sed -n 's/^sha256sums=//p' "$QDIR/VERSION")" "$(sha256sum <"$BUILT/SHA256SUMS" | cut -d' ' -f1)"
    # What makes it the fast payload: no start-up relocation (ET_EXEC, no PIE) and no capstone.
    t_is "every rebuilt binary is static, not PIE (ELF type EXEC)" \
        "$(for c in $CPUS; do LC_ALL=C readelf -h "$QDIR/qemu-$c" | awk '/Type:/ {print $2}'; done | sort -u)" EXEC
    t_is "... and has no capstone in it" "$(grep -lc 'capstone' "$QDIR"/qemu-* | wc -l)" 0
else
    t_is "exactly the manifest's emulators are staged" "$staged" "$CPUS"
    t_is "every staged binary has the manifest's SHA-256" "$(check_dir "$QDIR")" ""
    skip "Debian's payload: no build record" 3
fi
bad=$(for c in $CPUS; do
    f=$QDIR/qemu-$c
    [[ -f $f && ! -L $f && $(stat -c %a "$f") == 755 ]] || echo "qemu-$c: $(stat -c '%F %a' "$f" 2>&1)"
done)
t_is "every staged binary is a regular file, mode 0755" "$bad" ""
if ((EUID == 0)); then
    t_is "staged as root: every binary is owned by root (binfmt requires it)" \
        "$(stat -c %u "$QDIR"/qemu-* | sort -u)" 0
else
    skip "not root: ownership is the invoking user's"
fi
files=()
for c in $CPUS; do files+=("$QDIR/qemu-$c"); done
t_ok "elfcheck --machine $MACHINE passes every staged binary" "$ELFCHECK" --machine "$MACHINE" "${files[@]}"

if [[ $ARCH == "$BUILD_ARCH" ]]; then
    out=$("$QDIR/qemu-aarch64" -version 2>&1)
    t_like "qemu-aarch64 -version reports the pinned QEMU $QEMU_VERSION" "$out" "^qemu-aarch64 version ${QEMU_VERSION//./\\.} "
    v_re=${PKG_VERSION//./\\.}
    v_re=${v_re//+/\\+}
    if [[ $PAYLOAD == rebuilt ]]; then
        t_like "... rebuilt by binfmt-installer from Debian's $PKG_VERSION" "$out" "\(Debian $v_re, rebuilt by binfmt-installer\)"
    else
        t_like "... Debian's $PKG_VERSION" "$out" "\(Debian $v_re\)"
    fi
    if BB=$(busybox_path arm64 2>/dev/null); then
        t_is "a real arm64 busybox runs under qemu-aarch64: uname -m" \
            "$("$QDIR/qemu-aarch64" "$BB" uname -m 2>&1)" aarch64
        t_is "... and its shell computes" "$("$QDIR/qemu-aarch64" "$BB" sh -c 'echo $((6 * 7))' 2>&1)" 42
    else
        skip "arm64 busybox fixture missing (tests/fixtures/fetch.sh)" 2
    fi
else
    skip "$QDIR holds $ARCH emulators, this is $BUILD_ARCH" 4
fi

# --- elfcheck rejects what is not a static executable for the machine ------------------
LS=$(readlink -f /bin/ls)
out=$("$ELFCHECK" --machine "$MACHINE" "$LS")
rc=$?
t_is "elfcheck rejects a dynamic binary ($LS): exit 1" "$rc" 1
t_like "... naming PT_INTERP" "$out" "^$LS: dynamically linked: PT_INTERP /"

# A static binary for another machine: the arm64 busybox (riscv64 on an arm64 host).
wrong=""
for a in arm64 riscv64 s390x; do
    [[ $(case $a in arm64) echo aarch64 ;; *) echo "$a" ;; esac) == "$MACHINE" ]] && continue
    wrong=$(busybox_path "$a" 2>/dev/null) && break
done
if [[ -n $wrong ]]; then
    out=$("$ELFCHECK" --machine "$MACHINE" "$wrong")
    rc=$?
    t_is "elfcheck rejects a static binary for another machine: exit 1" "$rc" 1
    t_like "... naming the machines" "$out" "^$wrong: wrong machine: .*expected $MACHINE"
else
    skip "no foreign busybox fixture (tests/fixtures/fetch.sh)" 2
fi

printf '#!/bin/sh\necho not ELF\n' >"$WORK/script.sh"
chmod +x "$WORK/script.sh"
out=$("$ELFCHECK" --machine "$MACHINE" "$WORK/script.sh")
rc=$?
t_is "elfcheck rejects a non-ELF file: exit 1" "$rc" 1
t_like "... saying so" "$out" "^$WORK/script.sh: not an ELF file$"

out=$("$ELFCHECK" --machine "$MACHINE" "$QDIR/qemu-arm" "$LS" "$WORK/script.sh" "$WORK/missing")
rc=$?
t_is "elfcheck with good and bad files: exit 1, one line per bad file, in order" \
    "$rc $(cut -d: -f1 <<<"$out" | tr '\n' ' ')" "1 $LS $WORK/script.sh $WORK/missing "
"$ELFCHECK" --machine sparc "$LS" >/dev/null 2>&1
t_is "elfcheck: an unknown machine is a usage error (exit 2)" "$?" 2

# --- the rebuilt payload: staged from build.sh's cache with no network; a cached build
# output that no longer matches its record is refused, staging nothing ---------------
NONET=()
if ((EUID == 0)) && unshare --net true 2>/dev/null; then NONET=(unshare --net); fi
if [[ $PAYLOAD == rebuilt ]]; then
    rtop=$WORK/rcache/build/${PKG_VERSION#*:}-$ARCH
    mkdir -p "$rtop" && cp -a "$BUILT" "$rtop/out"
    out=$(QEMU_STATIC_MIRROR=$DEAD_MIRROR "${NONET[@]}" "$STAGE" --payload rebuilt --cache "$WORK/rcache" --out "$WORK/rwarm" 2>&1)
    rc=$?
    t_is "stage.sh --payload rebuilt from a warm build cache needs no network${NONET:+ (unshare --net)}" "$rc" 0 || diag "$out"
    t_is "... and stages the recorded binaries" "$(check_dir "$WORK/rwarm" RPIN)" ""
    printf 'X' | dd of="$rtop/out/qemu-arm" bs=1 seek=4096 conv=notrunc status=none
    out=$(QEMU_STATIC_MIRROR=$DEAD_MIRROR "${NONET[@]}" "$STAGE" --payload rebuilt --cache "$WORK/rcache" --out "$WORK/rbad" 2>&1)
    rc=$?
    t_like "a tampered rebuilt binary in the build cache is refused" "$rc $out" \
        "^1 .*do not match its SHA256SUMS; nothing staged.*qemu-arm: sha256"
    t_ok "... and nothing is staged" test ! -e "$WORK/rbad"
    rm -rf "$WORK/rcache" "$WORK/rwarm"
else
    skip "Debian's payload is staged (QEMU_PAYLOAD=debian)" 4
fi

# --- the other pinned series (qemu-static/manifest-*, issue 16): each stages as pinned
# (a binary-only pin: Debian's binaries only) and runs; rebuilding a binary-only pin is
# refused, staging nothing; an unknown QEMU_SERIES is a clear make error ------------------
other=""
for m in "$ROOT"/qemu-static/manifest-*; do [[ $m != "$MANIFEST" ]] && other=$m && break; done
[[ -n $other ]] || other=$ROOT/qemu-static/manifest # QDIR holds another series: test the default
oser=${other##*/manifest}
oser=${oser#-}
oser=${oser:-default}
read -r over oqv _ < <(deb_record "$other")
declare -A OPIN=()
read_pins "$other" OPIN
if [[ -z $over ]]; then
    skip "$other pins nothing for $ARCH" 5
else
    out=$(QEMU_STATIC_MANIFEST=$other "$STAGE" --payload debian --cache "$CACHE" --out "$WORK/series" 2>&1)
    rc=$?
    t_like "series $oser ($other): stage.sh stages QEMU $oqv, Debian's $over" "$rc $out" \
        "^0 .*staged ${#OPIN[@]} emulators, QEMU ${oqv//./\\.} "
    t_is "... every binary with that manifest's SHA-256" "$(check_dir "$WORK/series" OPIN)" ""
    if [[ $ARCH == "$BUILD_ARCH" ]] && BB=$(busybox_path arm64 2>/dev/null); then
        t_like "... its qemu-aarch64 says $oqv and runs a real arm64 busybox" \
            "$("$WORK/series/qemu-aarch64" -version | head -n1) $("$WORK/series/qemu-aarch64" "$BB" sh -c 'echo $((6 * 7))')" \
            "^qemu-aarch64 version ${oqv//./\\.} .* 42$"
    else
        skip "not an $BUILD_ARCH payload, or no arm64 busybox fixture"
    fi
    if awk '$1 == "src" {f = 1} END {exit !f}' "$other"; then
        skip "$other pins a source: rebuilding it is the rebuilt payload's test" 2
    else
        out=$(QEMU_STATIC_MANIFEST=$other "$STAGE" --payload rebuilt --cache "$CACHE" --out "$WORK/series-rb" 2>&1)
        rc=$?
        t_like "... a binary-only pin: --payload rebuilt is refused, saying why and what to use" "$rc $out" \
            "^1 .*pins QEMU ${oqv//./\\.}'s binaries only .*cannot be rebuilt; use --payload debian.*nothing staged"
        t_ok "... and nothing is staged" test ! -e "$WORK/series-rb"
    fi
fi
# (A fresh make, not a sub-make of `make check`: no "Entering directory" lines.)
out=$(env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s --no-print-directory -C "$ROOT" qemu-series-check QEMU_SERIES=0.0 2>&1)
rc=$?
t_like "make qemu QEMU_SERIES=0.0: a clear error naming the pinned series" "$rc $out" \
    "^2 make: QEMU_SERIES=0\.0: no qemu-static/manifest-0\.0; pinned series: [0-9.]+ "
rm -rf "$WORK/series"

# --- stage.sh: corrupted cache, warm staging without network ---------------------------
# The default payload (rebuilt) never needs the .deb: fetch it into the cache the
# way a user's `make qemu QEMU_PAYLOAD=debian` would (67 MB, once), so these points
# run on every machine that reaches the mirror.
if [[ ! -f $DEB ]]; then
    fetch_out=$("$STAGE" --payload debian --cache "$CACHE" --out "$WORK/deb-fetch" 2>&1)
    rm -rf "$WORK/deb-fetch"
fi
if [[ ! -f $DEB ]]; then
    skip "the pinned .deb is not cached at $DEB and cannot be fetched: $(tail -1 <<<"${fetch_out:-}")" 13
    exit 0
fi

mkdir -p "$WORK/bad-cache"
cp "$DEB" "$WORK/bad-cache/"
bad_deb=$WORK/bad-cache/${DEB##*/}
size=$(stat -c %s "$bad_deb")
# Flip one byte in the middle of the data member.
byte=$(od -An -tu1 -j $((size / 2)) -N1 "$bad_deb" | tr -d ' ')
printf '%b' "\\0$(printf '%03o' $((byte ^ 0xff)))" | dd of="$bad_deb" bs=1 seek=$((size / 2)) conv=notrunc status=none
out=$(QEMU_STATIC_MIRROR=$DEAD_MIRROR "$STAGE" --host-arch "$ARCH" --cache "$WORK/bad-cache" --out "$WORK/fresh" 2>&1)
rc=$?
t_isnt "stage.sh with a corrupted cached .deb fails" "$rc" 0
t_like "... with a clear message (SHA-256 mismatch, nothing staged)" "$out" \
    "cached .*_$ARCH\.deb has SHA-256 [0-9a-f]{64} but .*manifest pins $DEB_SHA.*nothing staged"
t_ok "... and stages nothing into the fresh --out dir" test ! -e "$WORK/fresh"
t_is "... and leaves no scratch directory next to it" "$(find "$WORK" -maxdepth 1 -name '*stage*' | wc -l)" 0

# Warm: a cache holding the pinned .deb, a mirror that does not answer, and (as root)
# no network at all.
mkdir -p "$WORK/cache"
cp "$DEB" "$WORK/cache/"
warm() { QEMU_STATIC_MIRROR=$DEAD_MIRROR "${NONET[@]}" "$STAGE" --host-arch "$ARCH" --cache "$WORK/cache" --out "$WORK/warm" 2>&1; }
out=$(warm)
rc=$?
t_is "a warm stage.sh needs no network${NONET:+ (unshare --net)} and succeeds" "$rc" 0 || diag "$out"
t_like "... saying what it staged" "$out" "staged $(wc -w <<<"$DEB_CPUS") emulators, QEMU $QEMU_VERSION"
t_is "... binaries matching the manifest" "$(check_dir "$WORK/warm")" ""
if [[ $PAYLOAD == debian ]]; then
    t_ok "... and the same VERSION as $QDIR" cmp "$WORK/warm/VERSION" "$QDIR/VERSION"
else
    t_is "... and a VERSION of the same QEMU as $QDIR's rebuilt payload" \
        "$(grep -E '^(qemu_version|package_version|arch)=' "$WORK/warm/VERSION")" \
        "$(grep -E '^(qemu_version|package_version|arch)=' "$QDIR/VERSION")"
fi
before=$(stat -c '%n %i %.9Y %.9Z' "$WORK/warm"/*)
out=$(warm)
rc=$?
t_like "a re-run finds it up to date" "$rc $out" "^0 .*up to date"
t_is "... and changes nothing" "$(stat -c '%n %i %.9Y %.9Z' "$WORK/warm"/*)" "$before"

# A staged binary changed after staging (same size) is noticed and replaced.
printf 'X' | dd of="$WORK/warm/qemu-arm" bs=1 seek=4096 conv=notrunc status=none
out=$(warm)
rc=$?
t_like "a tampered staged binary is restaged from the cache" "$rc $out" "^0 .*staged "
t_is "... and matches the manifest again" "$(check_dir "$WORK/warm")" ""

out=$("$STAGE" --host-arch sparc --out "$WORK/never" 2>&1)
rc=$?
t_is "stage.sh --host-arch sparc: refused, nothing staged" "$rc $(test -e "$WORK/never" && echo staged)" "1 "

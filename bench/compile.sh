#!/bin/bash
# Section 8: a real compile as a RUN step (issue 15). Lua 5.4 (Debian trixie's
# source, tests/fixtures/sources.sh), `make clean && make -j2 linux` (34 C files,
# the library, lua and luac), in a Debian trixie arm64 root with gcc
# (tests/fixtures/debian-roots.sh), alternated (altbench):
#
#   emu-run --accel off       everything emulated (QEMU: the default payload)
#   emu-run (auto)            cc1 and as native: the trixie amd64 cross root as --accel-root
#   docker run --platform     the same root loaded as an image (bench/docker.sh; the host's
#                             registry changed and restored under the host lock)
#   native cross              the cross root's aarch64-linux-gnu-gcc-14 --sysroot=<the root>,
#                             its make, natively (emu-run --arch amd64: the host's platform)
#
# What stays emulated in the accelerated step (the gcc driver, collect2 and ld, ar,
# ranlib, make, sh) plus emu-run's set-up is the accelerated row's median minus the
# native row's: the table reports it as "emulated remainder".
#
#   bench/compile.sh [RUNS]      writes $RESULTS/compile.md (a markdown table) and samples
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/docker.sh"
runs=${1:-$(b_runs 3 1)}
FIX=${BINFMT_TEST_CACHE:-/var/cache/binfmt-installer-tests}
EMU=$BUILD/bin/emu-run
trap bd_section_exit EXIT

BUILD=$BUILD "$B_ROOT/tests/fixtures/debian-roots.sh" trixie-arm64-gcc trixie-amd64-cross >&2
"$B_ROOT/tests/fixtures/sources.sh" >&2
lua=$(compgen -G "$FIX/sources/lua5.4_*.orig.tar.gz" | head -n1)
[[ -n $lua ]] || b_die "no Lua source (tests/fixtures/sources.sh)"

W=$CACHE/compile
R=$W/trixie-arm64-gcc
T=$W/trixie-amd64-cross
for d in "$R:trixie-arm64-gcc" "$T:trixie-amd64-cross"; do
    dir=${d%%:*} name=${d#*:}
    if [[ ! -f $dir/.made || $dir/.made -ot $FIX/debian/$name.tar ]]; then
        rm -rf "$dir" && mkdir -p "$dir"
        tar -C "$dir" -xpf "$FIX/debian/$name.tar" --exclude='./dev/*'
        touch "$dir/.made"
    fi
done
rm -rf "$R/src" && mkdir -p "$R/src" && tar -C "$R/src" -xzf "$lua" && mv "$R"/src/lua-* "$R/src/lua"

STEP='cd /src/lua/src && make clean >/dev/null && make -j2 linux >/dev/null'
rows=(
    "emu-run --accel off=$EMU --arch arm64 --rootfs $R --accel off -- sh -c '$STEP'"
    "emu-run (accel auto)=$EMU --arch arm64 --rootfs $R --accel-root $T -- sh -c '$STEP'"
    "native cross=$EMU --arch amd64 --rootfs $T --bind $R:/sysroot:ro --bind $R/src:/src -- sh -c 'cd /src/lua/src && make clean >/dev/null && make -j2 linux CC=\"aarch64-linux-gnu-gcc-14 --sysroot=/sysroot\" AR=\"aarch64-linux-gnu-ar rcu\" RANLIB=aarch64-linux-gnu-ranlib >/dev/null'"
)
if BD_GCC_ROOT=$R bd_start gcc-arm64; then
    rows+=("docker run --platform=$BD_DOCKER run --rm --network=none --platform linux/arm64 bench-gcc-arm64 sh -c '$STEP'")
    bd_fact compile
else
    b_fact compile.docker "not measured: $BD_WHY"
fi
b_fact compile.what "Lua $(basename "$lua" .orig.tar.gz | sed 's/^lua5.4_//') (Debian trixie source), \`make clean && make -j2 linux\` (34 C files, liblua.a, lua, luac) in a Debian trixie arm64 root with gcc $(sed -n 's/^made=//p' "$FIX/debian/trixie-arm64-gcc.SOURCE"); --accel-root: trixie amd64 with Debian's cross gcc-14"
for r in "${rows[@]}"; do b_cmd compile "${r%%=*}" "${r#*=}"; done

ab compile -r "$runs" -w 0 "${rows[@]}"

# The table: median wall time per row, and each row against the emulated one.
awk -F'\t' -v out="$RESULTS/compile.md" '
    $1 == "compile" && $7 == 0 { t[$2] = t[$2] " " $4; n[$2]++; if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 } }
    function median(s,   a, m, i, j, x) {
        m = split(s, a, " ")
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
        return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    END {
        base = median(t[order[1]])
        printf "| runner | median wall (s) | runs | speed-up over `emu-run --accel off` |\n|---|---|---|---|\n" > out
        for (i = 1; i <= k; i++) {
            m = median(t[order[i]])
            printf "| %s | %.1f | %d | %.1f× |\n", order[i], m / 1000, n[order[i]], base / m >> out
        }
        printf "\nemulated remainder (accel auto − native cross): %.1f s\n", (median(t[order[2]]) - median(t[order[3]])) / 1000 >> out
    }' "$RESULTS/samples.tsv"
cat "$RESULTS/compile.md" >&2

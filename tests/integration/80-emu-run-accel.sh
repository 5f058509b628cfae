#!/bin/bash
# emu-run --accel (issue 15): a real compile in a real root, accelerated and not,
# gives the same bytes, exit codes and diagnostics.
#
# Roots (tests/fixtures/debian-roots.sh, mmdebstrap through the host's mirror):
# Debian trixie arm64 and riscv64 with gcc, g++ and make; and a trixie amd64 root
# with Debian's cross gcc-14 for both, as --accel-root (this bookworm host's own
# cross gcc 12.2.0-14 is not bookworm's gcc 12.2.0-14+deb12u1, so it never
# matches a current bookworm root; see emu-runner/accel.c). The project is
# Lua 5.4 (Debian trixie's source, tests/fixtures/sources.sh), built with its
# own Makefile and make -j2, once with --accel auto and once with --accel off,
# in the same directory (paths alike), outputs compared from outside.
#
# Two cases fake what cannot be arranged for real here, and say so: a version
# mismatch (the cross root's dpkg status edited to another revision), and a host
# tool that does not start (a library of the cross root moved away).
# shellcheck disable=SC2016 # single-quoted steps run in the root
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

[[ -x $EMU ]] || skip_all "emu-run not built at $EMU (make)"
require_private_binfmt
((EUID == 0)) || skip_all "needs root: unpacks the cached roots with their owners"
id nobody >/dev/null 2>&1 || skip_all "no nobody user"
for r in trixie-arm64-gcc trixie-riscv64-gcc trixie-amd64-cross; do
    [[ -s $FIXTURES/debian/$r.tar ]] ||
        skip_all "no $r root cached in $FIXTURES/debian (run tests/fixtures/debian-roots.sh as root)"
done
LUA_TGZ=$(compgen -G "$FIXTURES/sources/lua5.4_*.orig.tar.gz" | head -n1)
[[ -n $LUA_TGZ ]] || skip_all "no Lua source cached in $FIXTURES/sources (run tests/fixtures/sources.sh)"
plan 49

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emu-run-accel.XXXXXX")
on_exit rm -rf "$WORK"
chmod 755 "$WORK"
host_before=$(host_listing)
T=$WORK/cross
mkdir -m 755 "$T" && tar -C "$T" -xpf "$FIXTURES/debian/trixie-amd64-cross.tar" --exclude='./dev/*' ||
    bail_out "cannot unpack the cross root"

unpack() { # DIR NAME: a root, with the Lua source in /src
    mkdir -m 755 "$1" && tar -C "$1" -xpf "$FIXTURES/debian/$2.tar" --exclude='./dev/*' &&
        mkdir -p "$1/src" && tar -C "$1/src" -xzf "$LUA_TGZ" && mv "$1"/src/lua-* "$1/src/lua"
}

# Small sources: a VLA under the stack protector (where bookworm's two gcc-12
# differ), C++, a compile error, a link error, an assembler error.
sources() {
    cat >"$1/src/vla.c" <<'EOF'
#include <stdio.h>
#include <string.h>
static int f(int n) { char buf[n]; memset(buf, 'x', (size_t)n); return buf[n / 2]; }
int main(int argc, char **argv) { (void)argv; printf("vla %d\n", f(argc + 10)); return 0; }
EOF
    cat >"$1/src/map.cc" <<'EOF'
#include <iostream>
#include <map>
#include <string>
#include <vector>
int main() { std::map<std::string, std::vector<int>> m; m["a"].push_back(1); std::cout << "map " << m.size() << "\n"; }
EOF
    printf 'int main(void) { return undeclared_thing + 1; }\n' >"$1/src/bad.c"
    printf 'int missing(void);\nint main(void) { return missing(); }\n' >"$1/src/unlinked.c"
    printf '\t.text\n\tnot_an_instruction x0, x1\n' >"$1/src/bad.s"
}

R=$WORK/arm64
unpack "$R" trixie-arm64-gcc && sources "$R" || bail_out "cannot unpack the arm64 root"
# The steps write only in /src and /tmp.
tree() { find "$1" -xdev -printf '%P %y %s %m %U:%G\n' | grep -Ev '^(src|tmp)( |/)' | sort; }
tree "$R" >"$WORK/before"

acc() { # MODE ROOT ARCH CMD...: emu-run with --accel MODE and the cross root
    local mode=$1 root=$2 arch=$3
    shift 3
    run "$EMU" --verbose --arch "$arch" --rootfs "$root" --accel-root "$T" --accel "$mode" -w /src -- "$@"
}

# --- what is accelerated, and that it is what runs -----------------------------------
cc1=/usr/libexec/gcc/aarch64-linux-gnu/14/cc1
cc1_sum=$(md5sum <"$R$cc1" | cut -d' ' -f1)
acc auto "$R" arm64 sh -c "gcc -c vla.c -o /tmp/x.o && ls /dev/.emu-run-accel/cache && md5sum <$cc1 | cut -d' ' -f1 && dpkg --verify cpp-14-aarch64-linux-gnu binutils-aarch64-linux-gnu && echo verified"
t_is "auto: compiling used the native path (its search list kept); the step's cc1 is the root's own file, and dpkg --verify finds nothing changed" \
    "$RC|$(emu_words "$OUT")" "0|t0-aarch64-linux-gnu $cc1_sum verified" || diag "$ERR"
t_like "--verbose: the private entry's interpreter is the launcher" "$ERR" \
    "registered: :qemu-aarch64:M::[^ ]*:/dev/\.emu-run-accel/launcher:PF \(the launcher"
for tool in cc1 cc1plus lto1; do
    t_like "--verbose: $tool runs natively as the cross root's, naming its package and version" "$ERR" \
        "accel: /usr/libexec/gcc/aarch64-linux-gnu/14/$tool runs natively as $T/usr/libexec/gcc-cross/aarch64-linux-gnu/14/$tool \((cpp|g\+\+|gcc)-14-aarch64-linux-gnu 14\.2\.0-[0-9]+cross[0-9]+\)"
done
t_like "--verbose: the assembler too (binutils-aarch64-linux-gnu, the same version)" "$ERR" \
    "accel: /usr/bin/aarch64-linux-gnu-as runs natively as $T/usr/bin/aarch64-linux-gnu-as \(binutils-aarch64-linux-gnu [0-9.]+-[0-9]+\)"

# A tool replaced during the step (dpkg renames the new file over the old one on an
# upgrade): the rename works (nothing is mounted over the file), and the new file,
# another inode, runs emulated: no search list is made for it.
acc auto "$R" arm64 sh -c "cp -p $cc1 $cc1.new && mv $cc1.new $cc1 && gcc -c vla.c -o /tmp/r.o && ls /dev/.emu-run-accel/cache | wc -l && md5sum <$cc1 | cut -d' ' -f1"
t_is "a cc1 replaced by rename in the step (as dpkg upgrades it): works, the same file, emulated" \
    "$RC|$(emu_words "$OUT")" "0|0 $cc1_sum" || diag "$ERR"

run "$EMU" --arch arm64 --rootfs "$R" --overlay --accel-root "$T" -w /src -- sh -c 'gcc -c vla.c -o /tmp/x.o && ls /dev/.emu-run-accel/cache'
t_is "--overlay: the tools are matched through the overlay, and compiling is native" "$RC|$OUT" "0|t0-aarch64-linux-gnu" || diag "$ERR"

# --- the real project: Lua, make -j2 --------------------------------------------------
BUILD_LUA='cd /src/lua/src && make -j2 linux >/tmp/make.log 2>&1 || { cat /tmp/make.log; exit 1; }; ./lua -e "print(2^10, string.format(\"%5.2f\", math.pi))"'
acc auto "$R" arm64 sh -c "$BUILD_LUA"
t_is "Lua 5.4 with --accel auto and make -j2: builds, and the lua it built runs (emulated)" "$RC|$OUT" \
    "0|1024.0	 3.14" || diag "$OUT" "$ERR"
mkdir "$WORK/lua-auto" && cp -a "$R/src/lua/src/." "$WORK/lua-auto/"
acc off "$R" arm64 sh -c 'cd /src/lua/src && make clean >/dev/null'
acc off "$R" arm64 sh -c "$BUILD_LUA"
t_is "...the same with --accel off" "$RC|$OUT" "0|1024.0	 3.14" || diag "$OUT" "$ERR"
objs=0 differ=""
for o in "$WORK"/lua-auto/*.o; do
    objs=$((objs + 1))
    cmp -s "$o" "$R/src/lua/src/$(basename "$o")" || differ+=" $(basename "$o")"
done
t_is "every object file byte-identical, accelerated and emulated ($objs objects)" "$differ" ""
t_ok "...and there were the 30-odd objects of Lua ($objs)" test "$objs" -ge 30
t_ok "liblua.a byte-identical" cmp "$WORK/lua-auto/liblua.a" "$R/src/lua/src/liblua.a"
t_ok "the lua executable byte-identical" cmp "$WORK/lua-auto/lua" "$R/src/lua/src/lua"
t_ok "the luac executable byte-identical" cmp "$WORK/lua-auto/luac" "$R/src/lua/src/luac"

# --- small cases, each under both: bytes, exit codes, messages ------------------------
# gcc's temporary files have random names (/tmp/ccAbC123.o) in every run, emulated
# or not: those six characters are the one thing masked in the messages compared.
same_msgs() { grep -v '^emu-run: ' | sed -E 's|/tmp/cc[A-Za-z0-9]{6}\.|/tmp/ccXXXXXX.|g'; }
both() { # DESC ROOT ARCH STEP: the step under auto and off; outputs and files compared
    local desc=$1 root=$2 arch=$3 step=$4 a_out a_err a_rc
    acc auto "$root" "$arch" sh -c "rm -rf /tmp/o && mkdir /tmp/o && $step; rc=\$?; cat /tmp/o/* 2>/dev/null | md5sum; exit \$rc"
    a_out=$(same_msgs <<<"$OUT") a_err=$(same_msgs <<<"$ERR") a_rc=$RC
    acc off "$root" "$arch" sh -c "rm -rf /tmp/o && mkdir /tmp/o && $step; rc=\$?; cat /tmp/o/* 2>/dev/null | md5sum; exit \$rc"
    t_is "$desc" "$a_rc|$a_out|$a_err" "$RC|$(same_msgs <<<"$OUT")|$(same_msgs <<<"$ERR")"
}
both "a VLA under -O2 -g -fstack-protector-strong: same object and executable, same output" "$R" arm64 \
    'gcc -O2 -g -fstack-protector-strong -c vla.c -o /tmp/o/vla.o && gcc /tmp/o/vla.o -o /tmp/o/vla && /tmp/o/vla'
both "C++ (g++ -O2 -g): same object and executable, same output" "$R" arm64 \
    'g++ -O2 -g -c map.cc -o /tmp/o/map.o && g++ /tmp/o/map.o -o /tmp/o/map && /tmp/o/map'
both "a compile error: same exit code and diagnostics" "$R" arm64 'gcc -c bad.c -o /tmp/o/bad.o'
t_like "...which is gcc's error, exit 1" "$RC|$ERR" "^1\|.*bad\.c:1:25: error: .undeclared_thing. undeclared"
both "a link error: same exit code and diagnostics" "$R" arm64 'gcc unlinked.c -o /tmp/o/unlinked'
t_like "...which is the linker's, exit 1" "$RC|$ERR" "^1\|.*undefined reference to .missing."
both "an assembler error: same exit code and diagnostics" "$R" arm64 'gcc -c bad.s -o /tmp/o/bad.o'
t_like "...which is the assembler's, exit 1" "$RC|$ERR" "^1\|.*bad\.s:2: Error: unknown mnemonic .not_an_instruction."
both "predefined macros and header dependencies (gcc -dM -E, gcc -M, g++ -M): the same" "$R" arm64 \
    'echo | gcc -dM -E - | sort >/tmp/o/dm; printf "#include <stdio.h>\n#include <math.h>\n" | gcc -M -x c - >/tmp/o/m; printf "#include <vector>\n" | g++ -M -x c++ - >/tmp/o/mxx'
both "C_INCLUDE_PATH and CPATH of the step's own: the same search and result" "$R" arm64 \
    'mkdir -p /tmp/inc && echo "#define FROM_INC 7" >/tmp/inc/own.h && printf "#include <own.h>\nint v = FROM_INC;\n" >/tmp/i.c && C_INCLUDE_PATH=/tmp/inc gcc -c /tmp/i.c -o /tmp/o/i.o && CPATH=/tmp/inc gcc -c /tmp/i.c -o /tmp/o/j.o'
both "a header directory made during the step (/usr/local/include/aarch64-linux-gnu): searched alike" "$R" arm64 \
    'gcc -c vla.c -o /tmp/o/1.o && mkdir -p /usr/local/include/aarch64-linux-gnu && echo "#define LATE 3" >/usr/local/include/aarch64-linux-gnu/late.h && printf "#include <late.h>\nint v = LATE;\n" >/tmp/l.c && gcc -c /tmp/l.c -o /tmp/o/l.o; rc=$?; rm -rf /usr/local/include/aarch64-linux-gnu; exit $rc'
both "-march=native (the emulated CPU, not the host's): the same" "$R" arm64 'gcc -O2 -march=native -c vla.c -o /tmp/o/n.o'
both "-v: the same output (the emulated tools print it)" "$R" arm64 'gcc -v -c vla.c -o /tmp/o/v.o'
both "LD_PRELOAD in the step: the same messages and result" "$R" arm64 \
    'LD_PRELOAD=/nonexistent.so gcc -c vla.c -o /tmp/o/p.o'
both "-flto across two files: same executable" "$R" arm64 \
    'printf "int g(int x) { return x * 3; }\n" >/tmp/g.c && printf "int g(int);\nint main(void) { return g(2) - 6; }\n" >/tmp/m.c && gcc -O2 -flto /tmp/g.c /tmp/m.c -o /tmp/o/lto && /tmp/o/lto'

# --- a second target: riscv64 -----------------------------------------------------------
V=$WORK/riscv64
unpack "$V" trixie-riscv64-gcc && sources "$V" || bail_out "cannot unpack the riscv64 root"
acc auto "$V" riscv64 sh -c 'cd /src/lua/src && make -j2 linux >/dev/null 2>&1 && ./lua -e "print(7 // 2)"'
t_is "riscv64: Lua builds with --accel auto and runs" "$RC|$OUT" "0|3" || diag "$ERR"
t_like "...with cc1 accelerated (riscv64-linux-gnu's)" "$ERR" \
    "accel: /usr/libexec/gcc/riscv64-linux-gnu/14/cc1 runs natively as $T/usr/libexec/gcc-cross/riscv64-linux-gnu/14/cc1"
mkdir "$WORK/rv-auto" && cp -a "$V/src/lua/src/." "$WORK/rv-auto/"
acc off "$V" riscv64 sh -c 'cd /src/lua/src && make clean >/dev/null && make -j2 linux >/dev/null 2>&1'
differ=""
for o in "$WORK"/rv-auto/*.o "$WORK/rv-auto/lua" "$WORK/rv-auto/luac"; do
    cmp -s "$o" "$V/src/lua/src/$(basename "$o")" || differ+=" $(basename "$o")"
done
t_is "riscv64: every Lua object and both executables byte-identical to --accel off" "$differ" ""
both "riscv64: C++ the same" "$V" riscv64 'g++ -O2 -c map.cc -o /tmp/o/map.o && g++ /tmp/o/map.o -o /tmp/o/map && /tmp/o/map'

# --- when it stays emulated ----------------------------------------------------------------
run "$EMU" --verbose --arch arm64 --rootfs "$R" --accel off -- true
t_like "--accel off: --verbose says every tool is emulated" "$RC|$ERR" "^0\|.*accel: off"
t_unlike "...and nothing runs natively" "$ERR" "runs natively"
run env EMU_RUN_ACCEL=off "$EMU" --verbose --arch arm64 --rootfs "$R" --accel-root "$T" -- true
t_like "EMU_RUN_ACCEL=off: the same" "$RC|$ERR" "^0\|.*accel: off"
run env EMU_RUN_ACCEL=off EMU_RUN_ACCEL_ROOT="$T" "$EMU" --verbose --arch arm64 --rootfs "$R" --accel auto -- true
t_like "--accel auto wins over EMU_RUN_ACCEL=off; EMU_RUN_ACCEL_ROOT names the cross root" "$RC|$ERR" \
    "^0\|.*accel: /usr/libexec/gcc/aarch64-linux-gnu/14/cc1 runs natively as $T/"
run "$EMU" --arch arm64 --rootfs "$R" --accel fast -- true
t_is "--accel fast: a usage error (125), naming the choices" "$RC|$ERR" \
    "125|emu-run: --accel 'fast': auto or off
Try 'emu-run --help' for more information."
run env EMU_RUN_ACCEL=yes "$EMU" --arch arm64 --rootfs "$R" -- true
t_like "EMU_RUN_ACCEL=yes: the same, naming the variable" "$RC|$ERR" "^125\|emu-run: EMU_RUN_ACCEL 'yes': auto or off"

# Faked: another revision of the cross cc1's package (the status file edited).
cp -a "$T/var/lib/dpkg/status" "$WORK/status"
sed -i '/^Package: cpp-14-aarch64-linux-gnu$/,/^$/ s/^Version: 14\.2\.0-\([0-9]*\)cross/Version: 14.2.0-999cross/' "$T/var/lib/dpkg/status"
acc auto "$R" arm64 sh -c 'gcc -O2 -fstack-protector-strong -c vla.c -o /tmp/v.o && echo compiled'
t_like "another Debian revision of the cross cc1 (faked): cc1 stays emulated, --verbose says why" "$RC|$OUT|$ERR" \
    "^0\|compiled\|.*accel: /usr/libexec/gcc/aarch64-linux-gnu/14/cc1 stays emulated: the root has cpp-14-aarch64-linux-gnu 14\.2\.0-[0-9]+, the host's cross tool is cpp-14-aarch64-linux-gnu 14\.2\.0-999cross[0-9]+: not the same compiler"
t_like "...while the others, which match, are still accelerated" "$ERR" "accel: /usr/libexec/gcc/aarch64-linux-gnu/14/cc1plus runs natively"
cp -a "$WORK/status" "$T/var/lib/dpkg/status"

# Faked: a host tool that cannot start (one of its libraries moved away).
isl=$(compgen -G "$T/usr/lib/x86_64-linux-gnu/libisl.so.*" | head -n1)
mv "$isl" "$WORK/"
acc auto "$R" arm64 sh -c 'gcc -c vla.c -o /tmp/v.o && echo compiled'
t_like "a host cc1 that does not start (libisl gone, faked): the step still compiles, emulated; --verbose says why" \
    "$RC|$OUT|$ERR" "^0\|compiled\|.*accel: /usr/libexec/gcc/aarch64-linux-gnu/14/cc1 stays emulated: the host's $T/usr/libexec/gcc-cross/aarch64-linux-gnu/14/cc1 does not run as expected"
mv "$WORK/$(basename "$isl")" "$isl"

mv "$R/var/lib/dpkg/status" "$WORK/root-status"
acc auto "$R" arm64 sh -c 'gcc -c vla.c -o /tmp/v.o && echo compiled'
t_like "a root whose toolchain cannot be identified (no dpkg status): compiles emulated, --verbose says why" \
    "$RC|$OUT|$ERR" "^0\|compiled\|.*accel: the root has gcc but no dpkg database \(/var/lib/dpkg/status\): its toolchain cannot be identified"
mv "$WORK/root-status" "$R/var/lib/dpkg/status"

run "$EMU" --verbose --arch arm64 --rootfs "$R" --accel-root "$WORK/nowhere" -- true
t_like "--accel-root that does not exist: the step runs, everything emulated, --verbose names it" "$RC|$ERR" \
    "^0\|.*accel: everything stays emulated: --accel-root $WORK/nowhere: No such file or directory"

# --- an ordinary user, in a root of its own -----------------------------------------------
U=$WORK/user-root
mkdir -m 755 "$U" && chown nobody "$U" &&
    setpriv --reuid=nobody --regid=nogroup --clear-groups tar -C "$U" -xf "$FIXTURES/debian/trixie-arm64-gcc.tar" \
        --no-same-owner --exclude='./dev/*' 2>/dev/null
setpriv --reuid=nobody --regid=nogroup --clear-groups mkdir -p "$U/src" && cp "$R/src/vla.c" "$U/src/" && chown nobody "$U/src/vla.c"
run setpriv --reuid=nobody --regid=nogroup --clear-groups "$EMU" --verbose --arch arm64 --rootfs "$U" --accel-root "$T" -w /src -- \
    sh -c 'gcc -O2 -fstack-protector-strong vla.c -o vla && ./vla && ls /dev/.emu-run-accel/cache'
t_is "as nobody, in a root it unpacked: accelerated compile, the program runs" "$RC|$(emu_words "$OUT")" \
    "0|vla 120 t0-aarch64-linux-gnu" || diag "$ERR"
run "$EMU" --arch arm64 --rootfs "$R" --accel off -w /src -- gcc -O2 -fstack-protector-strong vla.c -o vla-off
t_ok "...and its executable is byte-identical to root's emulated build of the same source" \
    cmp "$U/src/vla" "$R/src/vla-off"

# --- nothing left behind -------------------------------------------------------------------
tree "$R" >"$WORK/after"
t_is "the arm64 root on disk: nothing changed outside /src and /tmp (no placeholder, no tool replaced)" \
    "$(diff "$WORK/before" "$WORK/after" | head -5)" ""
t_is "host $HOST_BM state identical before and after" "$(host_listing)" "$host_before"

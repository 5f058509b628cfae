#!/bin/bash
# Section 9: QEMU CPU models on Debian trixie roots (issue 18, item 1). RUN-like
# workloads in trixie arm64 and riscv64 roots (tests/fixtures/debian-roots.sh
# trixie-arm64-bench trixie-riscv64-bench: minbase + python3-minimal, perl, xz-utils,
# gcc, libc6-dev), each step
#
#   emu-run --arch ARCH --rootfs ROOT --network none --cpu MODEL -- sh -c '. /bench/WORK.sh'
#
# (--network none: nothing in a timed step can reach the network, only lo; --qemu names
# the payload measured.)
#
# under every CPU model below that this payload's QEMU lists (`qemu-ARCH -cpu help`;
# the others are reported as not available). `max` is QEMU's linux-user default on
# both targets and the baseline: every model's median is also given as a ratio to
# max's, with the geomean over the workloads. The models of one workload are one
# altbench call (ab), so they alternate (ABC BCA CAB ...).
#
# Workloads (scripts written into ROOT/bench at set-up; each prints a deterministic
# result on stdout):
#   python   `python3 -c pass` 10 times, then one line of json+hashlib
#   apt      `apt-get install -y --no-download` of a few small packages with maintainer
#            scripts from the root's apt cache (downloaded once at set-up, with the
#            network; the timed step has none to do), then `apt-get purge --autoremove`,
#            so every run starts from the same state; prints dpkg-query's view
#   perl     a perl hash/sprintf/sort/regex loop, a dash loop, find|sort|cat|md5sum
#   gzip     gzip -6 of a fixed input (/bench/in.dat, made at set-up from `seq` and the
#            root's libc and perl), and back; sha256sums
#   xz       xz -6 -T1 of the same input's first part, and back; sha256sums
#   compile  gcc -O2 -c of four generated C files, link, run; sha256sum of the objects
#            and of the program's output (code generation does not depend on the CPU
#            that runs the compiler, so the objects must be the same bytes)
#
# Compatibility: a model passes a workload when every run exits 0 and the first timed
# run's stdout (altbench -O) is byte-identical to max's. Anything else is marked in the
# table (FAILED: exit status; DIFFERS: output) and listed in $RESULTS/cpu-checks.tsv.
#
#   bench/cpumodels.sh [RUNS]    writes $RESULTS/cpu.md (tables), cpu-checks.tsv,
#                                cpu-features.txt and samples (section "cpu")
#   bench/cpumodels.sh --tables  only cpu.md and cpu-checks.tsv again, from $RESULTS (every
#                                arch measured there, e.g. by runs of one arch each)
# Environment: BENCH_CPU_ARCHES (default "arm64 riscv64"), BENCH_CPU_WORK (default
# "python apt perl gzip xz compile"), BENCH_CPU_ARM64 / BENCH_CPU_RISCV64 (model lists).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tables_only=0
if [[ ${1:-} == --tables ]]; then tables_only=1; shift; fi
runs=${1:-$(b_runs 3 1)}
FIX=${BINFMT_TEST_CACHE:-/var/cache/binfmt-installer-tests}
EMU=$BUILD/bin/emu-run
# The payload: the default one (what `make qemu` staged into $BUILD/qemu), named
# explicitly with --qemu; BENCH_CPU_QEMU=DIR measures another.
QDIR=${BENCH_CPU_QEMU:-$BUILD/qemu}
[[ -x $EMU ]] || b_die "$EMU is not built (make BUILD=${BUILD#"$B_ROOT"/} all)"
read -r -a ARCHES <<<"${BENCH_CPU_ARCHES:-arm64 riscv64}"
read -r -a WORK <<<"${BENCH_CPU_WORK:-python apt perl gzip xz compile}"
declare -A MODELS=(
    [arm64]=${BENCH_CPU_ARM64:-max neoverse-n1 cortex-a76 cortex-a53}
    # rv64 is QEMU's generic CPU (RV64GCH with B and a few Z* extensions): in QEMU
    # 10.0 without V (its isa line in cpu-features.txt has no "v"), so `rv64` is the
    # model without the vector extension, the same as rv64,v=false (measured under
    # both names in the quick pass of issue 18; BENCH_CPU_RISCV64 may add it again);
    # rv64,v=true adds V; then the RVA22 and RVA23 user-mode profiles (RVA23
    # mandates V, RVA22 does not).
    [riscv64]=${BENCH_CPU_RISCV64:-max rv64 rv64,v=true rva22u64 rva23u64}
)
APT_PKGS="less nano"
OUT=$RESULTS/cpu
mkdir -p "$OUT/out"
if ((!tables_only)); then

names=()
for arch in "${ARCHES[@]}"; do names+=("trixie-$arch-bench"); done
BUILD=$BUILD "$B_ROOT/tests/fixtures/debian-roots.sh" "${names[@]}" >&2 || b_die "debian-roots.sh failed"

W=$CACHE/cpu

# Images beyond Debian (Ubuntu noble, Ubuntu 25.10 riscv64 for RVA23, AL2023): what the
# host's apt sources and their mirror offer. The mirror is read as debian-roots.sh does.
# shellcheck source=qemu-static/lib.sh
. "$B_ROOT/qemu-static/lib.sh"
mirror=${BINFMT_TEST_MIRROR:-$(qs_find_mirror)}
others=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE '(https?|file|ftp)://[^[:space:]]+' | sort -u | grep -vF "$mirror" | grep -v -e '-security$' | tr '\n' ' ' | sed 's/ $//' || true)
site=${mirror%/*}
probe() { printf '%s: HTTP %s' "${1#"$site"/}" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 "$1" || true)"; }
b_fact cpu.images "**Images not tested here**: Ubuntu noble (arm64, riscv64), Ubuntu 25.10 riscv64 (built for RVA23) and Amazon Linux 2023 (arm64). The host's apt sources name $mirror${others:+ and $others}, Debian only. Their site answers $(probe "$site/ubuntu/dists/noble/Release"), but that is Ubuntu's amd64/i386 archive ($(probe "$site/ubuntu/dists/noble/main/binary-arm64/Release")); Ubuntu's arm64 and riscv64 packages are on ubuntu-ports ($(probe "$site/ubuntu-ports/dists/noble/Release"); $(probe "$site/ubuntu-ports/dists/questing/Release")), and AL2023 is not an apt distribution at all. So the test set is Debian trixie (arm64, riscv64) only."

# The workload scripts, written into the root (sh: dash in Debian).
write_scripts() {
    local b=$1/bench
    mkdir -p "$b"
    cat >"$b/python.sh" <<'EOF'
i=0
while [ $i -lt 10 ]; do python3 -c pass || exit; i=$((i + 1)); done
python3 -c 'import hashlib, json; print(hashlib.sha256(json.dumps(list(range(20000))).encode()).hexdigest())'
EOF
    cat >"$b/apt.sh" <<EOF
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-download -o Dpkg::Use-Pty=0 $APT_PKGS >/dev/null || exit
dpkg-query -W -f '\${Package} \${Status}\n' $APT_PKGS
apt-get purge -y --autoremove -o Dpkg::Use-Pty=0 $APT_PKGS >/dev/null || exit
dpkg-query -W -f '\${Package} \${Status}\n' $APT_PKGS 2>/dev/null
exit 0
EOF
    cat >"$b/perl.sh" <<'EOF'
perl -e 'my (%h, $s); for my $i (1 .. 120000) { my $k = ($i * 7919) % 5003; $h{$k} .= sprintf("%x", $i) }
    for my $k (sort { $a <=> $b } keys %h) { $s .= substr($h{$k}, 0, 12) . lc(reverse $h{$k}) }
    my @w = split /a+/, $s; my $n = () = $s =~ /[0-9]{3}f/g; print scalar(@w), " ", length($s), " $n\n"' || exit
i=0 s=
while [ $i -lt 20000 ]; do i=$((i + 1)); case $i in *7) s="$s$i" ;; esac; done
echo "$i ${#s}"
find /usr/share/perl /usr/lib/python3* -type f \( -name '*.pm' -o -name '*.py' \) | LC_ALL=C sort | xargs cat | md5sum
EOF
    cat >"$b/gzip.sh" <<'EOF'
gzip -6 -c /bench/in.dat >/tmp/in.gz || exit
sha256sum </tmp/in.gz
gzip -dc /tmp/in.gz | sha256sum
rm -f /tmp/in.gz
EOF
    cat >"$b/xz.sh" <<'EOF'
head -c 3000000 /bench/in.dat | xz -6 -T1 -c >/tmp/in.xz || exit
sha256sum </tmp/in.xz
xz -dc /tmp/in.xz | sha256sum
rm -f /tmp/in.xz
EOF
    cat >"$b/compile.sh" <<'EOF'
set -e
rm -rf /tmp/cc && mkdir /tmp/cc && cd /tmp/cc
cp /bench/src/*.c /bench/src/*.h .
for f in a b c main; do gcc -O2 -Wall -c "$f.c"; done
gcc -O2 -o prog a.o b.o c.o main.o
sha256sum a.o b.o c.o main.o
./prog | sha256sum
EOF
    mkdir -p "$b/src"
    cat >"$b/src/w.h" <<'EOF'
#include <stddef.h>
#include <stdint.h>
struct node { uint64_t key; char name[24]; struct node *next; };
void sort_u64(uint64_t *v, size_t n);
uint64_t mix(uint64_t x);
size_t table_fill(struct node **t, size_t nb, struct node *pool, size_t n);
int fmt_all(char *out, size_t cap, const uint64_t *v, size_t n);
EOF
    cat >"$b/src/a.c" <<'EOF'
#include <string.h>
#include "w.h"
uint64_t mix(uint64_t x) { x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; return x ^ (x >> 33); }
static void sift(uint64_t *v, size_t i, size_t n)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && v[l] > v[m]) m = l;
		if (r < n && v[r] > v[m]) m = r;
		if (m == i) return;
		uint64_t t = v[i]; v[i] = v[m]; v[m] = t; i = m;
	}
}
void sort_u64(uint64_t *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;) sift(v, i, n);
	for (size_t i = n; i-- > 1;) { uint64_t t = v[0]; v[0] = v[i]; v[i] = t; sift(v, 0, i); }
}
EOF
    cat >"$b/src/b.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include "w.h"
size_t table_fill(struct node **t, size_t nb, struct node *pool, size_t n)
{
	size_t longest = 0;
	memset(t, 0, nb * sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		struct node *p = &pool[i];
		p->key = mix(i);
		snprintf(p->name, sizeof(p->name), "k%016llx", (unsigned long long)p->key);
		size_t h = p->key % nb, len = 0;
		p->next = t[h]; t[h] = p;
		for (struct node *q = p; q; q = q->next) len++;
		if (len > longest) longest = len;
	}
	return longest;
}
EOF
    cat >"$b/src/c.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include "w.h"
int fmt_all(char *out, size_t cap, const uint64_t *v, size_t n)
{
	size_t len = 0;
	for (size_t i = 0; i < n && len + 32 < cap; i++) {
		int k = snprintf(out + len, cap - len, "%llu%c", (unsigned long long)(v[i] % 1000003), i % 8 == 7 ? '\n' : ' ');
		if (k < 0) return -1;
		len += (size_t)k;
	}
	return (int)len;
}
EOF
    cat >"$b/src/main.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "w.h"
#define N 20000
int main(void)
{
	static uint64_t v[N];
	static struct node pool[N], *t[4099];
	static char buf[1 << 20];
	for (size_t i = 0; i < N; i++) v[i] = mix(i * 31 + 7);
	sort_u64(v, N);
	printf("longest chain %zu\n", table_fill(t, 4099, pool, N));
	int len = fmt_all(buf, sizeof(buf), v, N);
	fwrite(buf, 1, (size_t)len, stdout);
	return 0;
}
EOF
}

ROWS_DONE=()
for arch in "${ARCHES[@]}"; do
    name=trixie-$arch-bench
    tar=$FIX/debian/$name.tar
    [[ -s $tar ]] || b_die "no $tar (tests/fixtures/debian-roots.sh $name)"
    R=$W/$name
    cpu=$(deb2cpu "$arch")
    qemu=$QDIR/qemu-$cpu
    [[ -x $qemu ]] || b_die "no $qemu (make BUILD=${BUILD#"$B_ROOT"/} qemu)"
    E=("$EMU" --qemu "$QDIR" --arch "$arch" --rootfs "$R")
    if [[ ! -f $R/.made || $R/.made -ot $tar ]]; then
        rm -rf "$R" && mkdir -p "$R"
        tar -C "$R" -xpf "$tar" --exclude='./dev/*'
        touch "$R/.made"
    fi
    write_scripts "$R"
    # The fixed input of gzip and xz: text and machine code, about 8 MB.
    if [[ ! -s $R/bench/in.dat ]]; then
        (
            set +o pipefail # head closes the pipe
            { seq 1 600000; cat "$R"/usr/lib/*-linux-gnu/libc.so.6 "$R"/usr/bin/perl "$R"/usr/lib/*-linux-gnu/libperl.so.5.* \
                "$R"/usr/lib/gcc/*-linux-gnu/14/cc1; } | head -c 8000000 >"$R/bench/in.dat"
        )
    fi
    # The packages of the apt workload, into the root's apt cache (network, once).
    if [[ ! -f $R/bench/apt.cached ]]; then
        b_log "cpu: $arch: apt-get update and download of $APT_PKGS into the root's cache"
        "${E[@]}" -- sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --download-only $APT_PKGS" >&2 ||
            b_die "cpu: $arch: could not download $APT_PKGS"
        touch "$R/bench/apt.cached"
    fi

    # The models this QEMU has (the name before the first comma, exactly).
    help=$("$qemu" -cpu help 2>&1 || true) # exit status 1 after the list (QEMU 10.0)
    models=()
    for m in ${MODELS[$arch]}; do
        if grep -qE "^[[:space:]]*${m%%,*}([[:space:]]|\$)" <<<"$help"; then
            models+=("$m")
        else
            b_log "cpu: $arch: $(basename "$qemu") has no CPU model ${m%%,*}: skipped"
            b_fact "cpu.missing.$arch.$m" "not listed by $(basename "$qemu") -cpu help"
        fi
    done
    b_fact "cpu.models.$arch" "${models[*]}"
    b_fact "cpu.qemu.$arch" "$("$qemu" -version | head -n1) (${qemu#"$B_ROOT"/})"

    features=$OUT/features-$arch.txt
    : >"$features"
    # What each model shows the guest: riscv64's /proc/cpuinfo isa line (QEMU emulates
    # that file), arm64's auxv HWCAPs and glibc's view of the CPU (ld.so --list-diagnostics).
    for m in "${models[@]}"; do
        {
            printf '## %s %s\n' "$arch" "$m"
            if [[ $arch == riscv64 ]]; then
                "${E[@]}" --cpu "$m" -- sh -c 'grep -E "^(isa|mmu|uarch)" /proc/cpuinfo | sort -u' 2>&1 || true
            else
                "${E[@]}" --cpu "$m" -- sh -c 'LD_SHOW_AUXV=1 /bin/true | grep HWCAP; /lib/ld-linux-aarch64.so.1 --list-diagnostics | grep -E "cpu_features|hwcap"' 2>&1 || true
            fi
        } >>"$features"
    done

    # QEMU's own default (no -cpu, no QEMU_CPU) against -cpu max, QEMU run directly
    # (emu-run's default may differ from QEMU's).
    show() {
        if [[ $arch == riscv64 ]]; then env -u QEMU_CPU "$qemu" "$@" -L "$R" "$R/usr/bin/cat" /proc/cpuinfo | grep -m1 '^isa'
        else env -u QEMU_CPU LD_SHOW_AUXV=1 "$qemu" "$@" -L "$R" "$R/usr/bin/true" | grep HWCAP; fi
    }
    if [[ $(show) == "$(show -cpu max)" && -n $(show) ]]; then
        b_fact "cpu.default.$arch" "same as -cpu max"
    else
        b_fact "cpu.default.$arch" "NOT the same as -cpu max"
    fi

    # Warm-up (not timed): each workload once under max, so that the first timed model
    # does not pay for cold caches alone.
    for wl in "${WORK[@]}"; do
        "${E[@]}" --cpu max -- sh -c ". /bench/$wl.sh" >/dev/null 2>&1 ||
            b_log "cpu: $arch $wl: the warm-up under max failed"
    done

    for wl in "${WORK[@]}"; do
        rows=()
        for m in "${models[@]}"; do
            # altbench splits LABEL=COMMAND at the first "=": none in labels.
            rows+=("$arch/$wl/${m//=/-}=$EMU --qemu $QDIR --arch $arch --rootfs $R --network none --cpu $m -- sh -c '. /bench/$wl.sh'")
        done
        for r in "${rows[@]}"; do b_cmd cpu "${r%%=*}" "${r#*=}"; done
        b_log "cpu: $arch $wl: ${#models[@]} models, $runs run(s) each (load $(b_load))"
        # -k: a model that fails is recorded (status column), not the end of the section.
        ab cpu -r "$runs" -w 0 -k -O "$OUT/out" "${rows[@]}" || true
        ROWS_DONE+=("$arch/$wl")
    done
done
b_fact cpu.load "$(cut -d' ' -f1-3 /proc/loadavg)"
b_fact cpu.apt "$APT_PKGS"
b_fact cpu.what "Debian trixie roots (mmdebstrap minbase + python3-minimal, perl, xz-utils, gcc, libc6-dev; tests/fixtures/debian-roots.sh); apt packages: $APT_PKGS; $runs alternated run(s) per row"

# The tables (markdown) and the compatibility list, from the samples and outputs.
fi # tables_only
cat "$OUT"/features-*.txt >"$RESULTS/cpu-features.txt" 2>/dev/null || true

# The tables (markdown) and the compatibility list, from the samples and outputs, for
# every arch of $RESULTS (facts cpu.models.ARCH).
python3 - "$RESULTS" "${WORK[*]}" <<'EOF'
import collections, hashlib, math, os, statistics, sys
res, work = sys.argv[1], sys.argv[2].split()
facts = {}
for line in open(os.path.join(res, "facts.tsv")):
    k, _, v = line.rstrip("\n").partition("\t")
    facts[k] = v
arches = [a for a in ("arm64", "riscv64") if facts.get("cpu.models." + a)]
wall = collections.defaultdict(list)
cput = collections.defaultdict(list)  # user + system ms (altbench's rusage of the run)
bad = collections.Counter()
for line in open(os.path.join(res, "samples.tsv")):
    c = line.rstrip("\n").split("\t")
    if c[0] != "cpu":
        continue
    wall[c[1]].append(float(c[3]))
    cput[c[1]].append(float(c[4]) + float(c[5]))
    if c[6] != "0":
        bad[c[1]] += 1
def digest(label):
    p = os.path.join(res, "cpu", "out", label.replace("/", "_") + ".out")
    try:
        return hashlib.sha256(open(p, "rb").read()).hexdigest()
    except OSError:
        return None
md, checks = [], []
GEO = {}
def gm(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None
for arch in arches:
    models = facts.get("cpu.models." + arch, "").split()
    if not models:
        continue
    md.append("**%s** (%s); cells: median wall s (× max's median), %s\n" % (
        arch, facts.get("cpu.qemu." + arch, "?"), "runs per cell: see the last row"))
    md.append("| workload | " + " | ".join("`%s`" % m for m in models) + " |")
    md.append("|---|" + "---|" * len(models))
    ratios = collections.defaultdict(list)
    cratios = collections.defaultdict(list)
    nruns = {}
    for wl in work:
        base = wall.get("%s/%s/max" % (arch, wl))
        bmed = statistics.median(base) if base else None
        ref = digest("%s/%s/max" % (arch, wl))
        cells = []
        for m in models:
            lab = "%s/%s/%s" % (arch, wl, m.replace("=", "-"))
            v = wall.get(lab)
            if not v:
                cells.append("not run")
                checks.append((arch, m, wl, "not run"))
                continue
            nruns[m] = len(v)
            x = statistics.median(v)
            note, status = "", "ok"
            if bad[lab]:
                note, status = " **FAILED %d/%d**" % (bad[lab], len(v)), "failed (non-zero exit in %d of %d runs)" % (bad[lab], len(v))
            elif m != "max" and (ref is None or digest(lab) != ref):
                note, status = " **DIFFERS**", "output differs from max's"
            checks.append((arch, m, wl, status))
            cb = cput.get("%s/%s/max" % (arch, wl))
            if cb and not bad[lab]:
                cratios[m].append(statistics.median(cput[lab]) / statistics.median(cb))
            if bmed and not bad[lab]:
                ratios[m].append(x / bmed)
                cells.append("%.2f (%.2f×)%s" % (x / 1000, x / bmed, note))
            else:
                cells.append("%.2f%s" % (x / 1000, note))
        md.append("| %s | %s |" % (wl, " | ".join(cells)))
    for m in models:
        GEO[(arch, m)] = ratios[m]
    md.append("| **geomean × max** | %s |" % " | ".join(
        ("**%.2f×**" % gm(ratios[m]) + ("" if len(ratios[m]) == len(work) else " (%d of %d)" % (len(ratios[m]), len(work))))
        if ratios[m] else "n/a" for m in models))
    md.append("| geomean × max, CPU time (user+sys) | %s |" % " | ".join(
        "%.2f×" % gm(cratios[m]) if cratios[m] else "n/a" for m in models))
    md.append("| runs | %s |" % " | ".join(str(nruns.get(m, 0)) for m in models))
    md.append("")
    failed = [(m, wl, s) for a, m, wl, s in checks if a == arch and s != "ok"]
    if failed:
        md.append("Compatibility (%s): %s.\n" % (arch, "; ".join("`%s` %s: %s" % x for x in failed)))
    else:
        md.append("Compatibility (%s): every model ran every workload, exit 0 in every run, output byte-identical "
                  "with max's (%d workloads × %d models).\n" % (arch, len(work), len(models)))

# What each model shows the guest (cpu-features.txt), and which models meet the known
# requirements of the images that could not be tested (arm64: Armv8.2 with LSE atomics
# for AL2023-style builds; riscv64: RVA23U64, V among its mandatory extensions).
feat, cur = collections.defaultdict(str), None
try:
    for line in open(os.path.join(res, "cpu-features.txt")):
        if line.startswith("## "):
            cur = tuple(line.split()[1:3])
        elif cur:
            feat[cur] += line
except OSError:
    pass
def hw(text, key):
    for l in text.splitlines():
        if l.startswith(key + ":"):
            v = l.split(":", 1)[1].split()
            try:
                return int(v[0], 16)
            except (ValueError, IndexError):
                return None
    return None
RVA23 = ["v", "zicond", "zimop", "zcmop", "zcb", "zfa", "zawrs", "zvbb", "zvkt", "zihintntl", "zicboz", "zfhmin",
         "zvfhmin", "zkt"]
meets = {}
for arch in arches:
    models = facts.get("cpu.models." + arch, "").split()
    lines = []
    for m in models:
        t = feat.get((arch, m), "")
        if arch == "arm64":
            h, h2 = hw(t, "AT_HWCAP"), hw(t, "AT_HWCAP2")
            if h is None:
                lines.append("`%s`: no auxv read" % m)
                continue
            names = [n for n, ok in (("LSE atomics", h >> 8 & 1), ("SVE", h >> 22 & 1), ("SVE2", (h2 or 0) >> 1 & 1),
                                     ("SME", (h2 or 0) >> 23 & 1), ("MOPS", (h2 or 0) >> 43 & 1)) if ok]
            meets[(arch, m)] = bool(h >> 8 & 1)
            gl = ", ".join("%s=%s" % (k, v) for k, v in (
                (l.split("=")[0].split(".")[-1], l.split("=")[1].replace("0x", "")) for l in t.splitlines()
                if l.startswith(("aarch64.cpu_features.mops=", "aarch64.cpu_features.prefer_sve_ifuncs="))))
            lines.append("`%s`: %s%s" % (m, ", ".join(names) or "none of LSE, SVE, SVE2, SME, MOPS",
                                          " (glibc: %s)" % gl if gl else ""))
        else:
            isa = next((l.split(":", 1)[1].strip() for l in t.splitlines() if l.startswith("isa")), None)
            if not isa:
                lines.append("`%s`: no isa line" % m)
                continue
            ext = isa.split("_")
            base = ext[0][4:] if ext[0].startswith("rv64") else ext[0]
            have = set(ext[1:]) | set(base)
            lack = [e for e in RVA23 if e not in have]
            meets[(arch, m)] = not lack
            lines.append("`%s`: %s + %d extensions, vector %s, %s" % (
                m, ext[0], len(ext) - 1, "yes" if "v" in have else "no",
                "every RVA23U64 extension checked" if not lack else "lacks %s of RVA23U64" % ", ".join(lack)))
    if lines:
        what = ("auxv HWCAP/HWCAP2 (`LD_SHOW_AUXV=1`), of the features glibc's string and memory routines choose "
                "by, and LSE" if arch == "arm64" else "the isa line of /proc/cpuinfo (QEMU emulates it)")
        md.append("What the models show the guest on %s (%s; in full: `cpu-features.txt`): %s.\n" % (
            arch, what, "; ".join(lines)))
# The pick: the fastest model (lowest geomean × max) that ran every workload correctly.
for arch in arches:
    models = facts.get("cpu.models." + arch, "").split()
    ok = [m for m in models if all(s == "ok" for a, mm, wl, s in checks if a == arch and mm == m)
          and len(GEO.get((arch, m), [])) == len(work)]
    if not ok:
        continue
    best = min(ok, key=lambda m: gm(GEO[(arch, m)]))
    text = ("**Pick for %s** by the rule \"the fastest model that runs every image in the test set\" (here: trixie only): "
            "`%s`, geomean %.2f× max's time." % (arch, best, gm(GEO[(arch, best)])))
    near = [m for m in ok if m != best and gm(GEO[(arch, m)]) < gm(GEO[(arch, best)]) * 1.05]
    if near:
        text += (" Within 5%% of it, which is within this machine's run-to-run noise: %s." % ", ".join(
            "`%s` %.2f×" % (m, gm(GEO[(arch, m)])) for m in near))
    req = [m for m in ok if meets.get((arch, m))]
    if req:
        b2 = min(req, key=lambda m: gm(GEO[(arch, m)]))
        text += (" Among the models that also meet the untested images' known requirement (%s): `%s`, %.2f×." % (
            "Armv8.2 with LSE atomics, AL2023-style builds" if arch == "arm64" else "every RVA23U64 extension checked, RVA23 images",
            b2, gm(GEO[(arch, b2)])))
    md.append(text + "\n")
open(os.path.join(res, "cpu.md"), "w").write("\n".join(md) + "\n")
with open(os.path.join(res, "cpu-checks.tsv"), "w") as fh:
    for c in checks:
        fh.write("\t".join(c) + "\n")
EOF
cat "$RESULTS/cpu.md" >&2

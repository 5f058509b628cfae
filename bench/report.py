#!/usr/bin/python3
"""Write docs/benchmarks.md and docs/bench-*.png from bench/run.sh's results.

    bench/report.py RESULTS_DIR DOCS_DIR

Every table is computed from the raw samples (RESULTS/samples.tsv: section, label,
round, wall ms, user ms, sys ms, exit status): median, min-max, ratios of medians.
Nothing here is typed in by hand except the explanations, which cite the numbers.
"""
import collections
import csv
import math
import os
import statistics
import subprocess
import sys

RES, DOCS = sys.argv[1], sys.argv[2]
# --only cpu: splice section 9 into the existing DOCS/benchmarks.md instead of writing
# the whole file (bench/run.sh cpu: its results hold only that section's numbers).
ONLY = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--only" else None
os.makedirs(DOCS, exist_ok=True)


def tsv(name, cols=None):
    p = os.path.join(RES, name)
    if not os.path.exists(p):
        return []
    with open(p, newline="") as f:
        return [r for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r]


samples = collections.defaultdict(lambda: collections.defaultdict(list))
# user + system CPU ms of each run, from wait4's rusage (the runner and everything it reaped)
cpu = collections.defaultdict(lambda: collections.defaultdict(list))
fails = collections.Counter()
order = collections.defaultdict(list)
for sec, label, rnd, wall, user, sys_, st in tsv("samples.tsv"):
    if label not in samples[sec]:
        order[sec].append(label)
    samples[sec][label].append(float(wall))
    cpu[sec][label].append(float(user) + float(sys_))
    if st != "0":
        fails[(sec, label)] += 1
facts = collections.OrderedDict((r[0], r[1]) for r in tsv("facts.tsv") if len(r) >= 2)
commands = collections.OrderedDict(((r[0], r[1]), r[2]) for r in tsv("commands.tsv") if len(r) >= 3)

# The default payload is build/qemu, whatever `make qemu` staged (bench/run.sh's facts):
# DEF_KIND "rebuilt" (Debian's 10.0 source rebuilt here without capstone, static) or
# "debian" (Debian's qemu-user binaries); DEF is the compared series holding the same files
# (qemu-10nopie or qemu-10). Results from before these facts existed had Debian's payload
# as the default.
DEF_KIND = facts.get("payload.default", "debian")
DEF = facts.get("payload.default.series") or ("qemu-10nopie" if DEF_KIND == "rebuilt" else "qemu-10")
PAYLOAD_NAMES = {
    "qemu-72": "Debian 12's 7.2",
    "qemu-10": "Debian's 10.0",
    "qemu-11": "Debian's 11.1 (pinned)",
    "qemu-10pie": "10.0 rebuilt, static-pie",
    "qemu-10nopie": "10.0 rebuilt, static",
    "qemu-def": "build/qemu",
}
DEF_DESC = ("%s: Debian's 10.0.x source rebuilt here without capstone, linked static (no PIE)" % DEF
            if DEF_KIND == "rebuilt" else "%s: Debian's qemu-user binaries (static-pie, with capstone)" % DEF)


def pname(label):
    """A payload label as a table shows it: 'qemu-10 (Debian's 10.0)', the default marked;
    the rest of a label ('qemu-10nopie cpu:cortex-a53') is kept."""
    base, _, rest = label.partition(" ")
    name = PAYLOAD_NAMES.get(base)
    if name is None:
        return label
    name += ", default" if base == DEF else ""
    return "%s (%s)%s" % (base, name, (" " + rest) if rest else "")


def med(sec, label):
    v = samples.get(sec, {}).get(label)
    return statistics.median(v) if v else None


def cpu_med(sec, label):
    v = cpu.get(sec, {}).get(label)
    return statistics.median(v) if v else None


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def rng(sec, label):
    v = samples[sec][label]
    return "%s-%s" % (f(min(v)), f(max(v)))


def f(x, d=None):
    if x is None:
        return "n/a"
    if d is None:
        d = 1 if abs(x) >= 10 else 2
    return "%.*f" % (d, x)


def n_runs(sec, label):
    return len(samples[sec][label])


out = []
w = out.append


def table(header, rows):
    w("| " + " | ".join(header) + " |")
    w("|" + "---|" * len(header))
    for r in rows:
        w("| " + " | ".join(str(c) for c in r) + " |")
    w("")


def fail_note(sec, label):
    return " (FAILED %d)" % fails[(sec, label)] if fails[(sec, label)] else ""


# --- charts (gnuplot) ----------------------------------------------------------------
charts = []


def bar_chart(name, title, ylabel, labels, series, names=None, log=False):
    """labels: x categories; series: list of value lists (one per bar group member)."""
    if not labels:
        return
    dat = os.path.join(RES, name + ".dat")
    with open(dat, "w") as fh:
        for i, lab in enumerate(labels):
            fh.write('"%s" %s\n' % (lab.replace('"', "'"), " ".join(
                "%.4f" % s[i] if s[i] is not None else "NaN" for s in series)))
    png = os.path.join(DOCS, "bench-%s.png" % name)
    plots = ", ".join(
        "'%s' using %d:xtic(1) title '%s'" % (dat, j + 2, (names[j] if names else "").replace("'", ""))
        for j in range(len(series)))
    script = """
set terminal png size 1000,%d font ",10" noenhanced
set output '%s'
set title '%s'
set ylabel '%s'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key top left
set xtics rotate by -35 scale 0
set yrange [0:*]
%s
plot %s
""" % (520, png, title.replace("'", ""), ylabel, "set logscale y\nset yrange [*:*]" if log else "", plots)
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True)
        charts.append(os.path.basename(png))
        return os.path.basename(png)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.stderr.write("report: gnuplot failed for %s: %s\n" % (name, getattr(e, "stderr", e)))
        return None


def img(name):
    p = "bench-%s.png" % name
    if p in charts:
        w("![%s](%s)\n" % (name, p))


# --- header --------------------------------------------------------------------------
w("# Benchmarks")
w("")
w("Generated by `make bench` (bench/run.sh → bench/report.py) on %s. Every number below is a median of "
  "alternated runs (the compared commands take turns: ABC BCA CAB ..., so they share the machine's noise), "
  "with min-max; ratios are ratios of medians. Raw samples: `%s/samples.tsv`. Re-run: `make bench` "
  "(`BENCH_QUICK=1 make bench` for a quick pass with fewer runs)." % (facts.get("date", "?"), facts.get("results", RES)))
w("")
w("## Machine and versions")
w("")
keys = [k for k in facts if k.startswith("machine.") or k.startswith("version.") or k.startswith("payload.")
        or k in ("mode", "load")]
table(["what", "value"], [(k, facts[k].replace("|", "/")) for k in keys])
w("**Default payload** (build/qemu, what `make qemu` staged; used by sections 1-4, the docker rows, and the "
  "CPU-model and start-up knob rows of section 5): %s. Debian's own 10.0 binaries are the `qemu-10` series."
  % DEF_DESC)
if facts.get("payload.default.series") == "qemu-def":
    w(" build/qemu's emulators are not byte-identical with any compared series, so the version tables show it "
      "only as `qemu-def`.")
w("")
if facts.get("quiet") == "no":
    w("**The machine was not quiet** during the final run (other engineers' builds, fuzzers and tests; "
      "load average at the start: %s, at the end: %s). Alternation keeps the comparisons fair, but absolute "
      "times are inflated and min-max ranges wide; the ratios are what to read.\n" % (
          facts.get("load.start", "?"), facts.get("load.end", "?")))
elif facts.get("quiet") == "yes":
    w("The machine was quiet when the run started (load average %s < 0.5 for a minute).\n" % facts.get("load.start", "?"))

goals = []

# --- 1. install ----------------------------------------------------------------------
w("## 1. Install every emulator into a fresh private instance")
w("")
w("Each sample is a new `unshare --user --map-root-user --mount` with a fresh binfmt_misc instance mounted on "
  "/proc/sys/fs/binfmt_misc; only the tool's own run is timed. Same targets, same register strings "
  "(binfmt's, exported as binfmt.d files and as update-binfmts formats); qemu-binfmt-conf.sh uses its own "
  "target table and the payload directory.")
w("")
ent = {r[0]: (r[1], r[2]) for r in tsv("install/entries.tsv")}
if "install" in samples:
    # binfmt's rows: `binfmt` (the default: probes, registers, then prints the status JSON,
    # probing again) and, when the binfmt measured has --quiet, `binfmt-quiet` (registers
    # only, as the peers do).
    own = [l for l in order["install"] if l == "binfmt" or l.startswith("binfmt-")]
    peers = [l for l in order["install"] if l not in own]
    base = med("install", "binfmt")
    fastest = min((med("install", l) for l in peers), default=None)
    fastest_peer = min(peers, key=lambda l: med("install", l)) if peers else None
    rows = []
    for l in order["install"]:
        m = med("install", l)
        rows.append(("`%s`%s" % (l, fail_note("install", l)), f(m), rng("install", l),
                     f(m / base, 2) if base else "", ent.get(l, ("?", "?"))[0], ent.get(l, ("?", "?"))[1],
                     n_runs("install", l)))
    table(["tool", "median ms", "min-max ms", "× binfmt", "entries", "with F", "runs"], rows)
    for l in order["install"]:
        if ("install", l) in commands:
            w("- `%s`: `%s`" % (l, commands[("install", l)]))
    w("")
    bar_chart("install", "Install all emulators into a fresh private instance (median ms)", "ms",
              order["install"], [[med("install", l) for l in order["install"]]])
    img("install")
    if "install.missing.binfmt-quiet" in facts:
        w("`binfmt-quiet` (`binfmt --install all --quiet`) not measured: %s.\n" % facts["install.missing.binfmt-quiet"])
    q = med("install", "binfmt-quiet")
    if q is not None and base:
        w("`binfmt-quiet` registers and stops: no status JSON, so no probes after installing. It does the work the "
          "peers do and takes %s ms, %s ms less than the default `binfmt` (%s ms), whose status JSON runs the "
          "detection again.\n" % (f(q), f(base - q), f(base)))
    # The goal compares like with like: binfmt's fastest row that does what the peers do
    # (register only: binfmt-quiet when measured), the default row shown beside it.
    same = "binfmt-quiet" if q is not None else "binfmt"
    mine = med("install", same)
    if mine and fastest:
        ok = mine <= fastest
        why = ("`binfmt-quiet`, which registers only, like the peers; the default `binfmt` also prints the status "
               "JSON (probes again): %s ms" % f(base)) if same == "binfmt-quiet" else (
            "`binfmt`, the default with its status JSON (this binfmt has no --quiet, so no row registers only)")
        goals.append(("install-all no slower than the fastest peer",
                      "%s ms vs %s ms (`%s`); binfmt's row: %s" % (f(mine), f(fastest), fastest_peer, why),
                      "met" if ok else "missed by %s ms (%.0f%%)" % (f(mine - fastest), (mine / fastest - 1) * 100)))
    if "install.binfmt.breakdown" in facts:
        w(facts["install.binfmt.breakdown"] + "\n")

# --- 2. detection --------------------------------------------------------------------
w("## 2. Detection of every platform")
w("")
if "detect" in samples:
    p, s = med("detect", "parallel"), med("detect", "sequential")
    table(["mode", "median ms", "min-max ms", "runs"],
          [("parallel (binfmt's default)", f(p), rng("detect", "parallel"), n_runs("detect", "parallel")),
           ("sequential", f(s), rng("detect", "sequential"), n_runs("detect", "sequential"))])
    w("parallel/sequential = %s. %s" % (f(p / s, 2), facts.get("detect.what", "")))
    w("")
    goals.append(("detection ≤ 50 ms", "%s ms (parallel)" % f(p), "met" if p <= 50 else "missed by %s ms" % f(p - 50)))

# --- 3. startup ----------------------------------------------------------------------
w("## 3. Start-up: `true` in an arm64 rootfs")
w("")
if "startup" in samples:
    w("Every row uses the default payload (%s)." % DEF)
    w("")
    bare = med("startup", "bare-qemu")
    rows = []
    for l in order["startup"]:
        m = med("startup", l)
        rows.append(("`%s`%s" % (l, fail_note("startup", l)), f(m), rng("startup", l),
                     ("%+.1f" % (m - bare)) if bare else "", f(m / bare, 2) if bare else "", n_runs("startup", l)))
    table(["runner", "median ms", "min-max ms", "Δ bare QEMU ms", "× bare QEMU", "runs"], rows)
    for l in order["startup"]:
        if ("startup", l) in commands:
            w("- `%s`: `%s`" % (l, commands[("startup", l)]))
    w("")
    for k in ["startup.emu-run", "startup.docker"] + [k for k in facts if k.startswith("startup.docker-")]:
        if k in facts:
            w("- %s: %s" % (k.split(".", 1)[1], facts[k]))
    w("")
    bar_chart("startup", "Start-up of true in an arm64 rootfs (median ms)", "ms", order["startup"],
              [[med("startup", l) for l in order["startup"]]])
    img("startup")
    ns = med("startup", "nsenter-native")
    ch = med("startup", "chroot+binfmt")
    if ns is not None and ch is not None:
        w("chroot+binfmt is entered with `nsenter --user` (%s ms for a native /bin/true the same way), so the "
          "host-style chroot path itself costs about %s ms, %+.2f ms against bare QEMU: binfmt_misc "
          "dispatch plus the kernel's second exec (the F entry's interpreter), within this run's noise when "
          "negative.\n" % (f(ns), f(ch - ns), ch - ns - bare))
    dr, dn = med("startup", "docker-run"), med("startup", "docker-native")
    nat = med("startup", "native")
    if dr is not None and dn is not None:
        w("docker-native runs the host's busybox `true` in a container, so docker-native − native (%s ms) is what the "
          "container costs without emulation, and docker-run − docker-native (%s ms) is the emulated start inside it "
          "(compare chroot+binfmt − nsenter-native above)." % (f(dn - nat) if nat is not None else "n/a", f(dr - dn)))
        e = med("startup", "emu-run")
        if e is not None:
            w("docker-run takes %s ms more than emu-run (%s× its time)." % (f(dr - e), f(dr / e, 1)))
        w("")
    e = med("startup", "emu-run")
    if e is not None and bare:
        goals.append(("emu-run start-up ≤ bare QEMU + 5 ms", "%s ms vs %s ms (%+.1f ms)" % (f(e), f(bare), e - bare),
                      "met" if e <= bare + 5 else "missed by %s ms" % f(e - bare - 5)))
    else:
        goals.append(("emu-run start-up ≤ bare QEMU + 5 ms", "emu-run not available", "pending"))

# --- 4. workloads --------------------------------------------------------------------
w("## 4. RUN-like workloads (default payload, %s)" % DEF)
w("")
w("Workloads (bench/rootfs.sh): `loop` = shell loop of %s iterations (builtins only), `sha` = busybox sha256sum of "
  "64 MiB, `forkexec` = 300 fork+exec of a foreign child (`\"$BB\" true`), `targz` = busybox tar | gzip -6 | "
  "sha256sum of 2000 files. Native stand-in: the host's busybox-static (%s) running the same scripts. "
  "Throughput = bare QEMU's median / the runner's median. Every emulated runner uses the default payload "
  "(build/qemu, %s), so each row's time compares with the %s column of section 5." % (
      facts.get("work.loop_n", "?"), facts.get("version.busybox-native", "?"), DEF_DESC, DEF))
w("")
if "work" in samples:
    groups = collections.OrderedDict()
    for l in order["work"]:
        a, wl, r = l.split("/", 2)
        groups.setdefault((a, wl), []).append(r)
    rows = []
    chart_labels, chart_series = [], collections.OrderedDict()
    worst_emu, worst_proot = None, None
    emu_wall, emu_cpu = [], []
    for (a, wl), runners in groups.items():
        bare = med("work", "%s/%s/bare-qemu" % (a, wl))
        bare_cpu = cpu_med("work", "%s/%s/bare-qemu" % (a, wl))
        for r in runners:
            l = "%s/%s/%s" % (a, wl, r)
            m = med("work", l)
            # docker run's rusage is the client's only: the container runs under containerd
            c = cpu_med("work", l) if r != "docker-run" else None
            rows.append((a, wl, "`%s`%s" % (r, fail_note("work", l)), f(m / 1000, 3), "%s-%s" % (
                f(min(samples["work"][l]) / 1000, 3), f(max(samples["work"][l]) / 1000, 3)),
                f(bare / m, 3) if bare else "", f(c / 1000, 3) if c else "n/a",
                f(bare_cpu / c, 3) if c and bare_cpu else "n/a", n_runs("work", l)))
        chart_labels.append("%s %s" % (a, wl))
        for r in runners:
            chart_series.setdefault(r, []).append(med("work", "%s/%s/%s" % (a, wl, r)) / bare if bare else None)
        e = med("work", "%s/%s/emu-run" % (a, wl))
        if e and bare:
            t = bare / e
            worst_emu = min(worst_emu, (t, a, wl)) if worst_emu else (t, a, wl)
            emu_wall.append(t)
            ec = cpu_med("work", "%s/%s/emu-run" % (a, wl))
            if ec and bare_cpu:
                emu_cpu.append(bare_cpu / ec)
        if wl == "forkexec":
            pq = med("work", "%s/%s/proot-q" % (a, wl))
            ref = e if e else med("work", "%s/%s/chroot+binfmt" % (a, wl))
            if pq and ref:
                sp = pq / ref
                worst_proot = min(worst_proot, (sp, a, "emu-run" if e else "chroot+binfmt")) if worst_proot else (sp, a, "emu-run" if e else "chroot+binfmt")
    table(["arch", "workload", "runner", "median s", "min-max s", "throughput × bare QEMU", "CPU s (user+sys)",
           "CPU efficiency × bare QEMU", "runs"], rows)
    if emu_wall:
        facts["_emu_geo_wall"] = geomean(emu_wall)
        facts["_emu_geo_cpu"] = geomean(emu_cpu)
        w("emu-run against bare QEMU over all %d workloads: geometric mean of the throughput ratios %s (wall "
          "time), %s by CPU time (bare QEMU's CPU seconds / emu-run's, from rusage; on this VM CPU time "
          "follows wall time closely: the noise is in how fast the CPU runs, not in waiting).\n" % (
              len(emu_wall), f(facts["_emu_geo_wall"], 3), f(facts["_emu_geo_cpu"], 3) if emu_cpu else "n/a"))
    bar_chart("workloads", "Workload time relative to bare QEMU (lower is faster)", "time / bare QEMU",
              chart_labels, list(chart_series.values()), names=list(chart_series.keys()), log=True)
    img("workloads")
    w("Commands (arm64 loop shown; the others differ only in arch and script):")
    w("")
    for (sec, l), c in commands.items():
        if sec == "work" and l.startswith("arm64/loop/"):
            w("- `%s`: `%s`" % (l.split("/", 2)[2], c))
    w("")
    for k in ["work.docker"] + [k for k in facts if k.startswith("work.docker-")]:
        if k in facts:
            w("- %s: %s" % (k.split(".", 1)[1], facts[k]))
    w("")
    if worst_emu:
        gw, gc = facts.get("_emu_geo_wall"), facts.get("_emu_geo_cpu")
        if "overhead" in samples:
            # the dedicated emu-run / bare QEMU pairs decide: many more runs than the work table
            ratios = []
            orows = []
            for l in order["overhead"]:
                a, wl, r = l.split("/", 2)
                if r != "emu-run":
                    continue
                e, b = med("overhead", l), med("overhead", "%s/%s/bare-qemu" % (a, wl))
                ec, bc = cpu_med("overhead", l), cpu_med("overhead", "%s/%s/bare-qemu" % (a, wl))
                if e and b:
                    ratios.append((b / e, bc / ec if ec and bc else None, a, wl))
                    orows.append((a, wl, f(e / 1000, 3), f(b / 1000, 3), f(b / e, 3), f(bc / ec, 3) if ec and bc else "n/a",
                                  n_runs("overhead", l)))
            if ratios:
                w("### emu-run against bare QEMU, alternated pairs only\n")
                w("The table above has five runners in each round, so each gets few runs. The same workloads with only "
                  "emu-run and bare QEMU taking turns (bench/workloads.sh part `overhead`):\n")
                table(["arch", "workload", "emu-run median s", "bare QEMU median s", "throughput × bare QEMU",
                       "CPU efficiency × bare QEMU", "pairs"], orows)
                worst_emu = min((t, a, wl) for t, _, a, wl in ratios)
                gw = geomean([t for t, _, _, _ in ratios])
                gc = geomean([c for _, c, _, _ in ratios if c])
                w("Geometric mean over the %d workloads: %s (wall), %s (CPU).\n" % (len(ratios), f(gw, 3), f(gc, 3) if gc else "n/a"))
                facts["_ovh"] = {"n": len(ratios), "pairs": n_runs("overhead", "%s/%s/emu-run" % (ratios[0][2], ratios[0][3])),
                                 "geo_wall": gw, "geo_cpu": gc, "worst": worst_emu,
                                 "best": max((t, a, wl) for t, _, a, wl in ratios)}
        goals.append(("workloads ≥ 0.98 of bare QEMU's throughput (emu-run)",
                      "worst: %s on %s %s; geomean %s (wall), %s (CPU)" % (
                          f(worst_emu[0], 3), worst_emu[1], worst_emu[2], f(gw, 3), f(gc, 3) if gc else "n/a"),
                      "met" if worst_emu[0] >= 0.98 else
                      "missed by %.1f%% on the worst workload (wall)%s" % (
                          (0.98 - worst_emu[0]) * 100,
                          "; met on the geomean and by CPU time" if gw and gw >= 0.98 and gc and gc >= 0.98 else "")))
    else:
        goals.append(("workloads ≥ 0.98 of bare QEMU's throughput (emu-run)", "emu-run not available", "pending"))
    if worst_proot:
        goals.append(("≥ 3× faster than proot -q on fork/exec", "worst: %s× (%s, %s)" % (f(worst_proot[0], 2), worst_proot[1], worst_proot[2]),
                      "met" if worst_proot[0] >= 3 else "missed: %s× instead of 3×" % f(worst_proot[0], 2)))

# --- 5. versions ---------------------------------------------------------------------
w("## 5. Emulator choice: QEMU 7.2 vs 10.0 vs 11.x")
w("")
pf = {r[0]: r for r in tsv("execcost/payload-facts.tsv")}
if pf:
    table(["payload", "QEMU", "linked", "relative relocations", ".data.rel.ro bytes", "qemu-aarch64 bytes",
           "page faults / start", "task-clock ms / start"],
          [(pname("qemu-%s" % v), r[1], r[2], r[3], r[4], r[5], r[6].split()[0] if r[6] else "", r[6].split()[1] if len(r[6].split()) > 1 else "")
           for v, r in pf.items()])
    w("qemu-10: Debian trixie's qemu-user binaries as the manifest pins them (`qemu-static/stage.sh --payload "
      "debian`). qemu-10nopie / qemu-10pie: the same version's Debian source with Debian's patches, rebuilt here by "
      "`qemu-static/build.sh` (bookworm's gcc 12, configured as debian/rules does for the user build, without "
      "capstone, no debug info): qemu-10nopie is the rebuilt payload (`make qemu` with QEMU_PAYLOAD=rebuilt), linked "
      "`-static -no-pie`; qemu-10pie is the static-pie link of the same objects (`bench/qemu-build.sh`, i.e. "
      "build.sh --keep-pie). The default payload this run: %s. Page faults and task-clock from `perf stat -r 20` of "
      "the arm64 probe (hardware counters are not available in this VM).\n" % DEF)
if "version" in samples:
    groups = collections.OrderedDict()
    for l in order["version"]:
        a, wl, v = l.split("/", 2)
        groups.setdefault((a, wl), []).append(v)
    vers = []
    for g in groups.values():
        for v in g:
            if v not in vers:
                vers.append(v)
    rows = []
    geo = collections.defaultdict(list)
    geo_arch = collections.defaultdict(list)
    for (a, wl), vs in groups.items():
        b72 = med("version", "%s/%s/qemu-72" % (a, wl))
        b10 = med("version", "%s/%s/qemu-10" % (a, wl))
        cells = []
        for v in vers:
            m = med("version", "%s/%s/%s" % (a, wl, v))
            if m is None:
                cells.append("")
                continue
            cells.append("%s s (%s× 7.2)" % (f(m / 1000, 3), f(m / b72, 2)) if b72 else f(m / 1000, 3))
            if b72:
                geo[v].append(m / b72)
                geo_arch[(a, v)].append(m / b72)
        rows.append([a, wl] + cells)
    rows.append(["", "**geomean × 7.2**"] + ["**%s**" % f(math.exp(statistics.mean(math.log(x) for x in geo[v])), 3) if geo[v] else "" for v in vers])
    table(["arch", "workload"] + [pname(v) for v in vers], rows)
    w("Each cell: chroot+binfmt in a private instance registering that payload (`%s`), alternated across "
      "payloads; × 7.2 = the ratio of medians to Debian 12's QEMU 7.2 (lower is faster). qemu-10 is Debian "
      "trixie's own 10.0 binaries; the default payload is the %s column, and the `cpu:` columns are the default "
      "payload with `QEMU_CPU` set (its default CPU model is `max`)." % (
          commands.get(("version", next(iter(order["version"]), "")), ""), DEF))
    w("")
    chart_labels = ["%s %s" % k for k in groups]
    series = []
    for v in vers:
        series.append([(med("version", "%s/%s/%s" % (a, wl, v)) or float("nan")) / (med("version", "%s/%s/qemu-72" % (a, wl)) or float("nan")) for (a, wl) in groups])
    bar_chart("versions", "Workload time relative to QEMU 7.2 (lower is faster)", "time / QEMU 7.2",
              chart_labels, series, names=[pname(v) for v in vers])
    img("versions")
    facts["_geo"] = {v: math.exp(statistics.mean(math.log(x) for x in geo[v])) for v in vers if geo[v]}
    facts["_geo_arch"] = {k: math.exp(statistics.mean(math.log(x) for x in xs)) for k, xs in geo_arch.items()}
if "debian" in samples:
    w("Debian root (%s):" % facts.get("debian.root", "arm64"))
    w("")
    rows = []
    for l in order["debian"]:
        rows.append(("`%s`%s" % (l, fail_note("debian", l)), f(med("debian", l)), rng("debian", l), n_runs("debian", l)))
    table(["command / payload", "median ms", "min-max ms", "runs"], rows)
elif "debian.skipped" in facts:
    w("Debian root: skipped (%s).\n" % facts["debian.skipped"])
corr = tsv("correctness.tsv")
if corr:
    bad = [r for r in corr if r[4] != "ok"]
    w("**Correctness sweep**: %d checks, %d mismatches. Every workload's output under every runner and payload "
      "is compared with the native stand-in's; the Debian root's `dpkg --version` must run and `ldconfig` must "
      "write the same ld.so.cache under every payload." % (len(corr), len(bad)))
    w("")
    seen = collections.OrderedDict()
    for a, wl, r, o, ok in corr:
        seen.setdefault((a, wl), []).append((r, o, ok))
    rows = []
    for (a, wl), rs in seen.items():
        outs = collections.Counter(o for _, o, _ in rs)
        rows.append((a, wl, "`%s`" % outs.most_common(1)[0][0].strip()[:90], len(rs),
                     ", ".join("%s: `%s`" % (r, o.strip()[:60]) for r, o, ok in rs if ok != "ok") or "none"))
    table(["arch", "check", "output (all runners)", "runs compared", "mismatches"], rows)

# start-up gap
if "gap" in samples:
    w("### The start-up gap: what it is and what recovers it")
    w("")
    rows = []
    base = None
    for l in order["gap"]:
        m = med("gap", l)
        d = med("gap", l.split(" ")[0])
        rows.append(("`%s`%s" % (l, fail_note("gap", l)), f(m), rng("gap", l), ("%+.2f" % (m - d)) if d else "", n_runs("gap", l)))
    table(["payload / knob (direct start of the arm64/riscv64 probe)", "median ms", "min-max ms", "Δ vs that payload's default", "runs"], rows)
ph = tsv("execcost/phases.tsv")
if ph:
    by = collections.defaultdict(list)
    for r in ph:
        by[r[0]].append([float(x) for x in r[1:]])
    rows = []
    for v, lst in by.items():
        cols = list(zip(*lst))
        meds = [statistics.median(c) for c in cols]
        rows.append([pname("qemu-%s" % v)] + [f(m, 2) for m in meds] + [f(sum(meds), 2), len(lst)])
        facts.setdefault("_phases", {})["qemu-%s" % v] = meds
    w("Phases of one start under `strace -ttt` (medians; strace slows every system call, so the syscall-heavy "
      "phases are inflated; compare payloads column by column):")
    w("")
    table(["payload", "exec: execve→1st syscall (kernel load, static-pie relocation, libc)", "init: →open guest (constructors, QOM, options)",
           "cpu+tcg: →guest layout (TCG buffer, CPU realize)", "load+signals: guest ELF, 64 handlers", "guest: →exit_group", "sum ms", "runs"], rows)

# --- 6. exec cost --------------------------------------------------------------------
w("## 6. Foreign exec cost")
w("")
if "exec" in samples:
    nat = med("exec", "native-exit")
    rows = []
    chart_l, chart_v, chart_d = [], [], []
    default_cost = None
    for l in order["exec"]:
        if "/binfmt/" not in l:
            continue
        a, _, v = l.split("/")
        m = med("exec", l)
        d = med("exec", "%s/direct/%s" % (a, v))
        rows.append((a, pname(v), f(m), rng("exec", l), f(d), f(m - nat), f(m - d) if d else "", f(d - nat) if d else ""))
        chart_l.append("%s %s" % (a, v))
        chart_v.append(m - nat)
        chart_d.append(d - nat if d else None)
        if v == DEF and a == "arm64":
            default_cost = m - nat
    w("A foreign exec is timed from posix_spawn to reaping a probe whose first instruction is exit (binfmt's "
      "own probe ELF), inside a private instance that maps a file extension per payload; native = a static "
      "x86-64 exit(0) ELF the same way (%s ms)." % f(nat))
    w("")
    table(["arch", "payload", "foreign exec median ms", "min-max ms", "direct `qemu probe` ms",
           "exec cost (foreign - native) ms", "binfmt_misc share (foreign - direct) ms", "QEMU start (direct - native) ms"], rows)
    bar_chart("exec", "Foreign exec cost: execve to first guest instruction + exit (ms)", "ms", chart_l,
              [chart_v, chart_d], names=["through binfmt_misc", "QEMU started directly"])
    img("exec")
    if default_cost is not None:
        goals.append(("a foreign exec ≤ 15 ms (default payload)", "%s ms (arm64, %s)" % (f(default_cost), DEF),
                      "met" if default_cost <= 15 else "missed by %s ms" % f(default_cost - 15)))

# --- 7. size -------------------------------------------------------------------------
w("## 7. Installer image size vs the payload")
w("")
tot = tsv("size/totals.tsv")
# Rows by key (bench/size.sh writes one in the first column; older results had none:
# their labels are mapped, the default payload then being Debian's binaries).
SIZES = {}
if tot:
    hdr, rows = tot[0], tot[1:]
    if hdr[0] == "key":
        hdr, keyed = hdr[1:], [(r[0], r[1:]) for r in rows]
    else:
        old = [("qemu-10 (default", "default"), ("qemu-72", "72"), ("qemu-11", "11"), ("qemu-10, the 7", "common7"),
               ("qemu-10 aarch64 as Debian", "aarch64.debian"), ("qemu-10 aarch64 rebuilt without capstone, static-pie", "aarch64.pie"),
               ("qemu-10 aarch64 rebuilt without capstone, static (no PIE)", "aarch64.nopie")]
        keyed = [(next((k for p, k in old if r[0].startswith(p)), r[0]), r) for r in rows]
    for k, r in keyed:
        SIZES[k] = dict(zip(hdr, r))
    if "debian" not in SIZES and DEF_KIND == "debian" and "default" in SIZES:
        SIZES["debian"] = SIZES["default"]
    mb = lambda x: "%.1f MB" % (int(x) / 1e6) if x.isdigit() else x
    table(hdr, [(r[0], r[1]) + tuple(mb(x) for x in r[2:]) for _, r in keyed])
per = tsv("size/per-emulator.tsv")
if per:
    w("Largest emulators of the default payload (%s): " % DEF + ", ".join("%s %.1f MB" % (n, int(s) / 1e6) for n, s in per[:6]) +
      "; smallest: " + ", ".join("%s %.1f MB" % (n, int(s) / 1e6) for n, s in per[-3:]) +
      "; %d files, %.1f MB in all.\n" % (len(per), sum(int(s) for _, s in per) / 1e6))
imgs = tsv("size/images.tsv")
if imgs:
    table(["image", "size"], imgs)
else:
    w("No installer image was found (`buildah images` / docker): `make image` had not produced one when this ran.\n")

# --- 8. compile ---------------------------------------------------------------------
w("## 8. A real compile: Lua 5.4 in a trixie arm64 root (issue 15)")
w("")
if facts.get("compile.what"):
    w("%s. `emu-run (accel auto)` runs the root's cc1 and as as Debian's cross tools of the same version "
      "(`--accel-root`, emu-run(1) COMPILE ACCELERATION); its objects and executables are byte-identical to "
      "`--accel off`'s (tests/integration/80-emu-run-accel.sh). Commands: `%s/commands.tsv`.\n"
      % (facts["compile.what"], facts.get("results", RES)))
    if facts.get("compile.docker"):
        w("docker run --platform: %s.\n" % facts["compile.docker"])
    try:
        with open(os.path.join(RES, "compile.md")) as f:
            w(f.read())
    except OSError:
        w("No table: bench/compile.sh did not finish.\n")
else:
    w("Not measured in this run (`bench/run.sh compile`).\n")

# --- 9. CPU models ------------------------------------------------------------------
w("## 9. CPU models on trixie roots (issue 18)")
w("")
if facts.get("cpu.what"):
    w("RUN-like steps, `emu-run --arch ARCH --rootfs ROOT --network none --cpu MODEL -- sh -c '. /bench/WORK.sh'`, in %s "
      "(bench/cpumodels.sh, %s; load average %s at the run's start, %s at the section's end: other builds and "
      "tests ran on this 2-core machine throughout). QEMU's linux-user default CPU is `max` on both "
      "targets (checked: QEMU without -cpu shows the guest exactly max's HWCAPs on arm64: %s; max's isa line "
      "on riscv64: %s), so `max` is the baseline: each cell is the median wall time and its ratio to max's median "
      "(< 1: faster than max); the last rows are the geomean of those ratios over the workloads and the run "
      "count. The models of one workload alternate (altbench). Workloads: `python` = `python3 -c pass` ×10 "
      "and one json+hashlib line; `apt` = `apt-get install -y --no-download` of %s from the root's apt cache "
      "(downloaded at set-up; their maintainer scripts run update-alternatives) and "
      "`apt-get purge --autoremove` again; `perl` = a perl hash/sprintf/sort/regex loop, a dash loop and "
      "`find | sort | xargs cat | md5sum` over perl's and python's modules; `gzip` = gzip -6 of an 8 MB fixed "
      "input and back; `xz` = xz -6 -T1 of its first 3 MB and back; `compile` = gcc -O2 -c of four C files, "
      "link, run. Commands: `%s/commands.tsv`; outputs: `%s/cpu/out/`.\n"
      % (facts["cpu.what"], facts.get("date", "?"), facts.get("load.start", "?"), facts.get("cpu.load", "?"),
         facts.get("cpu.default.arm64", "not checked"), facts.get("cpu.default.riscv64", "not checked"),
         facts.get("cpu.apt", "the packages of bench/cpumodels.sh"), facts.get("results", RES), facts.get("results", RES)))
    w("**Compatibility check**: a model passes a workload when every run exits 0 and its output (the first "
      "timed run's stdout: checksums of the compressed and decompressed data, of the compiled objects and the "
      "program's output, dpkg-query's view after install and after purge...) is byte-identical with max's. "
      "Code generation does not depend on the CPU that runs the compiler, so gcc's objects must match too.\n")
    missing = ["`%s` on %s (%s)" % (k.split(".", 3)[3], k.split(".")[2], v) for k, v in facts.items()
               if k.startswith("cpu.missing.")]
    if missing:
        w("Not measured, not in this QEMU: %s.\n" % ", ".join(missing))
    try:
        with open(os.path.join(RES, "cpu.md")) as fh:
            w(fh.read())
    except OSError:
        w("No table: bench/cpumodels.sh did not finish.\n")
    q = facts.get("cpu.qemu.arm64", "")
    if q and not q.endswith("/qemu/qemu-aarch64)"):
        w("**Payload**: this run measured %s (BENCH_CPU_QEMU), not the default payload staged by `make qemu`: the "
          "same QEMU version's target code and CPU models, but not the same build (see section 5 for how the "
          "builds differ at start-up).\n" % q.rsplit(" (", 1)[-1].rstrip(")"))
    w("`rv64` is QEMU's generic RV64 CPU (RV64GCH with B and some Z* extensions); in this QEMU it has no V "
      "(its isa line above has no `v`), so it is also the `rv64,v=false` case, and `rv64,v=true` is the same CPU "
      "with the vector extension. The load average was %s at the section's end: on this 2-core machine shared "
      "with other builds, a difference of 10-15%% between two models on one workload can be run-to-run noise "
      "(each row's min-max is in `samples.tsv`; the CPU-time row, user+sys from each run's rusage, is a second "
      "view of the same runs).\n" % facts.get("cpu.load", "?"))
    if facts.get("cpu.images"):
        w(facts["cpu.images"] + "\n")
    w("What is known about their CPU requirements (not measured here): Amazon Linux 2023's arm64 packages are "
      "built for Armv8.2-A (Graviton 2 and later), with LSE atomics inlined, so an Armv8.0 model without LSE "
      "such as `cortex-a53` is expected to stop them with SIGILL; `neoverse-n1` and `cortex-a76` are Armv8.2 "
      "with LSE. Ubuntu noble's arm64 baseline is Armv8.0, as Debian's. RVA23 images such as Ubuntu 25.10 "
      "riscv64 are built for the RVA23U64 profile, which makes V (vector) mandatory along with Zicond, Zimop, "
      "Zcb, Zfa, Zvbb and others: `rv64` without V cannot run them, and `rv64,v=true` only if it also has the "
      "rest (the feature lines above say what each model has); `max` and `rva23u64` can. The pick line above "
      "applies the rule to the trixie test set and, separately, to the models that meet these requirements.\n")
else:
    w("Not measured in this run (`bench/run.sh cpu`).\n")

# --- goals ---------------------------------------------------------------------------
w("## Goals (issue 6)")
w("")
table(["goal", "measured", "verdict"], goals)

with open(os.path.join(RES, "report-body.md"), "w") as fh:
    fh.write("\n".join(out) + "\n")
# The analysis (bench/analysis.md) goes last: its {{expr}} placeholders are Python
# expressions over the results (med(section, label), f(x), d(a, b) = med a - med b...),
# so the text always cites this run's numbers; n/a when a number is missing.
ana = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
text = "\n".join(out) + "\n"
if os.path.exists(ana):
    import re

    def d(a, b):
        x, y = med(*a), med(*b)
        return None if x is None or y is None else x - y

    def r(a, b):
        x, y = med(*a), med(*b)
        return None if x is None or not y else x / y

    def checks(runner):
        """(checks, mismatches) of a runner in the correctness sweep, e.g. checks("docker-run")."""
        rows = [c for c in tsv("correctness.tsv") if len(c) >= 5 and c[2] == runner]
        return len(rows), sum(1 for c in rows if c[4] != "ok")

    def size(key, col="raw"):
        """Bytes of a section 7 row (size("default", "xz -6")), None when not measured."""
        v = SIZES.get(key, {}).get(col, "")
        return float(v) if v.isdigit() else None

    def mb(key, col="raw"):
        """The same in MB, as text."""
        v = size(key, col)
        return None if v is None else "%.1f MB" % (v / 1e6)

    PF_FIELDS = {"qemu": 1, "linked": 2, "relocs": 3, "relro": 4, "bytes": 5}

    def pfv(v, field):
        """A section 5 payload fact of series v ("qemu-10"): qemu linked relocs relro bytes
        (text or int), faults, task (perf stat means)."""
        row = pf.get(v[len("qemu-"):] if v.startswith("qemu-") else v) if "pf" in globals() else None
        if not row:
            return None
        if field in ("faults", "task"):
            parts = row[6].split() if len(row) > 6 else []
            i = 0 if field == "faults" else 1
            return float(parts[i]) if len(parts) > i else None
        x = row[PF_FIELDS[field]]
        return int(x) if x.isdigit() else x

    def phase(v, i):
        """Median ms of strace phase i (0 exec, 1 init, 2 cpu+tcg, 3 load+signals, 4 guest) of series v."""
        m = facts.get("_phases", {}).get(v)
        return m[i] if m and len(m) > i else None

    def pchecks(v):
        """(checks, mismatches) of series v ("qemu-10nopie") in the correctness sweep: its
        chroot+binfmt workloads and the Debian root."""
        names = ("chroot+binfmt/" + v, "chroot/" + v[len("qemu-"):])
        rows = [c for c in tsv("correctness.tsv") if len(c) >= 5 and c[2] in names]
        return len(rows), sum(1 for c in rows if c[4] != "ok")

    def geo(v, arch=None):
        """Geomean × 7.2 of a version-table column (all workloads, or one arch's)."""
        return facts.get("_geo", {}).get(v) if arch is None else facts.get("_geo_arch", {}).get((arch, v))

    env = {"med": med, "f": f, "d": d, "r": r, "facts": facts, "pf": pf if "pf" in globals() else {},
           "samples": samples, "checks": checks, "DEF": DEF, "DEF_KIND": DEF_KIND, "DEF_DESC": DEF_DESC,
           "pname": pname, "size": size, "mb": mb, "geo": geo, "ent": ent if "ent" in globals() else {},
           "pfv": pfv, "phase": phase, "pchecks": pchecks, "images": tsv("size/images.tsv")}

    def sub(m):
        try:
            v = eval(m.group(1), env)
        except Exception as e:  # a missing section: say so instead of failing
            return "n/a"
        if v is None:
            return "n/a"
        return f(v) if isinstance(v, float) else str(v)

    with open(ana) as fh:
        text += "\n" + re.sub(r"\{\{(.+?)\}\}", sub, fh.read())
if ONLY == "cpu":
    import re

    def part(doc, head):
        """(start, end) of the '## HEAD...' section of doc, up to the next '## ' heading."""
        m = re.search(r"^## %s.*$" % re.escape(head), doc, re.M)
        if not m:
            return None
        n = re.search(r"^## ", doc[m.end():], re.M)
        return m.start(), (m.end() + n.start()) if n else len(doc)

    new = part(text, "9. ")
    path = os.path.join(DOCS, "benchmarks.md")
    with open(path) as fh:
        doc = fh.read()
    old = part(doc, "9. ")
    chunk = text[new[0]:new[1]]
    if old:
        doc = doc[:old[0]] + chunk + doc[old[1]:]
    else:
        at = part(doc, "Goals")
        at = at[0] if at else len(doc)
        doc = doc[:at] + chunk + doc[at:]
    with open(path, "w") as fh:
        fh.write(doc)
    print("report: section 9 spliced into %s (the rest of it unchanged)" % path)
    sys.exit(0)
with open(os.path.join(DOCS, "benchmarks.md"), "w") as fh:
    fh.write(text)
print("report: %s (%d charts)" % (os.path.join(DOCS, "benchmarks.md"), len(charts)))

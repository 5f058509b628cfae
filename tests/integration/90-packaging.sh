#!/bin/bash
# Packaging (issue 5, "Persistence and packages"):
# - packaging/systemd/binfmt-installer.service: `systemd-analyze verify` without a
#   warning; the properties that make it correct next to systemd-binfmt, and none of
#   the options that would give it its own mount namespace;
# - packaging/kubernetes/daemonset.yaml: the apps/v1 DaemonSet essentials (python3
#   and PyYAML, no network), and its init container's arguments accepted by binfmt
#   (--dry-run in a private binfmt_misc instance);
# - packaging/completion/{binfmt,emu-run}: load in bash, complete options and names,
#   and list exactly the names binfmt accepts;
# - `make deb` (fast payload compression, in a temporary directory; PACKAGING_DEBS=DIR
#   uses prebuilt .debs instead): package contents, fields and maintainer scripts; both
#   packages extracted with dpkg-deb -x into a throw-away root (the host's dpkg database
#   is not touched), where binfmt reports the shipped QEMU and picks
#   /usr/lib/binfmt-installer/qemu, emu-run runs a foreign busybox with it, the unit's
#   ExecStart and ExecStop command lines work (ExecStop removes our entries only), and
#   `binfmt --install all --export` files fed to the real systemd-binfmt register
#   working emulators - all in private binfmt_misc instances, with /etc/binfmt.d
#   replaced by a tmpfs inside the namespace. The host's registry is checked unchanged.
# shellcheck disable=SC2016 # single-quoted code runs elsewhere, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

PKG=$ROOT/packaging
UNIT=$PKG/systemd/binfmt-installer.service
DS=$PKG/kubernetes/daemonset.yaml
COMP=$PKG/completion
MANIFEST=$ROOT/qemu-static/manifest
case ${BUILD:-build} in
/*) BUILD_DIR=${BUILD:-build} ;;
*) BUILD_DIR=$ROOT/${BUILD:-build} ;;
esac
QDIR=$BUILD_DIR/qemu
VERSION=$(sed -n 's/^VERSION *:= *//p' "$ROOT/Makefile")
ARCH=$(dpkg --print-architecture)
BB_ARM64=$FIXTURES/busybox/arm64/busybox

WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-90-packaging.XXXXXX")
on_exit rm -rf "$WORK"
chmod 755 "$WORK" # a root-owned path the emulators' directory can live under
export WORK

host_before=$(host_listing)
# Registration checks run in private binfmt_misc instances, and as root only: to
# anyone else root's emulators look owned by "nobody" in a user namespace, and
# binfmt refuses emulators not owned by root.
PRIVATE=1 NO_PRIVATE="private binfmt_misc instances unavailable (Linux >= 6.7, user namespaces)"
if ((EUID != 0)); then
    PRIVATE=0 NO_PRIVATE="not root (emulators must be root-owned)"
elif ! in_private_binfmt true 2>/dev/null; then
    PRIVATE=0
fi

# === the systemd unit ================================================================

# key: every value of KEY= in the unit, one per line (systemd's lists are additive).
unit_values() { sed -n "s/^$1=//p" "$UNIT"; }

if command -v systemd-analyze >/dev/null 2>&1; then
    # --root: the commands are checked in a root holding only what they need.
    vroot=$WORK/verify-root
    mkdir -p "$vroot/usr/sbin" "$vroot/bin" "$vroot/lib/systemd/system"
    cp "$BINFMT" "$vroot/usr/sbin/binfmt"
    cp /bin/sh "$vroot/bin/sh"
    cp "$UNIT" "$vroot/lib/systemd/system/"
    out=$(systemd-analyze verify --man=no --root="$vroot" binfmt-installer.service 2>&1)
    rc=$?
    t_is "systemd-analyze verify: the unit passes with no warning" "$rc:$out" "0:"
else
    skip "systemd-analyze not installed"
fi
t_is "unit: Type=oneshot, RemainAfterExit=yes" "$(unit_values Type) $(unit_values RemainAfterExit)" "oneshot yes"
t_is "unit: ExecStart registers every emulator, quietly (no status probes at boot)" "$(unit_values ExecStart)" "/usr/sbin/binfmt --install all --quiet"
after=" $(unit_values After | tr '\n' ' ') "
t_like "unit: ordered after systemd-binfmt (which flushes every entry) and binfmt_misc's mount" \
    "$after" ' systemd-binfmt\.service .*proc-sys-fs-binfmt_misc\.mount '
t_is "unit: PartOf=systemd-binfmt.service (a restart of it re-registers ours)" \
    "$(unit_values PartOf)" "systemd-binfmt.service"
t_is "unit: started at boot (WantedBy=sysinit.target)" "$(unit_values WantedBy)" "sysinit.target"
# Each of these gives the service its own mount namespace, where a binfmt_misc
# instance mounted by binfmt would die with the service (Linux >= 6.7); the rest
# break the probes (compat syscalls, QEMU's JIT) or /proc/sys.
bad=$(grep -E '^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|PrivateMounts|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|ProtectControlGroups|ProtectProc|ProcSubset|ReadOnlyPaths|ReadWritePaths|InaccessiblePaths|TemporaryFileSystem|BindPaths|BindReadOnlyPaths|RootDirectory|RootImage|MountAPIVFS|PrivateNetwork|NetworkNamespacePath|SystemCallArchitectures|MemoryDenyWriteExecute)=' "$UNIT")
t_is "unit: no option that gives it a mount namespace or breaks the probes" "$bad" ""
stop=$(unit_values ExecStop)
t_like "unit: ExecStop removes entries by our interpreter path only" "$stop" \
    'interpreter /usr/lib/binfmt-installer/qemu/.*/usr/sbin/binfmt --uninstall '

# === the DaemonSet =====================================================================

DS_ARGS=()
# Issue 17: a Python error printed nothing, so the DaemonSet got zero points and
# the script passed. The number of checks is the heredoc's own count of check(
# lines, read from this file, not from what Python managed to print.
ds_want=$(grep -c '^check(' "${BASH_SOURCE[0]}")
if python3 -c 'import yaml' 2>/dev/null; then
    checks=$(python3 - "$DS" <<'EOF'
import re, sys, yaml

path = sys.argv[1]
results = []
def check(desc, ok, why=""):
    results.append(("PASS " if ok else "FAIL ") + desc + ("" if ok else ": " + why))

try:
    docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
except yaml.YAMLError as e:
    print("FAIL parses as YAML: %s" % e)
    sys.exit(0)
check("one YAML document, a mapping", len(docs) == 1 and isinstance(docs[0], dict), "got %d documents" % len(docs))
d = docs[0] if docs and isinstance(docs[0], dict) else {}
g = lambda o, *ks: (o := o) and [o := (o.get(k) if isinstance(o, dict) else None) for k in ks][-1]
dns_sub = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
dns_label = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')

check("apiVersion apps/v1, kind DaemonSet", d.get("apiVersion") == "apps/v1" and d.get("kind") == "DaemonSet",
      "%r %r" % (d.get("apiVersion"), d.get("kind")))
name = g(d, "metadata", "name") or ""
check("metadata.name is a DNS-1123 subdomain", bool(dns_sub.match(name)) and len(name) <= 253, repr(name))
check("metadata.namespace set", bool(g(d, "metadata", "namespace")), "missing")
spec = d.get("spec") or {}
unknown = set(spec) - {"selector", "template", "updateStrategy", "minReadySeconds", "revisionHistoryLimit"}
check("spec has only DaemonSetSpec fields", not unknown, "unknown %s" % sorted(unknown))
sel = g(spec, "selector", "matchLabels") or {}
labels = g(spec, "template", "metadata", "labels") or {}
check("spec.selector.matchLabels is non-empty and matches the template's labels",
      bool(sel) and all(labels.get(k) == v for k, v in sel.items()), "selector %r, labels %r" % (sel, labels))
us = g(spec, "updateStrategy", "type")
check("updateStrategy is RollingUpdate or OnDelete", us in (None, "RollingUpdate", "OnDelete"), repr(us))
pod = g(spec, "template", "spec") or {}
podkeys = {"activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "containers", "dnsConfig",
           "dnsPolicy", "enableServiceLinks", "ephemeralContainers", "hostAliases", "hostIPC", "hostNetwork",
           "hostPID", "hostUsers", "hostname", "imagePullSecrets", "initContainers", "nodeName", "nodeSelector",
           "os", "overhead", "preemptionPolicy", "priority", "priorityClassName", "readinessGates",
           "resourceClaims", "restartPolicy", "runtimeClassName", "schedulerName", "schedulingGates",
           "securityContext", "serviceAccount", "serviceAccountName", "setHostnameAsFQDN", "shareProcessNamespace",
           "subdomain", "terminationGracePeriodSeconds", "tolerations", "topologySpreadConstraints", "volumes"}
check("the pod template has only PodSpec fields", not (set(pod) - podkeys), "unknown %s" % sorted(set(pod) - podkeys))
check("restartPolicy is Always (the only one a DaemonSet allows)", pod.get("restartPolicy", "Always") == "Always",
      repr(pod.get("restartPolicy")))
check("hostPID: true (binfmt reaches the node's mount namespace)", pod.get("hostPID") is True, repr(pod.get("hostPID")))
check("nodeSelector kubernetes.io/os: linux", (pod.get("nodeSelector") or {}).get("kubernetes.io/os") == "linux",
      repr(pod.get("nodeSelector")))
tols = pod.get("tolerations") or []
check("tolerates every taint (operator: Exists, no key, no effect)",
      any(isinstance(t, dict) and t.get("operator") == "Exists" and not t.get("key") and not t.get("effect")
          for t in tols), repr(tols))
inits = pod.get("initContainers") or []
mains = pod.get("containers") or []
allc = [c for c in inits + mains if isinstance(c, dict)]
names = [c.get("name") for c in allc]
check("containers: at least one, each with a name and an image",
      bool(mains) and all(c.get("name") and c.get("image") for c in allc), repr(allc))
check("container names unique DNS-1123 labels",
      len(set(names)) == len(names) and all(isinstance(n, str) and dns_label.match(n) for n in names), repr(names))
ckeys = {"args", "command", "env", "envFrom", "image", "imagePullPolicy", "lifecycle", "livenessProbe", "name",
         "ports", "readinessProbe", "resizePolicy", "resources", "restartPolicy", "securityContext", "startupProbe",
         "stdin", "stdinOnce", "terminationMessagePath", "terminationMessagePolicy", "tty", "volumeDevices",
         "volumeMounts", "workingDir"}
bad = {c.get("name"): sorted(set(c) - ckeys) for c in allc if set(c) - ckeys}
check("containers have only Container fields", not bad, repr(bad))
check("exactly one init container", len(inits) == 1, "%d" % len(inits))
init = inits[0] if inits and isinstance(inits[0], dict) else {}
check("the init container runs the binfmt-installer image",
      bool(re.search(r'(^|/)binfmt-installer(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$', init.get("image") or "")),
      repr(init.get("image")))
check("the init container uses the image's entrypoint (no command)", "command" not in init, repr(init.get("command")))
args = init.get("args") or []
check("the init container's args: --install all", args == ["--install", "all"], repr(args))
check("the init container is privileged", g(init, "securityContext", "privileged") is True,
      repr(init.get("securityContext")))
check("the long-running containers are not privileged",
      all(g(c, "securityContext", "privileged") is not True for c in mains if isinstance(c, dict)), "privileged main")
def small(c):
    r = g(c, "resources", "requests") or {}
    cpu, mem = str(r.get("cpu", "")), str(r.get("memory", ""))
    mcpu = int(cpu[:-1]) if cpu.endswith("m") and cpu[:-1].isdigit() else None
    mi = int(mem[:-2]) if mem.endswith("Mi") and mem[:-2].isdigit() else None
    return mcpu is not None and mcpu <= 100 and mi is not None and mi <= 64
check("every container requests little: cpu <= 100m, memory <= 64Mi", all(small(c) for c in allc),
      repr([g(c, "resources") for c in allc]))
for r in results:
    print(r)
print("ARGS " + " ".join(args))
EOF
)
    ds_rc=$?
    while IFS= read -r line; do
        case $line in
        PASS\ *) t_pass "daemonset: ${line#PASS }" ;;
        FAIL\ *) t_fail "daemonset: ${line#FAIL }" ;;
        ARGS\ *) read -r -a DS_ARGS <<<"${line#ARGS }" ;;
        esac
    done <<<"$checks"
    t_is "daemonset: every one of the $ds_want checks ran (python exit 0)" \
        "$ds_rc|$(grep -c -e '^PASS ' -e '^FAIL ' <<<"$checks")" "0|$ds_want" || diag "$checks"
else
    skip "python3-yaml not installed (apt-get install python3-yaml)" $((ds_want + 1))
fi

# binfmt with the init container's arguments, as the image's entrypoint would run.
ds_dry_run() {
    local -a a
    read -r -a a <<<"$DS_ARGS_TEXT"
    bf "${a[@]}" --dry-run
    t_is "daemonset: binfmt ${a[*]} --dry-run exits 0" "$RC" 0 || diag "$ERR"
    t_like "daemonset: ... and would register emulators" "$OUT" ':qemu-aarch64:M:'
}
DS_ARGS_TEXT="${DS_ARGS[*]}"
export DS_ARGS_TEXT
if ((PRIVATE && ${#DS_ARGS[@]})) && [[ -f $QDIR/VERSION ]]; then
    in_private_binfmt ds_dry_run
else
    skip "$( ((PRIVATE)) || echo "$NO_PRIVATE"; [[ -f $QDIR/VERSION ]] || echo "$QDIR not staged")" 2
fi

# === bash completion ================================================================

# complete FILE WORD...: the candidates bash's completion function offers for the
# command line WORD... (the last word is the one being completed), one per line.
complete_words() {
    local file=$1
    shift
    bash --norc --noprofile -c '
        . "$1" || exit 99
        shift
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        f=$(complete -p "$1" 2>/dev/null | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
        [[ -n $f ]] || exit 98
        "$f" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf "%s\n" "${COMPREPLY[@]}"' complete "$file" "$@"
}
lines() { tr '\n' ' ' | sed 's/ $//'; }

t_is "completion: binfmt's loads and registers _binfmt" \
    "$(bash --norc --noprofile -c '. "$1" && complete -p binfmt' x "$COMP/binfmt" 2>&1)" "complete -F _binfmt binfmt"
t_is "completion: emu-run's loads (with binfmt's names) and registers _emu_run" \
    "$(bash --norc --noprofile -c '. "$1" && complete -p emu-run && declare -F _binfmt_names' x "$COMP/emu-run" 2>&1)" \
    "complete -F _emu_run emu-run"$'\n'"_binfmt_names"
t_is "completion: binfmt --ins -> --install --inspect" "$(complete_words "$COMP/binfmt" binfmt --ins | lines)" \
    "--install --inspect"
got=$(complete_words "$COMP/binfmt" binfmt --install ar | sort | lines)
t_is "completion: binfmt --install ar -> arm64 armhf armel armv7l ..." "$got" \
    "arm arm64 arm64be armeb armel armhf armv5l armv5tel armv6 armv6l armv7 armv7l armv8l"
t_is "completion: binfmt -i linux/arm -> the linux/arm platforms" \
    "$(complete_words "$COMP/binfmt" binfmt -i linux/arm | lines)" "linux/arm64 linux/arm/v7 linux/arm/v6 linux/arm/v5"
t_is "completion: the last item of a list (--install arm64,ri)" \
    "$(complete_words "$COMP/binfmt" binfmt --install arm64,ri | lines)" "arm64,riscv32 arm64,riscv64"
t_is "completion: --install=ppc64 (bash splits at =)" \
    "$(complete_words "$COMP/binfmt" binfmt --install = ppc64 | lines)" "ppc64 ppc64le ppc64el"
t_like "completion: --uninstall offers all" "$(complete_words "$COMP/binfmt" binfmt --uninstall a | lines)" '(^| )all( |$)'
t_is "completion: --flags" "$(complete_words "$COMP/binfmt" binfmt --flags F | lines)" "FP F FO FPO"
t_is "completion: nothing after --" "$(complete_words "$COMP/binfmt" binfmt -- --in | lines)" ""
t_is "completion: emu-run --arch ri" "$(complete_words "$COMP/emu-run" emu-run --arch ri | lines)" "riscv32 riscv64"
t_is "completion: emu-run --network" "$(complete_words "$COMP/emu-run" emu-run --network '' | lines)" "host none"
t_is "completion: emu-run options" "$(complete_words "$COMP/emu-run" emu-run --ov | lines)" "--overlay"
mkdir -p "$WORK/rootfs/etc"
printf 'root:x:0:0::/root:/bin/sh\nbuilder:x:1000:1000::/home/builder:/bin/sh\n' >"$WORK/rootfs/etc/passwd"
t_is "completion: emu-run --user from the --rootfs's passwd" \
    "$(complete_words "$COMP/emu-run" emu-run --rootfs "$WORK/rootfs" --user b | lines)" "builder"

# Every long option --help lists is offered, and nothing else.
t_is "completion: binfmt's options are binfmt --help's" \
    "$(complete_words "$COMP/binfmt" binfmt - | sort -u | lines)" \
    "$("$BINFMT" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u | lines)"
EMU_RUN=$BUILD_DIR/bin/emu-run
if [[ -x $EMU_RUN ]]; then
    t_is "completion: emu-run's option list matches emu-run --help" \
        "$(complete_words "$COMP/emu-run" emu-run - | sort -u | lines)" \
        "$("$EMU_RUN" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u | lines)"
else
    skip "$EMU_RUN not built"
fi

# The names: exactly those binfmt's "unknown architecture" error lists (the error
# is raised before anything is probed, mounted or written).
accepted=$("$BINFMT" --install __none__ --export "$WORK/nonexistent" 2>&1 | python3 -c '
import re, sys
groups = re.findall(r"\(([^()]*)\)", sys.stdin.read())
if len(groups) != 3:
    sys.exit("expected 3 groups of names, got %d" % len(groups))
names = [n for g in groups for n in g.split(", ")] + ["qemu-" + n for n in groups[1].split(", ")]
print("\n".join(sorted(names)))')
offered=$(bash --norc --noprofile -c '. "$1" && _binfmt_names' x "$COMP/binfmt" | sort)
t_is "completion: the names are exactly those binfmt accepts (its error message's list)" \
    "$(diff <(echo "$accepted") <(echo "$offered") && echo same)" "same"
# i486 is served by qemu-i486, which the payload does not ship (QEMU builds no such
# target): it installs only where 32-bit x86 code runs natively (lib.sh's
# I386_NATIVE, read as binfmt runs); elsewhere binfmt must refuse it, exit 3.
names_dry_run() {
    bf --install "$1" --dry-run
    t_is "completion: binfmt --dry-run --install <every offered name> exits 0" "$RC" 0 || diag "$ERR"
    bf --uninstall "$1" --dry-run
    t_is "completion: binfmt --dry-run --uninstall <every offered name> exits 0" "$RC" 0 || diag "$ERR"
    bf --install i486 --dry-run
    if [[ -n $I386_NATIVE || -e $QDIR/qemu-i486 ]]; then
        t_is "completion: i486 (native or emulated here): dry-run exits 0" "$RC" 0 || diag "$ERR"
    else
        t_like "completion: i486 (not native, no qemu-i486): exit 3 naming the missing emulator" "$RC|$ERR" \
            '^3\|binfmt: no emulator for i486: qemu-i486\[-static\] not found'
    fi
}
names=$offered
[[ -n $I386_NATIVE || -e $QDIR/qemu-i486 ]] || names=$(grep -vx -e i486 -e qemu-i486 <<<"$offered")
if ((PRIVATE)) && [[ -f $QDIR/VERSION ]]; then
    in_private_binfmt names_dry_run "$(paste -sd, - <<<"$names")"
else
    skip "$( ((PRIVATE)) || echo "$NO_PRIVATE"; [[ -f $QDIR/VERSION ]] || echo "$QDIR not staged")" 3
fi
if command -v shellcheck >/dev/null 2>&1; then
    t_ok "completion: shellcheck clean" shellcheck -s bash "$COMP/binfmt" "$COMP/emu-run"
else
    skip "shellcheck not installed"
fi

# === the Debian packages ===========================================================

DEBS=${PACKAGING_DEBS:-}
if [[ -z $DEBS ]]; then
    if ! command -v dh >/dev/null 2>&1 || ! command -v dpkg-buildpackage >/dev/null 2>&1; then
        skip_rest="debhelper or dpkg-dev not installed (apt-get install debhelper dpkg-dev)"
    elif [[ ! -f $QDIR/VERSION ]]; then
        skip_rest="$QDIR not staged (make qemu)"
    else
        # The real `make deb` compresses the payload with xz (minutes); zstd -1 here.
        t0=$(date +%s)
        out=$(make -C "$ROOT" --no-print-directory deb BUILD="${BUILD:-build}" DEB_WORK="$WORK/deb-src" \
            DEB_OUT="$WORK/deb" QEMU_DEB_COMPRESS="-Zzstd -z1" 2>&1)
        rc=$?
        t_is "make deb exits 0 ($(($(date +%s) - t0)) s)" "$rc" 0 || diag "$(tail -40 <<<"$out")"
        t_ok "the repository root has no debian/ afterwards" test ! -e "$ROOT/debian"
        DEBS=$WORK/deb
    fi
fi
first() { printf '%s' "$1"; }
MAIN_DEB=$(first "$DEBS"/binfmt-installer_"$VERSION"_*.deb)
QEMU_DEB=$(first "$DEBS"/binfmt-installer-qemu_"$VERSION"_*.deb)
if [[ -n $DEBS && ! -f $MAIN_DEB ]]; then
    t_fail "binfmt-installer_${VERSION}_*.deb built in $DEBS"
    skip_rest="no package"
fi

if [[ -z ${skip_rest:-} ]]; then
    t_pass "binfmt-installer_${VERSION}_*.deb: $(du -k "$MAIN_DEB" | cut -f1) KiB"
    contents=$(dpkg-deb -c "$MAIN_DEB" | awk '{print $6}')
    missing=""
    for f in ./usr/sbin/binfmt ./usr/share/man/man8/binfmt.8.gz ./lib/systemd/system/binfmt-installer.service \
        ./usr/share/bash-completion/completions/binfmt ./usr/share/bash-completion/completions/emu-run \
        ./usr/share/doc/binfmt-installer/copyright; do
        grep -qxF "$f" <<<"$contents" || missing+="$f "
    done
    if [[ -x $EMU_RUN ]]; then
        for f in ./usr/bin/emu-run ./usr/share/man/man1/emu-run.1.gz; do
            grep -qxF "$f" <<<"$contents" || missing+="$f "
        done
    fi
    t_is "binfmt-installer ships binfmt, emu-run, their man pages, the unit and the completions" "$missing" ""
    t_is "binfmt-installer's version is the Makefile's" "$(dpkg-deb -f "$MAIN_DEB" Version)" "$VERSION"
    depends=$(dpkg-deb -f "$MAIN_DEB" Depends)
    missing=""
    for lib in libmount1 libkmod2 libjansson4 libcap2 libelf1; do
        [[ $depends =~ (^|, )$lib([ ,]|$) ]] || missing+="$lib "
    done
    t_is "binfmt-installer depends on its shared libraries (\${shlibs:Depends}; the dlopen()ed libmount1 and libkmod2 by name)" "$missing" ""
    t_like "... and on binfmt-installer-qemu of the same version, or qemu-user-static" "$depends" \
        "binfmt-installer-qemu \\(= $VERSION\\) \\| qemu-user-static"
    mkdir -p "$WORK/control"
    dpkg-deb -e "$MAIN_DEB" "$WORK/control"
    t_ok "postinst, prerm and postrm are valid sh" sh -n "$WORK/control/postinst" "$WORK/control/prerm" \
        "$WORK/control/postrm"
    t_like "postinst enables the unit with deb-systemd-helper" "$(cat "$WORK/control/postinst")" \
        "deb-systemd-helper enable 'binfmt-installer.service'"
    t_like "postinst starts it only on a system booted with systemd" "$(cat "$WORK/control/postinst")" \
        "if \\[ -d /run/systemd/system \\]; then"$'\n'"[^"$'\n'"]*daemon-reload"
    t_like "prerm stops it on removal (ExecStop removes our entries)" "$(cat "$WORK/control/prerm")" \
        "deb-systemd-invoke stop 'binfmt-installer.service'"
    t_is "a trigger re-registers when the emulators change" \
        "$(grep -v '^#' "$WORK/control/triggers")" "interest-noawait /usr/lib/binfmt-installer/qemu"
    if [[ $ARCH == amd64 || $ARCH == arm64 ]]; then
        [[ -f $QEMU_DEB ]]
        t_is "binfmt-installer-qemu_${VERSION}_$ARCH.deb built" "$?" 0
    fi
fi
if [[ -z ${skip_rest:-} && -f $QEMU_DEB ]]; then
    read -r pkg_version qemu_version < <(awk -v a="$ARCH" '$1 == "deb" && $2 == a {print $3, $4}' "$MANIFEST")
    t_pass "binfmt-installer-qemu: $(du -k "$QEMU_DEB" | cut -f1) KiB packed, $(dpkg-deb -f "$QEMU_DEB" Installed-Size) KiB installed"
    t_is "binfmt-installer-qemu: Built-Using names the QEMU source it contains" \
        "$(dpkg-deb -f "$QEMU_DEB" Built-Using)" "qemu (= $pkg_version)"
    # What `make qemu` staged (build/qemu/SHA256SUMS: the manifest's pins for Debian's
    # payload, the build record for the rebuilt one, which lacks the host's own qemu).
    SUMS=$QDIR/SHA256SUMS
    want=$(awk '{print "./usr/lib/binfmt-installer/qemu/" $2}' "$SUMS" | sort)
    got=$(dpkg-deb -c "$QEMU_DEB" | awk '$6 ~ /\/qemu\/qemu-/ {print $6}' | sort)
    t_is "binfmt-installer-qemu ships exactly the staged payload's emulators ($(sed -n 's/^payload=//p' "$QDIR/VERSION"))" "$got" "$want"
    if grep -qx payload=rebuilt "$QDIR/VERSION"; then
        want=$(awk -v a="$ARCH" '$1 == "bin" && $2 == a {print $3}' "$MANIFEST" | grep -vx "$(uname -m)" | sed 's/^/qemu-/' | sort)
    else
        want=$(awk -v a="$ARCH" '$1 == "bin" && $2 == a {print "qemu-" $3}' "$MANIFEST" | sort)
    fi
    t_is "... which are the manifest's targets" "$(awk '{print $2}' "$SUMS" | sort)" "$want"
    t_is "... as root-owned 0755 files" \
        "$(dpkg-deb -c "$QEMU_DEB" | awk '$6 ~ /\/qemu\/qemu-/ {print $1, $2}' | sort -u)" "-rwxr-xr-x root/root"

    # --- installed into a throw-away root ------------------------------------------------
    R=$WORK/root
    mkdir -p "$R"
    dpkg-deb -x "$MAIN_DEB" "$R" && dpkg-deb -x "$QEMU_DEB" "$R"
    t_is "both packages extract (dpkg-deb -x; no dpkg database involved)" "$?" 0
    export R
    bad=$(cd "$R/usr/lib/binfmt-installer/qemu" && sha256sum --quiet -c "$SUMS" 2>&1)
    t_is "the installed emulators are byte for byte the pinned ones (not stripped)" "$bad" ""
    t_is "the installed unit is packaging/systemd's" \
        "$(cmp "$UNIT" "$R/lib/systemd/system/binfmt-installer.service" && echo same)" "same"
    t_is "the installed binfmt --version reports the shipped QEMU" "$("$R/usr/sbin/binfmt" --version)" \
        "binfmt from binfmt-installer $VERSION"$'\n'"QEMU $qemu_version (emulators in $R/usr/lib/binfmt-installer/qemu)"

    installed_dry_run() {
        run "$R/usr/sbin/binfmt" --mount "$BM" --dry-run --install arm64
        t_is "installed binfmt --dry-run --install arm64 exits 0" "$RC" 0 || diag "$ERR"
        t_like "... and picks /usr/lib/binfmt-installer/qemu/qemu-aarch64" "$OUT" \
            "^:qemu-aarch64:M::[^:]*:[^:]*:$R/usr/lib/binfmt-installer/qemu/qemu-aarch64:[FP]+$"
    }
    # ExecStart and ExecStop as the unit has them, with /usr/sbin and
    # /usr/lib/binfmt-installer moved under $R, against /proc/sys/fs/binfmt_misc
    # - mounted here, inside the namespace, where it is the private instance.
    unit_cycle() {
        local cmd
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || {
            t_fail "mount binfmt_misc at /proc/sys/fs/binfmt_misc in the namespace"
            return
        }
        echo ':ptest:E::ptestext::/bin/true:' >/proc/sys/fs/binfmt_misc/register
        t_ok "unit: /proc/sys/fs/binfmt_misc in the namespace is the private instance" test -e "$BM/ptest"
        echo -1 >"$BM/ptest"
        # someone else's QEMU entry, as qemu-user-static's binfmt.d file makes it
        QEMU_BINARY_PATH=/usr/bin "$BINFMT" --install riscv64 >/dev/null 2>&1
        other=$(cat "$BM/qemu-riscv64" 2>/dev/null)
        cmd=$(sed -n 's/^ExecStart=//p' "$UNIT")
        run sh -c "${cmd//\/usr\/sbin\//$R/usr/sbin/}"
        t_is "unit: ExecStart exits 0" "$RC" 0 || diag "$ERR"
        t_is "unit: ExecStart registered our qemu-aarch64" "$(sed -n 's/^interpreter //p' "$BM/qemu-aarch64" 2>&1)" \
            "$R/usr/lib/binfmt-installer/qemu/qemu-aarch64"
        if [[ -x $BB_ARM64 ]]; then
            t_is "unit: a foreign arm64 busybox runs" "$("$BB_ARM64" uname -m 2>&1)" aarch64
        else
            skip "no cached arm64 busybox"
        fi
        cmd=$(sed -n 's/^ExecStop=//p' "$UNIT")
        cmd=${cmd//\$\$/\$}
        cmd=${cmd//\/usr\/sbin\//$R/usr/sbin/}
        cmd=${cmd//\/usr\/lib\/binfmt-installer\//$R/usr/lib/binfmt-installer/}
        run eval "$cmd"
        t_is "unit: ExecStop exits 0" "$RC" 0 || diag "$ERR"
        if [[ -n $other ]]; then
            t_is "unit: ExecStop removed our entries and left the other QEMU entry alone" "$(listing)" \
                "qemu-riscv64 register status"
            t_is "... unchanged" "$(cat "$BM/qemu-riscv64")" "$other"
        else
            t_is "unit: ExecStop removed our entries" "$(listing)" "register status"
            skip "no /usr/bin/qemu-riscv64-static for a foreign entry"
        fi
    }
    # binfmt --export files applied by the real systemd-binfmt, in the namespace,
    # with a tmpfs over /etc/binfmt.d (the host's stays as it is).
    systemd_binfmt() {
        local d=/etc/binfmt.d f n missing=""
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || {
            t_fail "mount binfmt_misc at /proc/sys/fs/binfmt_misc in the namespace"
            return
        }
        if [[ -d $d ]]; then
            mount -t tmpfs tmpfs "$d"
        else
            mount -t tmpfs tmpfs /run && mkdir -p /run/binfmt.d && d=/run/binfmt.d
        fi
        echo ':ptest:E::ptestext::/bin/true:' >"$BM/register"
        run "$R/usr/sbin/binfmt" --install all --export "$d"
        t_is "systemd-binfmt: binfmt --install all --export $d exits 0" "$RC" 0 || diag "$ERR"
        t_like "... writing one file per emulator" "$(find "$d" -name '*.conf' | wc -l)" '^(2[0-9]|3[0-9])$'
        run /lib/systemd/systemd-binfmt
        t_is "systemd-binfmt: applies them, exit 0" "$RC" 0 || diag "$ERR"
        t_ok "systemd-binfmt: flushed the entry registered before it (why the unit runs After= it)" \
            test ! -e "$BM/ptest"
        for f in "$d"/*.conf; do
            n=${f##*/}
            [[ -f $BM/${n%.conf} ]] || missing+="${n%.conf} "
        done
        t_is "systemd-binfmt: every exported entry is registered" "$missing" ""
        t_is "systemd-binfmt: qemu-aarch64 is ours (/etc/binfmt.d wins over /usr/lib/binfmt.d's file of that name)" \
            "$(sed -n 's/^interpreter //p' "$BM/qemu-aarch64" 2>&1) $(sed -n 's/^flags: //p' "$BM/qemu-aarch64" 2>&1)" \
            "$R/usr/lib/binfmt-installer/qemu/qemu-aarch64 PF"
        if [[ -x $BB_ARM64 ]]; then
            t_is "systemd-binfmt: a foreign arm64 busybox runs" "$("$BB_ARM64" uname -m 2>&1)" aarch64
            t_is "systemd-binfmt: ... also chrooted where no emulator exists (F)" \
                "$(mkdir -p "$WORK/chroot" && cp "$BB_ARM64" "$WORK/chroot/busybox" &&
                    chroot "$WORK/chroot" /busybox uname -m 2>&1)" \
                aarch64
        else
            skip "no cached arm64 busybox" 2
        fi
    }
    # The boot order the unit is written for: systemd-binfmt flushes and applies the
    # host's binfmt.d files (here /usr/lib/binfmt.d: qemu-user-static's, python's...;
    # /etc/binfmt.d is an empty tmpfs), then ExecStart, later ExecStop.
    boot_sequence() {
        local cmd before status
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || {
            t_fail "mount binfmt_misc at /proc/sys/fs/binfmt_misc in the namespace"
            return
        }
        [[ -d /etc/binfmt.d ]] && mount -t tmpfs tmpfs /etc/binfmt.d
        run /lib/systemd/systemd-binfmt
        before=$(listing)
        t_is "boot: systemd-binfmt applies the host's binfmt.d files ($(($(wc -w <<<"$before") - 2)) entries)" \
            "$RC" 0 || diag "$ERR"
        cmd=$(sed -n 's/^ExecStart=//p' "$UNIT")
        run sh -c "${cmd//\/usr\/sbin\//$R/usr/sbin/}"
        t_like "boot: then ExecStart succeeds (0, or 4 = SuccessExitStatus)" "$RC" '^[04]$' || diag "$ERR"
        status=$("$R/usr/sbin/binfmt" 2>/dev/null)
        t_is "boot: every platform BuildKit probes then runs" "$(python3 -c '
import json, sys
want = ["linux/arm64", "linux/riscv64", "linux/ppc64le", "linux/s390x", "linux/mips64le", "linux/arm/v7",
        "linux/arm/v6", "linux/loong64", "linux/ppc64", "linux/mips64"]
got = json.loads(sys.argv[1])["supported"]
print(" ".join(p for p in want if p not in got) or "all")' "$status" 2>&1)" "all"
        cmd=$(sed -n 's/^ExecStop=//p' "$UNIT")
        cmd=${cmd//\$\$/\$}
        cmd=${cmd//\/usr\/sbin\//$R/usr/sbin/}
        cmd=${cmd//\/usr\/lib\/binfmt-installer\//$R/usr/lib/binfmt-installer/}
        run eval "$cmd"
        t_is "boot: ExecStop leaves exactly systemd-binfmt's entries" "$RC $(listing)" "0 $before"
    }
    export UNIT BB_ARM64
    if ((PRIVATE)); then
        in_private_binfmt installed_dry_run
        in_private_binfmt unit_cycle
        in_private_binfmt systemd_binfmt
        in_private_binfmt boot_sequence
        if [[ -x $R/usr/bin/emu-run && -x $BB_ARM64 ]]; then
            run "$R/usr/bin/emu-run" --verbose --arch arm64 -- "$BB_ARM64" uname -m
            t_is "the installed emu-run runs an arm64 busybox" "$RC:$OUT" "0:aarch64" || diag "$ERR"
            t_like "... with the shipped QEMU" "$ERR" "QEMU: $R/usr/lib/binfmt-installer/qemu/qemu-aarch64"
        else
            skip "no installed emu-run or no cached arm64 busybox" 2
        fi
    else
        skip "$NO_PRIVATE"
    fi
else
    skip "${skip_rest:-no binfmt-installer-qemu package for $ARCH}"
fi

t_is "the host's binfmt_misc registry is unchanged" "$(host_listing)" "$host_before"
done_testing

#!/bin/bash
# Section 1: install every emulator of the payload into a fresh private binfmt_misc
# instance: binfmt --install all (and, when this binfmt has --quiet, binfmt-quiet =
# --install all --quiet: registering only, no probes and status JSON after it, the same
# work as the peers) vs systemd-binfmt (binfmt.d files), update-binfmts
# --import (binfmt-support) and QEMU's qemu-binfmt-conf.sh. Same targets and flags
# (binfmt's own register lines exported as binfmt.d files / update-binfmts formats;
# qemu-binfmt-conf.sh uses its own target table and says so in the counts).
# Each sample is a new `unshare --user --map-root-user --mount` with binfmt_misc
# mounted on /proc/sys/fs/binfmt_misc; only the tool's run is timed (bash
# EPOCHREALTIME around it), the tools are alternated round by round.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
runs=${1:-$(b_runs 21 5)}
T=$RESULTS/install
rm -rf "$T" && mkdir -p "$T/binfmt.d" "$T/binfmts"
UB=$CACHE/binfmt-support/usr/sbin/update-binfmts
QBC=$CACHE/qemu-binfmt-conf.sh
SDB=/lib/systemd/systemd-binfmt
QDIR=$BUILD/qemu

# binfmt's register lines, as binfmt.d files, from an empty private instance.
unshare --user --map-root-user --mount bash -c '
    d=$(mktemp -d) && mount -t binfmt_misc binfmt_misc "$d" &&
    "$1" --mount "$d" --install all --export "$2" >/dev/null 2>&1' _ "$BUILD/bin/binfmt" "$T/binfmt.d"
n_conf=$(ls "$T/binfmt.d" | wc -l)
((n_conf > 0)) || b_die "binfmt --export wrote nothing"
# The same lines as update-binfmts format files.
for f in "$T"/binfmt.d/*.conf; do
    IFS=: read -r _ name type offset magic mask interp flags < <(grep '^:' "$f")
    {
        echo "package bench"
        echo "interpreter $interp"
        echo "magic $magic"
        [[ -n $offset ]] && echo "offset $offset"
        echo "mask $mask"
        echo "credentials $([[ $flags == *C* ]] && echo yes || echo no)"
        echo "preserve $([[ $flags == *P* ]] && echo yes || echo no)"
        echo "fix_binary $([[ $flags == *F* ]] && echo yes || echo no)"
    } >"$T/binfmts/$name"
done

tools=(binfmt binfmt-quiet systemd-binfmt update-binfmts qemu-binfmt-conf)
declare -A CMD=(
    [binfmt]="$BUILD/bin/binfmt --install all"
    [binfmt-quiet]="$BUILD/bin/binfmt --install all --quiet"
    [systemd-binfmt]="$SDB   (binfmt.d files in a tmpfs on /etc/binfmt.d; the other binfmt.d dirs masked with empty tmpfs)"
    [update-binfmts]="$UB --admindir ADMIN --importdir $T/binfmts --import"
    [qemu-binfmt-conf]="$QBC --qemu-path $QDIR --qemu-suffix '' --persistent yes --preserve-argv0 yes"
)
avail=()
for t in "${tools[@]}"; do
    case $t in
    binfmt-quiet) [[ $("$BUILD/bin/binfmt" --help 2>&1) == *--quiet* ]] ||
        { b_fact "install.missing.$t" "this binfmt has no --quiet (binfmt --help)"; continue; } ;;
    systemd-binfmt) [[ -x $SDB ]] || { b_fact "install.missing.$t" "$SDB not found"; continue; } ;;
    update-binfmts) [[ -x $UB ]] || { b_fact "install.missing.$t" "run bench/fetch.sh"; continue; } ;;
    qemu-binfmt-conf) [[ -x $QBC ]] || { b_fact "install.missing.$t" "run bench/fetch.sh"; continue; } ;;
    esac
    avail+=("$t")
    b_cmd install "$t" "${CMD[$t]}"
done

one() {
    local tool=$1
    unshare --user --map-root-user --mount --propagation private bash -c '
        tool=$1 T=$2 BIN=$3 SDB=$4 UB=$5 QBC=$6 QDIR=$7
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 90
        case $tool in
        binfmt) cmd=("$BIN" --install all) ;;
        binfmt-quiet) cmd=("$BIN" --install all --quiet) ;;
        systemd-binfmt)
            mount -t tmpfs tmpfs /etc/binfmt.d && cp "$T"/binfmt.d/*.conf /etc/binfmt.d/ || exit 91
            for d in /run/binfmt.d /usr/local/lib/binfmt.d /usr/lib/binfmt.d; do
                [ -d "$d" ] && { mount -t tmpfs tmpfs "$d" || exit 92; }
            done
            cmd=("$SDB") ;;
        update-binfmts)
            a=$(mktemp -d) && mkdir -p "$a/admin"
            cmd=("$UB" --admindir "$a/admin" --importdir "$T/binfmts" --import) ;;
        qemu-binfmt-conf)
            cmd=("$QBC" --qemu-path "$QDIR" --qemu-suffix "" --persistent yes --preserve-argv0 yes) ;;
        esac
        t0=$EPOCHREALTIME
        "${cmd[@]}" >"$T/last-$tool.log" 2>&1
        rc=$?
        t1=$EPOCHREALTIME
        n=$(ls /proc/sys/fs/binfmt_misc | grep -v -e "^register$" -e "^status$" | wc -l)
        nf=$(grep -l "^flags: .*F" /proc/sys/fs/binfmt_misc/qemu-* 2>/dev/null | wc -l)
        echo "$t0 $t1 $rc $n $nf"
    ' _ "$tool" "$T" "$BUILD/bin/binfmt" "$SDB" "$UB" "$QBC" "$QDIR"
}

for w in 1 2; do for t in "${avail[@]}"; do one "$t" >/dev/null; done; done
n=${#avail[@]}
for ((r = 0; r < runs; r++)); do
    for ((k = 0; k < n; k++)); do
        t=${avail[$(((r + k) % n))]}
        read -r t0 t1 rc cnt nf < <(one "$t")
        ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) * 1000 }')
        printf 'install\t%s\t%d\t%s\t0\t0\t%s\n' "$t" "$r" "$ms" "$rc" >>"$RESULTS/samples.tsv"
        [[ $r == 0 ]] && printf '%s\t%s\t%s\n' "$t" "$cnt" "$nf" >>"$T/entries.tsv"
    done
done
b_fact install.targets "$n_conf binfmt.d files exported by binfmt --install all --export (the payload in $QDIR)"
b_log "install: $(awk -F'\t' '$1=="install" {n[$2]++} END {for (k in n) printf "%s=%d ", k, n[k]}' "$RESULTS/samples.tsv")"

# shellcheck shell=bash
# Shared by qemu-static/stage.sh and qemu-static/pin.sh. Source it, do not run it.
#
#   qs_die MSG | qs_log MSG
#   qs_machine DEBARCH            -> elfcheck machine name (x86_64 | aarch64)
#   qs_deb_name PKG VERSION ARCH  -> the file name apt-get download gives the .deb
#   qs_upstream VERSION           -> QEMU's own version from a Debian version
#   qs_read_manifest FILE ARCH    -> QS_SUITE QS_PACKAGE QS_VERSION QS_QEMU_VERSION
#                                    QS_DEB_SHA QS_DEB_SIZE QS_CPUS[] QS_BIN_SHA[cpu]
#                                    QS_SRC_VERSION QS_SRC_DSC_SHA (build.sh)
#   qs_find_mirror                -> the host's Debian mirror (QEMU_STATIC_MIRROR overrides)
#   qs_apt_setup DIR SUITE ARCH...-> private apt configuration in DIR, options in QS_APT[]
#   qs_apt_update DIR             -> apt-get update through it (dies with the log on error)
#   qs_apt_versions PKG:ARCH      -> every version of it the private lists know, one a line
#   qs_elfcheck WORKDIR           -> path of a usable elfcheck (ELFCHECK, build/bin, or built)
#   qs_lock DIR                   -> serialise runs sharing DIR (best effort)

# shellcheck disable=SC2034 # the QS_* variables are used by the scripts that source this
QS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QS_ROOT=$(cd "$QS_DIR/.." && pwd)
QS_MANIFEST=${QEMU_STATIC_MANIFEST:-$QS_DIR/manifest}
QS_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
QS_PROG=${QS_PROG:-qemu-static}

qs_die() { echo "$QS_PROG: error: $*" >&2; exit 1; }
qs_log() { echo "$QS_PROG: $*" >&2; }

qs_machine() {
    case $1 in
    amd64) echo x86_64 ;;
    arm64) echo aarch64 ;;
    *) return 1 ;;
    esac
}

# apt-get download names files PKG_VERSION_ARCH.deb with the epoch colon as %3a.
qs_deb_name() { printf '%s_%s_%s.deb\n' "$1" "${2//:/%3a}" "$3"; }

# 1:10.0.13+ds-0+deb13u1 -> 10.0.13
qs_upstream() {
    local v=${1#*:}
    v=${v%-*}
    v=${v%%[+~]*}
    printf '%s\n' "$v"
}

qs_sha256() { sha256sum -- "$1" | awk '{print $1}'; }

# qs_read_manifest FILE ARCH: the records for ARCH (see the manifest's header).
# shellcheck disable=SC2034 # the QS_* results are used by the caller
qs_read_manifest() {
    local file=$1 arch=$2 kind a b c d e n=0
    QS_SUITE="" QS_PACKAGE="" QS_VERSION="" QS_QEMU_VERSION="" QS_DEB_SHA="" QS_DEB_SIZE=""
    QS_SRC_VERSION="" QS_SRC_DSC_SHA=""
    QS_CPUS=()
    declare -gA QS_BIN_SHA=()
    [[ -r $file ]] || qs_die "manifest $file not found (run 'make qemu-pin' to create it)"
    while read -r kind a b c d e; do
        n=$((n + 1))
        case $kind in
        '' | '#'*) ;;
        suite) QS_SUITE=$a ;;
        package) QS_PACKAGE=$a ;;
        src)
            [[ -n $a && $b =~ ^[0-9a-f]{64}$ ]] || qs_die "$file:$n: malformed src record"
            QS_SRC_VERSION=$a QS_SRC_DSC_SHA=$b
            ;;
        deb)
            [[ $a == "$arch" ]] || continue
            [[ -n $b && -n $c && $d =~ ^[0-9a-f]{64}$ && $e =~ ^[0-9]+$ ]] ||
                qs_die "$file:$n: malformed deb record"
            QS_VERSION=$b QS_QEMU_VERSION=$c QS_DEB_SHA=$d QS_DEB_SIZE=$e
            ;;
        bin)
            [[ $a == "$arch" ]] || continue
            [[ $b =~ ^[a-z0-9_]+$ && $c =~ ^[0-9a-f]{64}$ ]] || qs_die "$file:$n: malformed bin record"
            QS_CPUS+=("$b")
            QS_BIN_SHA[$b]=$c
            ;;
        *) qs_die "$file:$n: unknown record '$kind'" ;;
        esac
    done <"$file"
    [[ -n $QS_SUITE && -n $QS_PACKAGE ]] || qs_die "$file: no suite/package records"
    [[ -n $QS_VERSION ]] || qs_die "$file pins nothing for $arch (run 'make qemu-pin')"
    ((${#QS_CPUS[@]} > 0)) || qs_die "$file lists no binaries for $arch"
}

# --- mirror discovery (the approach of tests/fixtures/fetch.sh) -----------------
#
# Prints the URI of the host's Debian archive entry: a `deb` source whose suites
# include the host's release codename (not CODENAME-security, whose URI is another
# archive). Third-party sources are ignored because they do not carry that suite.
qs_find_mirror() {
    if [[ -n ${QEMU_STATIC_MIRROR:-} ]]; then
        printf '%s\n' "${QEMU_STATIC_MIRROR%/}"
        return 0
    fi
    local f codename
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    codename=${codename:-bookworm}
    {
        for f in /etc/apt/sources.list.d/*.sources; do
            [[ -r $f ]] || continue
            # deb822: stanzas separated by blank lines; fields may be indented.
            awk -v want="$codename" '
                function flush() {
                    if (uris != "" && types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " want " "))
                        print uris
                    types = uris = suites = enabled = ""
                }
                /^[ \t]*#/ { next }
                /^[ \t]*$/ { flush(); next }
                {
                    line = $0; sub(/^[ \t]+/, "", line)
                    key = tolower(line); sub(/:.*/, "", key)
                    val = line; sub(/^[^:]*:[ \t]*/, "", val); gsub(/[ \t]+/, " ", val)
                    if (key == "types") types = val
                    else if (key == "uris") uris = val
                    else if (key == "suites") suites = val
                    else if (key == "enabled") enabled = tolower(val)
                }
                END { flush() }
            ' "$f" | awk '{ print $1 }'
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [[ -r $f ]] || continue
            # deb [opts] URI SUITE COMPONENTS...
            awk -v want="$codename" '
                /^[ \t]*deb[ \t]/ {
                    sub(/^[ \t]*deb[ \t]+/, "")
                    if ($0 ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "")
                    if ($2 == want) print $1
                }
            ' "$f"
        done
    } | sed 's:/*$::' | awk '!seen[$0]++' | head -n1
}

# --- private apt ------------------------------------------------------------------

# qs_apt_setup DIR SUITE ARCH...: own sources.list, lists and cache in DIR; the host's
# sources, preferences, lists and caches are neither read nor written. Sets QS_APT
# (options) and QS_MIRROR.
qs_apt_setup() {
    local d=$1 suite=$2 arch
    shift 2
    [[ -r $QS_KEYRING ]] || qs_die "$QS_KEYRING missing (apt-get install debian-archive-keyring)"
    QS_MIRROR=$(qs_find_mirror)
    [[ -n $QS_MIRROR ]] ||
        qs_die "no Debian mirror found in /etc/apt/sources.list{,.d/*.sources,.d/*.list}; set QEMU_STATIC_MIRROR"
    mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/dl"
    echo "deb [signed-by=$QS_KEYRING] $QS_MIRROR $suite main" >"$d/sources.list"
    QS_APT=(-o "Dir::Etc::SourceList=$d/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
        -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache"
        -o Acquire::Languages=none -o APT::Get::List-Cleanup=0)
    for arch in "$@"; do QS_APT+=(-o "APT::Architectures::=$arch"); done
    # apt downloads as the unprivileged _apt user when run as root: let it in.
    chmod 0755 "$d"
    if ((EUID == 0)) && id _apt >/dev/null 2>&1; then
        chown _apt "$d/dl" "$d/lists/partial" "$d/cache/archives/partial" 2>/dev/null || true
    fi
}

qs_apt_update() {
    local d=$1 log=$1/apt.log
    # An unreachable mirror is only a warning to apt-get update (exit 0): look at the log.
    if ! apt-get "${QS_APT[@]}" -q update >"$log" 2>&1 ||
        grep -Eq '^(E: |Err:|W: Failed to fetch|W: Some index files failed)' "$log"; then
        cat "$log" >&2
        qs_die "apt-get update from $QS_MIRROR failed (no network to the mirror?)"
    fi
}

qs_apt_versions() {
    apt-cache "${QS_APT[@]}" show "$1" 2>/dev/null | awk '/^Version:/ {print $2}' || true
}

# --- elfcheck -----------------------------------------------------------------------

qs_elfcheck() {
    local work=$1 c
    for c in "${ELFCHECK:-}" "$QS_ROOT/build/bin/elfcheck"; do
        [[ -n $c && -x $c ]] && { printf '%s\n' "$c"; return 0; }
    done
    # Standalone use without `make qemu`: build a private copy.
    local libs
    libs=$(pkg-config --libs libelf 2>/dev/null) || libs=-lelf
    # shellcheck disable=SC2086 # libs is a list of flags
    "${CC:-cc}" -std=gnu11 -O2 -o "$work/elfcheck" "$QS_DIR/elfcheck.c" $libs >&2 ||
        qs_die "cannot build elfcheck (apt-get install libelf-dev; or run 'make qemu')"
    printf '%s\n' "$work/elfcheck"
}

# qs_lock DIR: hold an flock on DIR/.lock on fd 9 until exit (when DIR allows it).
qs_lock() {
    if { exec 9>>"$1/.lock"; } 2>/dev/null || { exec 9<"$1/.lock"; } 2>/dev/null; then
        flock 9
    fi
}

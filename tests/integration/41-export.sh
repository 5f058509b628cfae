#!/bin/bash
# --export DIR where DIR is not the caller's own (issue 20, item 5): a symlinked DIR
# is refused, a shared sticky DIR where another user created the names we might
# use first still gets root's own 0644 file, and an entry whose only usable
# delimiter would start a binfmt.d comment ('#', ';') is refused with nothing
# written. --export writes no registry: no private instance is needed.
# shellcheck disable=SC2016 # single-quoted code runs as nobody, on purpose
# shellcheck disable=SC2012 # the directory listing is what `ls` shows, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

[[ -x /usr/bin/qemu-aarch64-static ]] || skip_all "Debian's qemu-user-static is not installed"
[[ $(id -u) == 0 ]] || skip_all "needs root (another user's files in a shared directory)"
if ! command -v setpriv >/dev/null || ! id nobody >/dev/null 2>&1; then
    skip_all "needs setpriv and the user nobody"
fi
plan 14

export QEMU_BINARY_PATH=/usr/bin
unset QEMU_PRESERVE_ARGV0 QEMU_BINARY_PREFIX
WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-41-export.XXXXXX")
on_exit rm -rf "$WORK"
chmod 755 "$WORK" # nobody must reach the shared directory inside
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# --- 1-4: a symlinked DIR ---
mkdir "$WORK/real"
ln -s real "$WORK/link"
run "$BINFMT" --export "$WORK/link" --install arm64
t_is "symlinked DIR: exit 3" "$RC" 3
t_like "symlinked DIR: says it is a symlink and what to pass" "$ERR" \
    "^binfmt: export directory $WORK/link is a symbolic link: pass the directory it points to"
t_is "symlinked DIR: nothing written through it" "$(ls -A "$WORK/real")" ""
run "$BINFMT" --export "$WORK/link/" --install arm64
t_is "symlinked DIR with a trailing slash: refused too, nothing written" "$RC|$(ls -A "$WORK/real")" "3|"

# --- 5-10: a sticky, world-writable DIR where nobody was first ---
mkdir -m 1777 "$WORK/shared"
for f in qemu-aarch64.conf.tmp .qemu-aarch64.conf.tmp qemu-aarch64.conf.new; do
    as_nobody sh -c 'echo planted >"$1"' sh "$WORK/shared/$f"
done
run "$BINFMT" --export "$WORK/shared" --install arm64
t_is "sticky DIR with nobody's files: exit 0" "$RC" 0
t_is "the exported file is root's, mode 0644, a regular file" \
    "$(stat -c '%u:%g %a %F' "$WORK/shared/qemu-aarch64.conf" 2>&1)" "0:0 644 regular file"
t_like "the exported file holds the register line" "$(cat "$WORK/shared/qemu-aarch64.conf" 2>&1)" \
    $'\n:qemu-aarch64:M::'
t_is "nobody's files untouched: still nobody's, still 'planted'" \
    "$(cd "$WORK/shared" && for f in qemu-aarch64.conf.tmp .qemu-aarch64.conf.tmp qemu-aarch64.conf.new; do
        printf '%s %s|' "$(stat -c %U "$f")" "$(cat "$f")"; done)" "nobody planted|nobody planted|nobody planted|"
t_is "no temporary file left behind" "$(ls -A "$WORK/shared" | sort | paste -sd' ' -)" \
    ".qemu-aarch64.conf.tmp qemu-aarch64.conf qemu-aarch64.conf.new qemu-aarch64.conf.tmp"
# nobody's own qemu-aarch64.conf is replaced by root's (rename), never written into.
rm -f "$WORK/shared/qemu-aarch64.conf"
as_nobody sh -c 'echo planted >"$1"' sh "$WORK/shared/qemu-aarch64.conf"
run "$BINFMT" --export "$WORK/shared" --install arm64
t_is "nobody's qemu-aarch64.conf: replaced by root's 0644 file" \
    "$RC|$(stat -c '%U %a' "$WORK/shared/qemu-aarch64.conf")|$(grep -c planted "$WORK/shared/qemu-aarch64.conf")" \
    "0|root 644|0"

# --- 11-14: a name and path that leave only '#' as the delimiter ---
# ':' in the name (the prefix), "|!@%,=+~^" in the path: every other candidate is taken.
q="$WORK/q|!@%,=+~^"
mkdir "$q" "$WORK/hash"
cp /usr/bin/qemu-aarch64-static "$q/a:qemu-aarch64-static"
run env QEMU_BINARY_PREFIX=a: QEMU_BINARY_PATH="$q" "$BINFMT" --dry-run --install arm64
t_like "the dry run's register line does use '#' (the case is real)" "$OUT" '^#a:qemu-aarch64#M#'
run env QEMU_BINARY_PREFIX=a: QEMU_BINARY_PATH="$q" "$BINFMT" --export "$WORK/hash" --install arm64
t_is "'#' delimiter: exit 3" "$RC" 3
t_like "'#' delimiter: says why and what to change" "$ERR" \
    "^binfmt: entry a:qemu-aarch64 cannot be exported: .*'#', which starts a comment in binfmt.d"
t_is "'#' delimiter: nothing written" "$(ls -A "$WORK/hash")" ""

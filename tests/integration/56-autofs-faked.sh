#!/bin/bash
# binfmt's automount handling where the kernel has no autofs (55-autofs.sh then
# skips: no autofs in /proc/filesystems and no module to load, as on the VM kernels
# CI runs on) or cannot use it (binfmt_misc already mounted on the host).
#
# What is FAKED, and only that: the filesystem type. An LD_PRELOAD shim built here
# makes fstatfs(2) report AUTOFS_SUPER_MAGIC for descriptors of one directory
# (FAKE_AUTOFS_DIR), as an automount point that no daemon has mounted yet looks to
# binfmt, and logs the trigger (the stat of DIR/status by binfmt's child); with
# FAKE_AUTOFS_HANG it makes that stat block, as on a hung automounter. Everything
# else is real: binfmt's detection, its trigger child, the 5 s timeout and kill, the
# exit status and message, and the mount table, read from outside afterwards. The
# real automount (a daemon, a real autofs mount) is 55-autofs.sh's; tests/README.md
# says which machines run it.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_private_binfmt
CC=${CC:-cc}
command -v "$CC" >/dev/null || skip_all "no C compiler for the statfs shim"
for c in unshare findmnt setpriv timeout pgrep; do
    command -v "$c" >/dev/null || skip_all "$c not found"
done
plan 12

WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-56-autofs.XXXXXX") || bail_out "mktemp failed"
chmod 755 "$WORK"
on_exit rm -rf "$WORK"
mkdir "$WORK/auto"
chmod 755 "$WORK/auto"
host_before=$(host_listing)

SHIM=$WORK/autofs-shim.so
"$CC" -shared -fPIC -O2 -o "$SHIM" -x c - -ldl <<'EOF' || bail_out "cannot build the statfs shim"
/* Test-only: FAKE_AUTOFS_DIR looks like an untriggered autofs mount point. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

static int is_dir_fd(int fd)
{
	const char *dir = getenv("FAKE_AUTOFS_DIR");
	char link[64], target[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (!dir || n <= 0)
		return 0;
	target[n] = '\0';
	return !strcmp(target, dir);
}

int fstatfs(int fd, struct statfs *buf)
{
	static int (*real)(int, struct statfs *);

	if (!real)
		real = (int (*)(int, struct statfs *))dlsym(RTLD_NEXT, "fstatfs");
	if (real(fd, buf) < 0)
		return -1;
	if (is_dir_fd(fd))
		buf->f_type = 0x0187; /* AUTOFS_SUPER_MAGIC */
	return 0;
}

int stat(const char *path, struct stat *st)
{
	static int (*real)(const char *, struct stat *);
	const char *dir = getenv("FAKE_AUTOFS_DIR"), *log = getenv("FAKE_AUTOFS_LOG");
	char want[PATH_MAX];

	if (!real)
		real = (int (*)(const char *, struct stat *))dlsym(RTLD_NEXT, "stat");
	if (dir && snprintf(want, sizeof(want), "%s/status", dir) > 0 && !strcmp(path, want)) {
		int fd = log ? open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
		if (fd >= 0) {
			dprintf(fd, "trigger\n");
			close(fd);
		}
		if (getenv("FAKE_AUTOFS_HANG"))
			for (;;)
				pause();
	}
	return real(path, st);
}
EOF

D=$WORK/auto LOG=$WORK/trigger.log
export D LOG SHIM WORK
# faked [VAR=VALUE...] -- ARGS...: binfmt with the shim on $D (sets OUT ERR RC)
faked() {
    local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    : >"$LOG"
    run env "${envs[@]}" LD_PRELOAD="$SHIM" FAKE_AUTOFS_DIR="$D" FAKE_AUTOFS_LOG="$LOG" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" timeout 30 "$BINFMT" --mount "$D" "$@"
}
triggers() { grep -c trigger "$LOG"; }
fstypes_at() { findmnt -n -l -o FSTYPE --mountpoint "$1" | tr '\n' ' ' | sed 's/ $//'; }
leftovers() { pgrep -a -f -- "--mount $D" || true; }
export -f faked triggers fstypes_at leftovers

# Unprivileged (may not mount): detection only looks, never triggers.
if setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$BINFMT" 2>/dev/null; then
    : >"$LOG"
    chmod 666 "$LOG"
    run setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all env LD_PRELOAD="$SHIM" \
        FAKE_AUTOFS_DIR="$D" FAKE_AUTOFS_LOG="$LOG" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
        timeout 30 "$BINFMT" --mount "$D"
    t_is "unprivileged status on an (untriggered) automount point: exit 0, an empty registry" \
        "$RC|$(python3 -c 'import json,sys; print(json.load(sys.stdin)["emulators"])' <<<"$OUT" 2>&1)" "0|[]"
    t_is "...and it did not trigger the automount" "$(triggers)" 0
else
    skip "$BINFMT is not executable by nobody" 2
fi

# Root of a private user namespace (may mount): binfmt triggers, and when the
# automount does not come up it fails with exit 3, mounting nothing of its own.
checks() {
    faked -- --install arm64 --dry-run
    t_is "root: an automount that does not mount binfmt_misc: exit 3" "$RC" 3
    t_is "...one line naming the automount point and the systemctl fix" "$ERR" \
        "binfmt: $D is an automount point that did not mount binfmt_misc: run 'systemctl start proc-sys-fs-binfmt_misc.mount' on the host"
    t_is "...after triggering it once (its child stat'ed $D/status)" "$(triggers)" 1
    t_is "...and mounted nothing over it" "$(fstypes_at "$D")" ""

    local t0=$SECONDS
    faked FAKE_AUTOFS_HANG=1 -- --install arm64
    t_is "hung automounter: install gives up with exit 3 and the same line" "$RC|$ERR" \
        "3|binfmt: $D is an automount point that did not mount binfmt_misc: run 'systemctl start proc-sys-fs-binfmt_misc.mount' on the host"
    # The bound is the 5 s trigger timeout plus slack for a busy machine; the
    # outer timeout(1) would make it 124 after 30 s.
    diag "hung automounter: binfmt returned after $((SECONDS - t0)) s (trigger timeout 5 s)"
    t_is "...its trigger child was killed, none is left behind" "$(leftovers)" ""
    t_is "...nothing registered, nothing mounted" "$(fstypes_at "$D")|$(ls -A "$D")" "|"
}
in_private_binfmt checks
rc=$?
((rc != 125)) || t_fail "private binfmt_misc instance"

t_is "the directory is still an empty plain directory" "$(ls -A "$D")|$(fstypes_at "$D")" "|"
t_is "no binfmt process left" "$(leftovers)" ""
t_is "the host's binfmt_misc registry is unchanged" "$(host_listing)" "$host_before"

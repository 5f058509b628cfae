/* SPDX-License-Identifier: MIT */
/*
 * Interpreters (QEMU user-mode emulators): where to find them and whether they
 * are safe and able to serve a registration. The only code that opens them.
 */
#ifndef BINFMT_INTERP_H
#define BINFMT_INTERP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"

#define INTERP_MAX_DIRS 8
#define INTERP_CACHE_MAX 64

/* What interp_verify reads from an ELF image. */
struct interp_elf {
	unsigned machine, elf_class, type;
	bool dynamic;              /* has PT_INTERP, or unreadable program headers */
};

/*
 * ELF facts of the emulators already read, keyed by file identity (device,
 * inode, size, mtime, ctime): any change to a file (rewritten, replaced,
 * chmod'ed) gives it a new key, so a stale answer is never served. binfmt
 * checks every emulator before it touches anything and again under the lock;
 * the second look then costs a stat(2) per file instead of an open and libelf.
 * Permissions and ownership are checked from that stat every time. Full: no
 * more caching, never a wrong answer.
 */
struct interp_cache {
	size_t n;
	struct interp_cache_slot {
		dev_t dev;
		ino_t ino;
		off_t size;
		struct timespec mtime, ctime;
		struct interp_elf elf;
	} v[INTERP_CACHE_MAX];
};

struct interp_search {
	const char *dirs[INTERP_MAX_DIRS]; /* searched in order, as given (for messages) */
	const char *real[INTERP_MAX_DIRS]; /* realpath of each, NULL when it does not resolve */
	size_t ndirs;
	const char *prefix;                /* QEMU_BINARY_PREFIX, "" when none */
	/* Optional, set by the caller after interp_search_init (NULL: none): one
	 * run's cache for interp_find_verified. Outlives every use of this search. */
	struct interp_cache *cache;
	char storage[4 * 4096];            /* backing store for dirs built by interp_search_init */
	char real_storage[4 * 4096];       /* ... and for real */
};

/*
 * Directories to search: QEMU_BINARY_PATH-style value when given (a directory,
 * or several separated by ':'), else the staged payload next to the program
 * (<exe>/../qemu, <exe>/../lib/binfmt-installer/qemu) then /usr/bin. Each is
 * resolved (realpath) here, once: the kernel stores the interpreter path
 * verbatim, so candidates are built from clean absolute directories.
 */
int interp_search_init(struct interp_search *s, const char *path_value, const char *prefix);

/*
 * Find "<prefix>qemu-<cpu>" or "<prefix>qemu-<cpu>-static" in the search
 * directories. Returns 0 with the path in out, or -ENOENT.
 */
int interp_find(const struct interp_search *s, const char *cpu, char *out, size_t n);

struct interp_policy {
	bool need_static;       /* F registrations: the kernel runs it inside foreign rootfs */
	bool require_root_owner;/* privileged installer: owned by root, not group/other writable */
};

/*
 * Verify with libelf, through one descriptor of the fully resolved path: a
 * regular file, an ELF executable for this host's machine and class, without
 * PT_INTERP when need_static, and (when require_root_owner) owned by root and
 * not writable by group or others, in directories that are all owned by root
 * and not writable by group or others unless sticky (in a user namespace
 * without the host's root, owned outside it also counts). Returns 0 or -errno
 * with a message that names the problem and the fix.
 */
int interp_verify(const char *path, const struct interp_policy *p, struct bi_error *err);

/*
 * interp_find, trying every candidate ("qemu-<cpu>", then "-static", in each
 * directory) until one passes interp_verify: Debian's dynamic qemu-user and
 * static qemu-user-static can both be in /usr/bin. The path given back is the
 * resolved one, what to register: the kernel stores it verbatim and looks it
 * up again at every use, a symlink included. Returns -ENOENT when there
 * is no candidate at all, else the first candidate's verification error.
 * Uses and fills s->cache when set.
 */
int interp_find_verified(const struct interp_search *s, const char *cpu, const struct interp_policy *p,
			 char *out, size_t n, struct bi_error *err);

/*
 * The QEMU version of an emulator ("10.0.6"), read from the file (the text its
 * -version prints is a string literal in it), never by running it: callers
 * (root) pass files nobody verified. Returns 0, -ENOMSG when the file has no
 * version banner, or -errno.
 */
int interp_qemu_version(const char *path, char *out, size_t n);

/* What interp_verify reads from an ELF image, from memory (for the fuzzer and
 * for tests: the same libelf calls as on a file). Returns 0 or -ENOEXEC. */
int interp_elf_facts(const void *image, size_t n, struct interp_elf *out);

/* e_machine and ELF class of this very program (the host the tool was built
 * for), read from its own ELF header on the first call only. */
int interp_host_machine(unsigned *machine, unsigned *elf_class);

#endif

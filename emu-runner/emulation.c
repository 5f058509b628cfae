/* SPDX-License-Identifier: MIT */
/*
 * How foreign code runs, in order of preference (the host's own platform
 * natively; the rest of its family natively when its probe runs, native.c):
 *  1. a private binfmt_misc instance of our own user namespace (Linux >= 6.7),
 *     holding exactly one entry, flags F and P (never C), registered before
 *     the root changes so the kernel opens the host's static QEMU;
 *  2. the host's registration, when an enabled entry with F serves the
 *     target (read-only: the host's registry is never written);
 *  3. neither: one message saying what is missing and how to fix it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binfmtfs.h"
#include "emu.h"
#include "interp.h"
#include "plan.h"
#include "probe.h"
#include "util.h"

/* F: the kernel opens QEMU now, so it runs inside any root. P: argv[0] is
 * kept, which multi-call binaries (busybox applets) need. */
#define EMU_FLAGS "FP"

/*
 * --verbose's "registered: ..." line: the register string as the kernel got it.
 * emu_note escapes backslashes too (so "\x7f" of the magic would print as
 * "\x5cx7f", neither what was registered nor something to paste into
 * /proc/sys/fs/binfmt_misc/register; issue 17). A string of printable ASCII
 * only (always, but for an odd interpreter path) is printed verbatim; anything
 * else still goes through emu_note's escaping.
 */
static void note_registration(const struct emu_config *c, const char *reg, const char *tail)
{
	const char *p = reg;

	if (!c->verbose)
		return;
	while (*p >= 0x20 && *p < 0x7f)
		p++;
	if (*p)
		emu_note(c, "registered: %s%s", reg, tail);
	else
		fprintf(stderr, "emu-run: registered: %s%s\n", reg, tail);
}

/*
 * Files owned by real root show up as nobody in our namespace, so the library's
 * root-owner rule cannot apply; what matters is that nobody but root or the
 * caller could have swapped the emulator.
 */
static int check_owner(const char *path, struct bi_error *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return bi_error_set(err, -errno, "cannot stat %s: %s", path, strerror(errno));
	if (st.st_uid != 0 && st.st_uid != getuid())
		return bi_error_set(err, -EPERM, "emulator %s is owned by uid %u, neither root nor you", path,
				    (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return bi_error_set(err, -EPERM, "emulator %s is writable by group or others: chmod go-w %s", path,
				    path);
	return 0;
}

static int verify_file(const char *path, char *out, size_t n, struct bi_error *err)
{
	const struct interp_policy policy = { .need_static = true, .require_root_owner = false };
	char real[PATH_MAX];
	int r;

	/* The kernel stores the interpreter path verbatim: make it absolute. */
	if (!realpath(path, real))
		return bi_error_set(err, -errno, "--qemu %s: %s", path, strerror(errno));
	r = interp_verify(real, &policy, err);
	if (r == 0)
		r = check_owner(real, err);
	return r < 0 ? r : copy_str(out, n, real);
}

static int find_qemu(const struct emu_config *c, struct emulation *em, struct bi_error *err)
{
	const struct interp_policy policy = { .need_static = true, .require_root_owner = false };
	struct interp_search s;
	struct bi_error e = { 0 };
	struct stat st;
	int r;

	if (c->qemu && stat(c->qemu, &st) < 0)
		return bi_error_set(err, -errno, "--qemu %s: %s", c->qemu, strerror(errno));
	if (c->qemu && !S_ISDIR(st.st_mode))
		return verify_file(c->qemu, em->qemu, sizeof(em->qemu), err);
	/* --qemu DIR searches only there; the default is the staged payload
	 * next to the program (<bindir>/../qemu), then /usr/bin. */
	if (interp_search_init(&s, c->qemu, "") < 0)
		return bi_error_set(err, -EINVAL, "--qemu %s: not a file or directory", c->qemu);
	r = interp_find_verified(&s, c->target->cpu, &policy, em->qemu, sizeof(em->qemu), &e);
	if (r == 0)
		r = check_owner(em->qemu, &e);
	/* With --qemu DIR the hint names that directory: "or pass --qemu" told
	 * someone who had just passed it to do so (issue 17). */
	if (r == -ENOENT && c->qemu)
		snprintf(em->qemu_problem, sizeof(em->qemu_problem),
			 "--qemu %s: no qemu-%s or qemu-%s-static there", c->qemu, c->target->cpu, c->target->cpu);
	else if (r == -ENOENT)
		snprintf(em->qemu_problem, sizeof(em->qemu_problem),
			 "no qemu-%s[-static] in %s%s (install qemu-user-static, or pass --qemu)", c->target->cpu,
			 s.dirs[0], s.ndirs > 1 ? " or the other search directories" : "");
	else if (r < 0)
		snprintf(em->qemu_problem, sizeof(em->qemu_problem), "%s", e.msg);
	if (r < 0)
		em->qemu[0] = '\0';
	/* Not fatal: the host's registration may still serve (path 2). */
	return c->qemu && r < 0 ? bi_error_set(err, r, "%s", em->qemu_problem) : 0;
}

int emulation_prepare(const struct emu_config *c, struct emulation *em, struct bi_error *err)
{
	struct bi_error e = { 0 };

	memset(em, 0, sizeof(*em));
	em->instance_fd = -1;
	if (c->native) {
		em->path = EMU_PATH_NATIVE;
		return 0;
	}
	if (c->no_private_binfmt) {
		snprintf(em->private_problem, sizeof(em->private_problem), "%s is set", EMU_ENV_NO_PRIVATE);
		return 0;
	}
	if (!c->compat)
		return find_qemu(c, em, err);
	/* The host's family usually runs natively (the sandbox finds out): an
	 * emulator, even a --qemu that cannot be used, only matters if not. */
	if (find_qemu(c, em, &e) < 0 && !em->qemu_problem[0])
		snprintf(em->qemu_problem, sizeof(em->qemu_problem), "%s", e.msg);
	return 0;
}

/* A new binfmt_misc superblock, never attached anywhere: only our fd keeps
 * the instance (and its entry) alive, and nothing on any path shows it. */
static int open_private_instance(struct binfmtfs *fs, struct bi_error *err)
{
	_cleanup_close_ int fsfd = fsopen("binfmt_misc", FSOPEN_CLOEXEC);
	_cleanup_free_ struct binfmt_entry *entries = NULL;
	size_t n = 0;

	memset(fs, 0, sizeof(*fs));
	fs->dirfd = -1;
	if (fsfd < 0 || fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return bi_error_set(err, -errno,
				    "cannot mount binfmt_misc in a user namespace: %s (needs Linux >= 6.7, this is %u.%u)",
				    strerror(errno), bfs_kernel_version() / 1000, bfs_kernel_version() % 1000);
	fs->dirfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (fs->dirfd < 0)
		return bi_error_set(err, -errno, "cannot mount binfmt_misc: %s", strerror(errno));
	snprintf(fs->path, sizeof(fs->path), "binfmt_misc (private instance)");
	fs->mounted_here = fs->fresh_instance = fs->private_userns = true;
	/* Belt and braces: an instance with entries is someone else's (the
	 * host's, were we in the initial user namespace). Never write to it. */
	if (bfs_list(fs, &entries, &n, err) < 0 || n > 0) {
		bfs_close(fs);
		return n ? bi_error_set(err, -EEXIST, "binfmt_misc instance is not empty: not a private one") : -EIO;
	}
	return 0;
}

static int run_probe(const struct emu_config *c, struct emulation *em, const struct probe *p)
{
	char why[sizeof(em->probe_failed)];
	int r = native_probe_run(p, why, sizeof(why));

	if (r == 0) {
		snprintf(em->native_note, sizeof(em->native_note), "%s runs natively here (%s)", c->arch, why);
		em->path = EMU_PATH_NATIVE;
		return 0;
	}
	snprintf(em->probe_failed, sizeof(em->probe_failed), "%s", why);
	snprintf(em->native_note, sizeof(em->native_note), "%s does not run natively here (probe: %s): emulating",
		 c->arch, why);
	return r;
}

/* The host's family without a probe program of its own (riscv32 on riscv64,
 * say): QEMU's family table is all there is to go by. */
static void assume_native(const struct emu_config *c, struct emulation *em)
{
	snprintf(em->native_note, sizeof(em->native_note),
		 "%s: no probe program for it, assuming it runs natively as the host's family does", c->arch);
	em->path = EMU_PATH_NATIVE;
}

/* The host's family, probed in our private instance while it is still
 * empty: nothing can take the probe there, so its answer is the kernel's. */
static int probe_in_instance(const struct emu_config *c, struct emulation *em)
{
	const struct probe *p = native_probe_for(c->target);

	if (!p) {
		assume_native(c, em);
		return 0;
	}
	return run_probe(c, em, p);
}

static int register_entry(const struct emu_config *c, struct emulation *em, struct binfmtfs *fs,
			  struct bi_error *err)
{
	struct binfmt_entry e;
	int r;

	if (!em->qemu[0])
		return bi_error_set(err, -ENOENT, "%s", em->qemu_problem);
	r = plan_entry_for(c->target, "", em->qemu, EMU_FLAGS, &e);
	if (r < 0)
		return bi_error_set(err, r, "emulator path %s is longer than %d bytes", em->qemu, ENTRY_INTERP_MAX);
	if (entry_format_register(&e, em->registration, sizeof(em->registration)) < 0)
		return bi_error_set(err, -EINVAL, "cannot format the entry for %s", em->qemu);
	return bfs_register(fs, &e, err);
}

int emulation_set_interpreter(const struct emu_config *c, struct emulation *em, const char *interp,
			      const char *qemu_here, struct bi_error *err)
{
	struct binfmtfs fs = { .dirfd = em->instance_fd, .private_userns = true };
	struct binfmt_entry e, old;
	struct bi_error ignored = { 0 };
	int r;

	if (em->path != EMU_PATH_PRIVATE || em->instance_fd < 0)
		return bi_error_set(err, -EINVAL, "the step does not use emu-run's private binfmt_misc instance");
	if (plan_entry_for(c->target, "", interp, EMU_FLAGS, &e) < 0 ||
	    plan_entry_for(c->target, "", qemu_here, EMU_FLAGS, &old) < 0)
		return bi_error_set(err, -ENAMETOOLONG, "interpreter path too long");
	/* Nothing runs in the instance meanwhile: the step has not started. */
	if ((r = bfs_remove(&fs, e.name, err)) < 0)
		return r;
	if ((r = bfs_register(&fs, &e, err)) < 0) {
		struct bi_error first = *err; /* err->msg cannot be both the format's source and its target */
		/* Without it nothing of the step's could run: say so, not "exec format error". */
		if (bfs_register(&fs, &old, &ignored) < 0)
			return bi_error_set(err, -ENOEXEC, "%s; and the QEMU entry could not be put back: %s", first.msg,
					    ignored.msg);
		return r;
	}
	entry_format_register(&e, em->registration, sizeof(em->registration));
	note_registration(c, em->registration, " (the launcher, which runs QEMU for all but the accelerated tools, with the CPU model)");
	return 0;
}

/*
 * Path 1. For the host's family the probe runs first, in the same fresh
 * instance: when it passes, the step runs natively, and the (empty) instance
 * is kept so that it meets the kernel the probe met - no host entry for i386
 * can take its programs either.
 */
static int use_private(const struct emu_config *c, struct emulation *em, struct bi_error *err)
{
	struct binfmtfs fs;
	int r;

	if (!c->compat && !em->qemu[0])
		return bi_error_set(err, -ENOENT, "%s", em->qemu_problem);
	if (!bfs_in_private_userns())
		return bi_error_set(err, -EPERM, "not in a user namespace of our own");
	r = open_private_instance(&fs, err);
	if (r < 0)
		return r;
	em->own_instance = true;
	if (!c->compat || probe_in_instance(c, em) < 0)
		r = register_entry(c, em, &fs, err);
	if (r < 0) {
		bfs_close(&fs);
		return r;
	}
	if (em->path != EMU_PATH_NATIVE)
		em->path = EMU_PATH_PRIVATE;
	em->instance_fd = fs.dirfd;
	return 0;
}

static bool serves(const struct binfmt_entry *e, const struct target *t)
{
	return e->enabled && plan_target_of_entry(e) == t;
}

/* The visible registry's entries, when it is mounted and enabled; else
 * -ENOENT with why. */
static int visible_entries(struct binfmt_entry **entries, size_t *count, char *why, size_t n)
{
	struct bi_error e = { 0 };
	struct binfmtfs fs;
	bool on = false;
	int r = -ENOENT;

	*entries = NULL;
	*count = 0;
	if (bfs_open_mounted(&fs, NULL, &e) < 0) {
		snprintf(why, n, "%s", e.msg);
		return -ENOENT;
	}
	if (fs.dirfd < 0)
		snprintf(why, n, "binfmt_misc is not mounted at %s", BINFMTFS_DEFAULT_MOUNT);
	else if (bfs_status_enabled(&fs, &on) < 0 || !on)
		snprintf(why, n, "binfmt_misc is disabled at %s", BINFMTFS_DEFAULT_MOUNT);
	else if (bfs_list(&fs, entries, count, &e) < 0)
		snprintf(why, n, "%s", e.msg);
	else
		r = 0;
	bfs_close(&fs);
	return r;
}

/*
 * The host's family without a private instance: the host's registry comes
 * first. An enabled entry that takes the probe takes every program of the
 * target, whatever the CPU could do (then path 2 decides); only without one
 * does a plain exec tell the truth. A registry that is not visible here
 * (mounted elsewhere, or a kernel before 6.7 that keeps entries unmounted)
 * cannot be checked: the probe is believed then.
 */
static int probe_outside(const struct emu_config *c, struct emulation *em)
{
	const struct probe *p = native_probe_for(c->target);
	_cleanup_free_ struct binfmt_entry *entries = NULL;
	const struct binfmt_entry *by;
	char why[300];
	size_t count = 0;

	if (!p) {
		assume_native(c, em);
		return 0;
	}
	visible_entries(&entries, &count, why, sizeof(why));
	by = native_probe_taken_by(p, entries, count);
	if (by) {
		snprintf(em->native_note, sizeof(em->native_note),
			 "%s: the host's binfmt_misc entry %s takes its programs before the kernel's own loader: "
			 "emulating", c->arch, by->name);
		return -EEXIST;
	}
	return run_probe(c, em, p);
}

/* Path 2: an enabled entry with F for our target in the visible registry. */
static int find_host_entry(const struct emu_config *c, struct emulation *em, char *why, size_t n)
{
	_cleanup_free_ struct binfmt_entry *entries = NULL;
	size_t count = 0;
	int r = -ENOENT;

	if (visible_entries(&entries, &count, why, n) < 0)
		return -ENOENT;
	snprintf(why, n, "no enabled entry for %s at %s", c->target->cpu, BINFMTFS_DEFAULT_MOUNT);
	for (size_t i = 0; i < count && r < 0; i++) {
		if (!serves(&entries[i], c->target))
			continue;
		if (!strchr(entries[i].flags, 'F')) {
			/* Without F the kernel looks the emulator up inside the root. */
			snprintf(why, n, "host entry %s has no F flag", entries[i].name);
			continue;
		}
		snprintf(em->host_entry, sizeof(em->host_entry), "%s", entries[i].name);
		snprintf(em->qemu, sizeof(em->qemu), "%s", entries[i].interpreter);
		r = 0;
	}
	return r;
}

/* "it does not run natively here (probe: ...), " for the host's family, else "". */
static const char *not_native(const struct emulation *em, char *buf, size_t n)
{
	if (!em->probe_failed[0])
		return "";
	snprintf(buf, n, "it does not run natively here (probe: %s), ", em->probe_failed);
	return buf;
}

int emulation_choose(const struct emu_config *c, struct emulation *em, const char *no_private,
		     struct bi_error *err)
{
	struct bi_error e = { 0 };
	char why[1024], nn[400];

	if (em->path == EMU_PATH_NATIVE)
		return 0;
	if (no_private && !em->private_problem[0])
		snprintf(em->private_problem, sizeof(em->private_problem), "%s", no_private);
	if (!em->private_problem[0]) {
		if (use_private(c, em, &e) == 0)
			return 0;
		snprintf(em->private_problem, sizeof(em->private_problem), "%s", e.msg);
	}
	/* Exec lookups stop at the first user namespace with an instance of
	 * its own, even an empty or closed one: path 2 cannot work in ours now. */
	if (em->own_instance)
		return bi_error_set(err, -ENOEXEC, "cannot run %s code: %sthe private binfmt_misc instance failed (%s), "
				    "and the host's registrations no longer apply in its user namespace",
				    target_display_name(c->target), not_native(em, nn, sizeof(nn)), em->private_problem);
	if (c->compat && probe_outside(c, em) == 0)
		return 0;
	if (find_host_entry(c, em, why, sizeof(why)) == 0) {
		em->path = EMU_PATH_HOST;
		return 0;
	}
	return bi_error_set(err, -ENOEXEC,
			    "cannot run %s code: %sno private binfmt_misc instance (%s), and no usable host "
			    "registration (%s). Fix: Linux >= 6.7 with user namespaces enabled (sysctl "
			    "user.max_user_namespaces > 0, kernel.unprivileged_userns_clone=1, "
			    "kernel.apparmor_restrict_unprivileged_userns=0), or register QEMU on the host: "
			    "binfmt --install %s",
			    target_display_name(c->target), not_native(em, nn, sizeof(nn)), em->private_problem, why,
			    c->arch);
}

void emulation_report(const struct emu_config *c, const struct emulation *em)
{
	char version[64] = "unknown version";

	if (em->path == EMU_PATH_HOST)
		emu_err("note: no private binfmt_misc instance (%s): using the host's registration %s",
			em->private_problem, em->host_entry);
	if (!c->verbose)
		return;
	if (em->native_note[0])
		emu_note(c, "%s", em->native_note);
	if (em->path == EMU_PATH_NATIVE) {
		if (!em->native_note[0])
			emu_note(c, "%s runs natively here: no emulation", target_display_name(c->target));
		return;
	}
	if (em->qemu[0] && interp_qemu_version(em->qemu, version, sizeof(version)) < 0)
		snprintf(version, sizeof(version), "unknown version");
	emu_note(c, "emulation: %s", em->path == EMU_PATH_PRIVATE ? "private binfmt_misc instance (path 1)"
								  : "the host's binfmt_misc registration (path 2)");
	emu_note(c, "QEMU: %s (%s)", em->qemu, version);
	if (em->path == EMU_PATH_PRIVATE)
		note_registration(c, em->registration, "");
	else
		emu_note(c, "host entry: %s/%s", BINFMTFS_DEFAULT_MOUNT, em->host_entry);
}

/* SPDX-License-Identifier: MIT */
/*
 * Pid 1 of the new namespaces: choose the emulation path (registering in a
 * private binfmt_misc instance while the host's QEMU is still in view), build
 * the root, pivot into it, then fork the step and stay as its reaper and
 * signal forwarder. When pid 1 exits, the kernel kills whatever the step left.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <linux/securebits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu.h"
#include "util.h"

/* An unprivileged user's namespace holds that user's own id (as 0) and, where
 * it has them, its subordinate ranges (as 1..N). */
static bool step_has_uid(const struct step_ids *ids, unsigned id)
{
	return ids && ids->on ? idmap_to_host(ids->uid_map, id, NULL) : ns_id_mapped("/proc/self/uid_map", id);
}

static bool step_has_gid(const struct step_ids *ids, unsigned id)
{
	return ids && ids->on ? idmap_to_host(ids->gid_map, id, NULL) : ns_id_mapped("/proc/self/gid_map", id);
}

/* ... and a root caller's step holds its range's ids (idmap.c). */
static int check_mapped(const struct emu_config *c, const struct step_ids *ids, struct emu_user *u,
			struct bi_error *err)
{
	bool can_set = ns_setgroups_allowed();
	size_t n = 0;

	const char *single = ns_single_ids_why();

	if (ids && ids->on && (!step_has_uid(ids, u->uid) || !step_has_gid(ids, u->gid)))
		return bi_error_set(err, -EINVAL,
				    "--user %s (uid %u, gid %u): the step's user namespace holds ids 0 to %lu and "
				    "gids 0 to %lu only (the host's %lu and up, %s); use a user within them",
				    c->user, (unsigned)u->uid, (unsigned)u->gid, ids->uids - 1, ids->gids - 1, ids->uid0,
				    ids->from_subid ? "root's ranges in /etc/subuid and /etc/subgid"
						    : "emu-run's default block: give root larger ranges in /etc/subuid "
						      "and /etc/subgid");
	if (!step_has_uid(ids, u->uid) || !step_has_gid(ids, u->gid)) {
		if (single)
			return bi_error_set(err, -EINVAL,
					    "--user %s (uid %u, gid %u): that id does not exist in emu-run's user "
					    "namespace, which holds only your own ids (as root): %s",
					    c->user, (unsigned)u->uid, (unsigned)u->gid, single);
		return bi_error_set(err, -EINVAL,
				    "--user %s (uid %u, gid %u): that id is outside the ids mapped in emu-run's user "
				    "namespace (your own as root, then your subordinate ranges); use a user within them",
				    c->user, (unsigned)u->uid, (unsigned)u->gid);
	}
	/* Groups that do not exist here cannot be set (nor could they be
	 * dropped where setgroups is denied). */
	for (size_t i = 0; i < u->ngroups && can_set; i++)
		if (step_has_gid(ids, u->groups[i]))
			u->groups[n++] = u->groups[i];
	u->ngroups = n;
	return 0;
}

/*
 * emu-run's fd names the directory through its own mount namespace, where
 * nothing may be mounted or cloned from here: open it again in ours, and make
 * sure it is still the same directory.
 */
static int reopen_rootfs(const struct sandbox_args *a, struct rootfs *r, struct bi_error *err)
{
	struct stat was, is;

	r->rootfd = open(a->c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->rootfd < 0)
		return bi_error_set(err, -errno, "--rootfs %s: %s", a->c->rootfs, strerror(errno));
	if (fstat(a->rootfd, &was) < 0 || fstat(r->rootfd, &is) < 0 || was.st_dev != is.st_dev ||
	    was.st_ino != is.st_ino)
		return bi_error_set(err, -ESTALE, "--rootfs %s changed while emu-run started", a->c->rootfs);
	return 0;
}

struct fs_ids {
	bool changed;
	int bits; /* our securebits before */
};

/*
 * What we create in a root caller's idmapped root (mount points, the working
 * directory, /dev and its tmpfs) is created as the step's root, host uid
 * ids->uid0: the step then sees it as its root's, and on disk it is the
 * host's root's (the idmap); as our own uid 0 the kernel could not store it
 * there at all (EOVERFLOW: 0 has no place in the idmap). Our capabilities
 * stay meanwhile (SECBIT_NO_SETUID_FIXUP), over every file our namespace
 * maps, as before.
 */
static int as_step_root(const struct step_ids *ids, struct fs_ids *fs)
{
	fs->changed = false;
	if (!ids || !ids->on)
		return 0;
	fs->bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (fs->bits < 0 || prctl(PR_SET_SECUREBITS, (unsigned long)fs->bits | SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0)
		return -errno;
	fs->changed = true;
	setfsuid((uid_t)ids->uid0);
	setfsgid((gid_t)ids->gid0);
	/* setfsuid() reports no errors: ask again. */
	if ((unsigned long)setfsuid((uid_t)-1) != ids->uid0 || (unsigned long)setfsgid((gid_t)-1) != ids->gid0)
		return -EPERM;
	return 0;
}

/* Back to our own; the parent-death signal again: every change of our
 * fsuid cleared it (commit_creds), and should emu-run have died meanwhile,
 * its end of the report pipe is closed and we go too. */
static int as_own_ids(const struct fs_ids *fs, int report_fd)
{
	struct pollfd p = { .fd = report_fd, .events = 0 };

	if (!fs->changed)
		return 0;
	setfsuid(0);
	setfsgid(0);
	if (prctl(PR_SET_SECUREBITS, (unsigned long)fs->bits, 0, 0, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return -errno;
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR))
		_exit(EMU_EXIT_ERROR);
	return 0;
}

/* The launcher becomes the interpreter of our private entry, for the
 * accelerated tools or the CPU model (cpu.c): with the host's registration
 * (path 2) there is nothing of ours to change. */
static bool wants_launcher(const struct sandbox_args *a)
{
	return a->accel && (a->accel->n || a->em->cpu);
}

static int mount_accel(const struct sandbox_args *a, struct rootfs *r)
{
	int n;

	if (!wants_launcher(a))
		return 0;
	if (a->em->path != EMU_PATH_PRIVATE) {
		if (a->accel->n)
			emu_note(a->c, "accel: everything stays emulated: the step does not use emu-run's private "
				 "binfmt_misc instance");
		return 0;
	}
	n = accel_mount(a->c, a->accel, a->em, r->mntfd, r->devfd);
	return n < 0 ? n : 0;
}

static int check_accel(const struct sandbox_args *a, struct bi_error *err)
{
	int n = 0;

	if (wants_launcher(a) && a->em->path == EMU_PATH_PRIVATE)
		n = accel_check(a->c, a->accel, a->em, err);
	return n < 0 ? n : 0;
}

static int setup_rootfs(const struct sandbox_args *a, struct rootfs *r, struct emu_user *u, struct bi_error *err)
{
	const struct emu_config *c = a->c;
	struct fs_ids fs = { 0 };
	int e, f;

	if ((e = reopen_rootfs(a, r, err)) < 0 || (e = rootfs_attach(c, r, err)) < 0)
		return e;
	/* Before anything is mounted into the root: passwd is the root's own. */
	if ((e = user_resolve(r->mntfd, c->user, u, err)) < 0 || (e = check_mapped(c, a->ids, u, err)) < 0)
		return e;
	if (sethostname(EMU_HOSTNAME, strlen(EMU_HOSTNAME)) < 0)
		return bi_error_set(err, -errno, "sethostname: %s", strerror(errno));
	if ((e = as_step_root(a->ids, &fs)) < 0)
		return bi_error_set(err, e, "cannot take the step's ids for its root: %s", strerror(-e));
	if ((e = rootfs_mount_all(c, r, err)) == 0 && (e = mount_accel(a, r)) == 0 && (e = rootfs_pivot(r, err)) == 0 &&
	    (e = check_accel(a, err)) == 0)
		e = workdir_create(c->workdir ? c->workdir : "/", err);
	if ((f = as_own_ids(&fs, a->report_fd)) < 0 && e == 0)
		e = bi_error_set(err, f, "cannot take our own ids back: %s", strerror(-f));
	return e;
}

static int setup_hostfs(const struct sandbox_args *a, struct emu_user *u, struct bi_error *err)
{
	_cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int e;

	if ((e = user_resolve(root, a->c->user, u, err)) < 0 || (e = check_mapped(a->c, NULL, u, err)) < 0)
		return e;
	return hostfs_mount_all(a->c, err);
}

static int setup(const struct sandbox_args *a, struct rootfs *r, struct emu_user *u, struct bi_error *err)
{
	const struct emu_config *c = a->c;
	int e;

	umask(022);
	/* Nothing we mount may propagate back to the host. */
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return bi_error_set(err, -errno, "cannot make the mount namespace private: %s", strerror(errno));
	e = emulation_choose(c, a->em, a->userns ? NULL : "no user namespace (user namespaces unavailable)", err);
	if (e < 0)
		return e;
	emulation_report(c, a->em);
	if (c->network == EMU_NET_NONE && (e = ns_loopback_up()) < 0)
		emu_note(c, "cannot bring up lo: %s", strerror(-e));
	return c->rootfs ? setup_rootfs(a, r, u, err) : setup_hostfs(a, u, err);
}

/*
 * pid 1 keeps only what it needs: stdin/out/err, the report pipe and, until
 * the root is set up, emu-run's fd of --rootfs. Everything else the caller
 * left open (and that clone3 copied) could be reached through /proc/1/fd
 * were pid 1 ever readable to the step; it is not (not dumpable), but it
 * holds nothing either.
 */
static int cmp_int(const void *x, const void *y)
{
	return (*(const int *)x > *(const int *)y) - (*(const int *)x < *(const int *)y);
}

static int close_inherited(const struct sandbox_args *a)
{
	const struct step_ids *ids = a->ids;
	size_t nb = ids && ids->bind_mnt ? ids->nbinds : 0, n = 0;
	_cleanup_free_ int *keep = calloc(3 + nb, sizeof(*keep));

	if (!keep)
		return -ENOMEM;
	keep[n++] = a->report_fd;
	if (a->rootfd >= 0)
		keep[n++] = a->rootfd;
	/* A root caller's idmapped root and binds (idmap.c), until mounted. */
	if (ids && ids->root_mnt >= 0)
		keep[n++] = ids->root_mnt;
	for (size_t i = 0; i < nb; i++)
		if (ids->bind_mnt[i] >= 0)
			keep[n++] = ids->bind_mnt[i];
	qsort(keep, n, sizeof(*keep), cmp_int);
	return confine_close_inherited(keep, n);
}

/*
 * The step in a user namespace of its own, a child of ours: every mount we
 * made becomes locked to it (MNT_LOCKED with its read-only, nosuid, nodev and
 * noexec flags), so /proc/sys, /sys and the masks cannot be unmounted or
 * remounted from inside, and its capabilities are over that namespace only,
 * not over our mounts or pid 1. Without a user namespace (root with
 * --unsafe-no-userns, or without --rootfs) the step is the host's root:
 * seccomp denies what would reach the host's kernel state.
 */
static pid_t start_step(const struct sandbox_args *a, struct step *s)
{
	struct bi_error err = { 0 };
	int go, e;
	pid_t pid;

	s->confine = true;
	s->host_root = ns_root_is_host_root();
	/* Files a host-root step creates are the host's root's, setuid ones too. */
	s->seccomp = s->host_root ? CONFINE_NO_SETUID : 0;
	if (!a->userns) {
		s->no_userns = true;
		s->seccomp |= CONFINE_NO_KERNEL;
		/* No map to write: the step inherits "not dumpable" until exec. */
		if ((e = confine_not_dumpable()) < 0) {
			emu_err("cannot make pid 1 undumpable: %s", strerror(-e));
			return -1;
		}
		pid = fork();
		if (pid == 0)
			step_exec(s);
		if (pid < 0)
			emu_err("fork: %s", strerror(errno));
		return pid;
	}
	pid = ns_spawn_step(a->ids, &go, &err);
	if (pid == 0)
		step_exec(s);
	if (pid < 0) {
		emu_err("%s", err.msg);
		return -1;
	}
	/* Only now: a child forked while we were undumpable is undumpable
	 * too, its /proc/PID/uid_map then the initial namespace's root's,
	 * which our uid is not when an unprivileged user runs emu-run (tried:
	 * "cannot write the step's id maps: Permission denied"). The step's
	 * exec makes it dumpable again, as any process's. */
	if ((e = confine_not_dumpable()) < 0 || (e = ns_step_go(go)) < 0) {
		emu_err("cannot start the step: %s", strerror(-e));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

int sandbox_main(const struct sandbox_args *a)
{
	struct bi_error err = { 0 };
	struct rootfs r;
	struct emu_user u;
	struct step s;
	char **env;
	pid_t pid;
	int e;

	if ((e = close_inherited(a)) < 0) {
		emu_err("cannot close inherited descriptors: %s", strerror(-e));
		return EMU_EXIT_ERROR;
	}
	rootfs_init(&r, -1);
	r.ids = a->ids;
	e = setup(a, &r, &u, &err);
	/* It names the rootfs through emu-run's mount namespace, where the
	 * host's whole tree hangs above it: not one moment longer. */
	if (a->rootfd >= 0)
		close(a->rootfd);
	/* emu-run removes what we created, also after a failure. */
	if (!a->c->overlay)
		placeholders_send(a->report_fd, &r.ph);
	close(a->report_fd);
	rootfs_release(&r);
	if (e < 0) {
		emu_err("%s", err.msg);
		return EMU_EXIT_ERROR;
	}
	cpu_report(a->c, a->em);
	env = env_build(a->c, &u, cpu_env_value(a->em));
	if (!env) {
		emu_err("out of memory");
		return EMU_EXIT_ERROR;
	}
	s = (struct step){ .argv = a->c->argv, .envp = env, .user = &u, .set_groups = ns_setgroups_allowed(),
			   .workdir = a->c->rootfs ? (a->c->workdir ? a->c->workdir : "/") : a->c->workdir };
	pid = start_step(a, &s);
	env_free(env);
	if (pid < 0)
		return EMU_EXIT_ERROR;
	return init_wait_forward(pid, true);
}

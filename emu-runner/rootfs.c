/* SPDX-License-Identifier: MIT */
/*
 * The root a step sees, as BuildKit's runc executor builds it: the rootfs
 * (bound, or under a throw-away overlay), fresh /proc, a minimal /dev, a
 * read-only /sys, generated /etc/hosts, the host's resolv.conf, --bind mounts.
 *
 * Everything uses the fd-based mount API. Host sources are opened first, before
 * anything covers a host path; targets are resolved inside the root one at a
 * time (resolve.c) and mounts go onto the resulting fds, so no symlink in the
 * rootfs can redirect a mount. A tmpfs of ours ("scratch") is mounted over the
 * rootfs directory in our private mount namespace (the host sees nothing) and
 * holds the root mount point, the /etc/hosts file and the overlay's upper
 * layer; pivot_root then leaves only the root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "emu.h"
#include "util.h"

#define LOCKDOWN (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)
#define HOSTS_TEXT "127.0.0.1\tlocalhost " EMU_HOSTNAME "\n::1\tlocalhost ip6-localhost ip6-loopback\n"

static const char *const dev_nodes[EMU_DEV_NODES] = { "null", "zero", "full", "random", "urandom", "tty" };
/* What runc masks and makes read-only in /proc. */
static const char *const proc_masked_files[] = { "kcore", "keys", "latency_stats", "timer_list", "timer_stats",
						 "sched_debug" };
static const char *const proc_masked_dirs[] = { "acpi", "asound", "scsi" };
static const char *const proc_readonly[] = { "bus", "fs", "irq", "sys", "sysrq-trigger" };

struct opt {
	const char *key, *value; /* value NULL: a flag */
};

static int fs_new(const char *type, const struct opt *o, size_t n, unsigned attrs, struct bi_error *err)
{
	_cleanup_close_ int fs = fsopen(type, FSOPEN_CLOEXEC);
	int m;

	if (fs < 0)
		return bi_error_set(err, -errno, "cannot mount %s: %s", type, strerror(errno));
	for (size_t i = 0; i < n; i++)
		if (fsconfig(fs, o[i].value ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, o[i].key, o[i].value, 0) < 0)
			return bi_error_set(err, -errno, "cannot mount %s (%s): %s", type, o[i].key, strerror(errno));
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 || (m = fsmount(fs, FSMOUNT_CLOEXEC, attrs)) < 0)
		return bi_error_set(err, -errno, "cannot mount %s: %s", type, strerror(errno));
	return m;
}

static int clone_tree(int dfd, const char *path, bool recursive)
{
	unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0) | (*path ? 0 : AT_EMPTY_PATH);
	int m = open_tree(dfd, path, flags);

	return m < 0 ? -errno : m;
}

static int set_attrs(int m, unsigned set, bool recursive)
{
	struct mount_attr a = { .attr_set = set };

	return mount_setattr(m, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof(a)) < 0 ? -errno : 0;
}

/* Mount m onto the object target refers to (resolved inside the root). */
static int attach(int m, int target)
{
	return move_mount(m, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0 ? -errno : 0;
}

/* Mount m onto name in a filesystem of our own making (nothing hostile in it). */
static int attach_at(int m, int dirfd, const char *name)
{
	return move_mount(m, "", dirfd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0 ? -errno : 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void rootfs_init(struct rootfs *r, int rootfd)
{
	memset(r, 0, sizeof(*r));
	r->rootfd = rootfd;
	r->mntfd = r->scratch = r->devfd = r->sys = r->resolv = r->console = -1;
	for (size_t i = 0; i < EMU_DEV_NODES; i++)
		r->dev[i] = -1;
}

void rootfs_release(struct rootfs *r)
{
	for (size_t i = 0; i < EMU_DEV_NODES; i++)
		close_fd(&r->dev[i]);
	close_fd(&r->sys);
	close_fd(&r->resolv);
	close_fd(&r->console);
	close_fd(&r->scratch);
	close_fd(&r->devfd);
	close_fd(&r->mntfd);
	close_fd(&r->rootfd);
	for (size_t i = 0; i < r->nbinds; i++)
		close_fd(&r->binds[i]);
	free(r->binds);
	free(r->bind_dir);
	r->nbinds = 0;
	r->binds = NULL;
	r->bind_dir = NULL;
	placeholders_free(&r->ph);
}

/* Loopback-only servers (systemd-resolved's 127.0.0.53) are useless to a
 * step; systemd keeps the real upstream list next to it. */
static bool only_loopback(const char *file)
{
	_cleanup_fclose_ FILE *f = fopen(file, "re");
	char line[512], addr[256];
	int servers = 0, loop = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, " nameserver %255s", addr) == 1) {
			servers++;
			loop += !strncmp(addr, "127.", 4) || !strcmp(addr, "::1");
		}
	return servers > 0 && loop == servers;
}

static int open_resolv(void)
{
	const char *src = "/etc/resolv.conf", *systemd = "/run/systemd/resolve/resolv.conf";
	int m;

	if (only_loopback(src) && access(systemd, R_OK) == 0)
		src = systemd;
	m = clone_tree(AT_FDCWD, src, false);
	if (m >= 0 && set_attrs(m, MOUNT_ATTR_RDONLY | LOCKDOWN, false) < 0)
		close_fd(&m);
	return m < 0 ? -1 : m;
}

/*
 * The caller's terminal lives in the host's devpts, not in the step's new one,
 * so ttyname() finds nothing for it. Like runc, bind it to /dev/console, where
 * ttyname()'s scan of /dev finds it: that one terminal, nothing else of the
 * host's devpts.
 */
static int open_console(void)
{
	char link[32], path[PATH_MAX];
	struct stat want, got;
	ssize_t k;
	int m;

	for (int fd = 0; fd <= 2; fd++) {
		if (!isatty(fd) || fstat(fd, &want) < 0)
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		k = readlink(link, path, sizeof(path) - 1);
		if (k <= 0)
			continue;
		path[k] = '\0';
		/* By name, in our mount namespace; the same device or nothing. */
		m = clone_tree(AT_FDCWD, path, false);
		if (m >= 0 && fstat(m, &got) == 0 && got.st_rdev == want.st_rdev && S_ISCHR(got.st_mode))
			return m;
		if (m >= 0)
			close(m);
	}
	return -1;
}

static int open_binds(const struct emu_config *c, struct rootfs *r, struct bi_error *err)
{
	struct stat st;

	r->binds = calloc(c->nbinds + 1, sizeof(*r->binds));
	r->bind_dir = calloc(c->nbinds + 1, sizeof(*r->bind_dir));
	if (!r->binds || !r->bind_dir)
		return bi_error_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < c->nbinds; i++)
		r->binds[i] = -1;
	r->nbinds = c->nbinds;
	for (size_t i = 0; i < c->nbinds; i++) {
		/* A root caller's, idmapped by emu-run (idmap.c): ours now. */
		if (r->ids && r->ids->bind_mnt && i < r->ids->nbinds && r->ids->bind_mnt[i] >= 0) {
			r->binds[i] = r->ids->bind_mnt[i];
			r->ids->bind_mnt[i] = -1;
		} else {
			/* Recursive, as docker run -v: what is mounted below comes along. */
			r->binds[i] = clone_tree(AT_FDCWD, c->binds[i].src, true);
		}
		if (r->binds[i] < 0)
			return bi_error_set(err, r->binds[i], "--bind %s: %s", c->binds[i].src, strerror(-r->binds[i]));
		if (fstat(r->binds[i], &st) < 0)
			return bi_error_set(err, -errno, "--bind %s: %s", c->binds[i].src, strerror(errno));
		r->bind_dir[i] = S_ISDIR(st.st_mode);
	}
	return 0;
}

/* Before anything covers a host path (the rootfs directory is about to be). */
static int open_sources(const struct emu_config *c, struct rootfs *r, struct bi_error *err)
{
	char path[32];

	for (size_t i = 0; i < EMU_DEV_NODES; i++) {
		snprintf(path, sizeof(path), "/dev/%s", dev_nodes[i]);
		r->dev[i] = clone_tree(AT_FDCWD, path, false);
		if (r->dev[i] < 0 && strcmp(dev_nodes[i], "tty") != 0)
			return bi_error_set(err, r->dev[i], "cannot bind %s: %s", path, strerror(-r->dev[i]));
		if (r->dev[i] >= 0)
			set_attrs(r->dev[i], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false);
	}
	r->sys = clone_tree(AT_FDCWD, "/sys", true);
	r->resolv = open_resolv();
	r->console = open_console();
	return open_binds(c, r, err);
}

static int write_hosts(int dirfd, const struct step_ids *ids, struct bi_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, "hosts", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	size_t len = strlen(HOSTS_TEXT);

	if (fd < 0 || write(fd, HOSTS_TEXT, len) != (ssize_t)len)
		return bi_error_set(err, -errno, "cannot write /etc/hosts: %s", strerror(errno));
	/* The step's root's, as in Docker (not nobody's). */
	if (ids && ids->on && fchown(fd, (uid_t)ids->uid0, (gid_t)ids->gid0) < 0)
		return bi_error_set(err, -errno, "cannot write /etc/hosts: %s", strerror(errno));
	return 0;
}

/* A root caller's idmapped root (idmap.c), taken, or -1. */
static int take_idmapped_root(struct rootfs *r)
{
	int m = r->ids ? r->ids->root_mnt : -1;

	if (r->ids)
		r->ids->root_mnt = -1;
	return m;
}

static int overlay_new(struct rootfs *r, struct bi_error *err)
{
	char lower[64], upper[64], work[64];
	struct opt o[] = { { "lowerdir", lower }, { "upperdir", upper }, { "workdir", work }, { "userxattr", NULL } };
	int idm = take_idmapped_root(r), m;
	struct stat st;

	if (mkdirat(r->scratch, "upper", 0755) < 0 || mkdirat(r->scratch, "work", 0700) < 0)
		return bi_error_set(err, -errno, "--overlay: %s", strerror(errno));
	/* Paths through our own fds: no escaping of ':' or ',' in user paths. */
	snprintf(lower, sizeof(lower), "/proc/self/fd/%d", r->rootfd);
	/* An idmapped lower layer must be attached (a detached one is no path);
	 * overlayfs takes it since Linux 5.19, where idmapped mounts exist. */
	if (idm >= 0) {
		int e = mkdirat(r->scratch, "lower", 0755) < 0 ? -errno : attach_at(idm, r->scratch, "lower");
		close(idm);
		if (e < 0)
			return bi_error_set(err, e, "--overlay: cannot mount the idmapped root: %s", strerror(-e));
		snprintf(lower, sizeof(lower), "/proc/self/fd/%d/lower", r->scratch);
	}
	snprintf(upper, sizeof(upper), "/proc/self/fd/%d/upper", r->scratch);
	snprintf(work, sizeof(work), "/proc/self/fd/%d/work", r->scratch);
	/* The merged root directory is the upper one: it takes the rootfs's
	 * owner and mode, or the step's root may not write in its own "/" (a
	 * root caller's idmapped one is the step's range, not our uid 0). */
	if (stat(lower, &st) == 0 && fchownat(r->scratch, "upper", st.st_uid, st.st_gid, 0) == 0 &&
	    fchmodat(r->scratch, "upper", st.st_mode & 07777, 0) < 0)
		return bi_error_set(err, -errno, "--overlay: cannot set the root's mode: %s", strerror(errno));
	/* In a user namespace overlayfs wants user.* xattrs (Linux >= 5.11);
	 * as root without one, older kernels may not know the option. */
	m = fs_new("overlay", o, 4, 0, NULL);
	if (m < 0)
		m = fs_new("overlay", o, 3, 0, NULL);
	if (m < 0)
		return bi_error_set(err, m, "--overlay: cannot mount overlayfs: %s (in a user namespace it needs "
				    "Linux >= 5.11)", strerror(-m));
	return m;
}

static int bind_root(struct rootfs *r, struct bi_error *err)
{
	/* Not recursive: mounts the host has below the rootfs stay out, and
	 * with them any way to walk from the root into another filesystem. In a
	 * user namespace such mounts are locked to their parent, so then they
	 * must come along. */
	int m = clone_tree(r->rootfd, "", false);

	if (m == -EINVAL)
		m = clone_tree(r->rootfd, "", true);
	return m < 0 ? bi_error_set(err, m, "cannot bind the rootfs: %s", strerror(-m)) : m;
}

int rootfs_attach(const struct emu_config *c, struct rootfs *r, struct bi_error *err)
{
	const struct opt mode = { "mode", "0700" };
	int e;

	if ((e = open_sources(c, r, err)) < 0)
		return e;
	r->scratch = fs_new("tmpfs", &mode, 1, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
	if (r->scratch < 0)
		return r->scratch;
	/* Covers the rootfs directory in our mount namespace only; r->rootfd
	 * still names the directory underneath. */
	if ((e = attach(r->scratch, r->rootfd)) < 0)
		return bi_error_set(err, e, "cannot mount a tmpfs: %s", strerror(-e));
	if (mkdirat(r->scratch, "root", 0755) < 0)
		return bi_error_set(err, -errno, "cannot create the root mount point: %s", strerror(errno));
	if ((e = write_hosts(r->scratch, r->ids, err)) < 0)
		return e;
	if (!c->overlay && (r->mntfd = take_idmapped_root(r)) >= 0)
		; /* bound by emu-run, idmapped: as bind_root() would */
	else
		r->mntfd = c->overlay ? overlay_new(r, err) : bind_root(r, err);
	if (r->mntfd < 0)
		return r->mntfd;
	/* Device nodes and setuid files of a rootfs are not the host's business
	 * (a rootfs unpacked by root may hold a node for the host's disk). */
	if ((e = set_attrs(r->mntfd, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true)) < 0 ||
	    (e = attach_at(r->mntfd, r->scratch, "root")) < 0)
		return bi_error_set(err, e, "cannot mount the rootfs: %s", strerror(-e));
	return 0;
}

static int target(struct rootfs *r, const char *path, bool dir, struct bi_error *err)
{
	return root_resolve_create(r->mntfd, path, dir, &r->ph, err);
}

/* A device node of the host's (a detached clone in *m) at name in our /dev. */
static void bind_node(int devfd, const char *name, int *m, mode_t mode)
{
	int fd = openat(devfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);

	if (fd >= 0)
		close(fd);
	attach_at(*m, devfd, name);
	close_fd(m);
}

static void populate_dev_nodes(struct rootfs *r)
{
	for (size_t i = 0; i < EMU_DEV_NODES; i++)
		if (r->dev[i] >= 0)
			bind_node(r->devfd, dev_nodes[i], &r->dev[i], 0666);
	if (r->console >= 0)
		bind_node(r->devfd, "console", &r->console, 0600);
}

static void populate_dev_links(int devfd, bool ptmx)
{
	static const char *const links[][2] = { { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
						{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
						{ "pts/ptmx", "ptmx" } };

	/* Best effort: a /dev without them still runs most steps. */
	for (size_t i = 0; i < ARRAY_SIZE(links) - !ptmx; i++)
		if (symlinkat(links[i][0], devfd, links[i][1]) < 0)
			continue;
}

/* The step's gid 5 (tty) as ours, if the step has it. */
static bool tty_gid(const struct rootfs *r, char *buf, size_t n)
{
	unsigned long g = 5;

	if (r->ids && r->ids->on ? !idmap_to_host(r->ids->gid_map, 5, &g) : !ns_id_mapped("/proc/self/gid_map", 5))
		return false;
	snprintf(buf, n, "%lu", g);
	return true;
}

static void populate_dev_fs(const struct rootfs *r)
{
	char tty[24];
	struct opt pts[] = { { "newinstance", NULL }, { "ptmxmode", "0666" }, { "mode", "0620" }, { "gid", tty } };
	const struct opt shm[] = { { "mode", "1777" }, { "size", "65536k" } };
	/* gid 5 (tty) exists only when emu-run ran as root. */
	int m = fs_new("devpts", pts, tty_gid(r, tty, sizeof(tty)) ? 4 : 3, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
		       NULL);

	bool ptmx = mkdirat(r->devfd, "pts", 0755) == 0 && m >= 0 && attach_at(m, r->devfd, "pts") == 0;

	close_fd(&m);
	m = fs_new("tmpfs", shm, 2, LOCKDOWN, NULL);
	if (mkdirat(r->devfd, "shm", 01777) == 0 && m >= 0)
		attach_at(m, r->devfd, "shm");
	close_fd(&m);
	/* Needs the ipc namespace we own (--rootfs creates one). */
	m = fs_new("mqueue", NULL, 0, LOCKDOWN, NULL);
	if (mkdirat(r->devfd, "mqueue", 0755) == 0 && m >= 0)
		attach_at(m, r->devfd, "mqueue");
	close_fd(&m);
	populate_dev_links(r->devfd, ptmx);
}

static int mount_dev(struct rootfs *r, struct bi_error *err)
{
	const struct opt o[] = { { "mode", "0755" }, { "size", "65536k" } };
	_cleanup_close_ int t = target(r, "dev", true, err);
	int e;

	if (t < 0)
		return t;
	/* nodev is fine: the device nodes are bind mounts of the host's own. */
	r->devfd = fs_new("tmpfs", o, 2, LOCKDOWN, err);
	if (r->devfd < 0)
		return r->devfd;
	if ((e = attach(r->devfd, t)) < 0)
		return bi_error_set(err, e, "cannot mount /dev: %s", strerror(-e));
	populate_dev_nodes(r);
	populate_dev_fs(r);
	return 0;
}

/* Best effort: in a user namespace these only add to what the kernel denies anyway. */
static void mask_proc(struct rootfs *r, int proc)
{
	int m;

	for (size_t i = 0; i < ARRAY_SIZE(proc_masked_files); i++)
		if (faccessat(proc, proc_masked_files[i], F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (m = clone_tree(r->devfd, "null", false)) >= 0) {
			attach_at(m, proc, proc_masked_files[i]);
			close(m);
		}
	for (size_t i = 0; i < ARRAY_SIZE(proc_masked_dirs); i++)
		if (faccessat(proc, proc_masked_dirs[i], F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (m = fs_new("tmpfs", NULL, 0, MOUNT_ATTR_RDONLY | LOCKDOWN, NULL)) >= 0) {
			attach_at(m, proc, proc_masked_dirs[i]);
			close(m);
		}
	for (size_t i = 0; i < ARRAY_SIZE(proc_readonly); i++)
		if ((m = clone_tree(proc, proc_readonly[i], true)) >= 0) {
			if (set_attrs(m, MOUNT_ATTR_RDONLY | LOCKDOWN, true) == 0)
				attach_at(m, proc, proc_readonly[i]);
			close(m);
		}
}

static int mount_proc(struct rootfs *r, struct bi_error *err)
{
	_cleanup_close_ int t = target(r, "proc", true, err);
	_cleanup_close_ int m = -1;
	int e;

	if (t < 0)
		return t;
	/* A proc of the new pid namespace: the step sees only its own processes. */
	m = fs_new("proc", NULL, 0, LOCKDOWN, err);
	if (m < 0)
		return m;
	if ((e = attach(m, t)) < 0)
		return bi_error_set(err, e, "cannot mount /proc: %s", strerror(-e));
	mask_proc(r, m);
	return 0;
}

static void mount_sys(const struct emu_config *c, struct rootfs *r)
{
	struct bi_error err = { 0 };
	_cleanup_close_ int t = -1;
	int e = r->sys;

	/* Skipped, not fatal, where a user namespace may not have it. */
	if (e >= 0 && (t = target(r, "sys", true, &err)) < 0)
		e = t;
	if (e >= 0)
		e = set_attrs(r->sys, MOUNT_ATTR_RDONLY | LOCKDOWN, true);
	if (e >= 0)
		e = attach(r->sys, t);
	if (e < 0)
		emu_note(c, "no /sys in the root: %s", err.msg[0] ? err.msg : strerror(-e));
}

static int mount_file(struct rootfs *r, const char *path, int *m, struct bi_error *err)
{
	_cleanup_close_ int t = target(r, path, false, err);
	int e;

	if (t < 0)
		return t;
	if (*m < 0)
		return bi_error_set(err, *m, "cannot mount /%s: %s", path, strerror(-*m));
	if ((e = attach(*m, t)) < 0)
		return bi_error_set(err, e, "cannot mount /%s: %s", path, strerror(-e));
	close_fd(m);
	return 0;
}

static int mount_bind(const struct emu_bind *b, int m, bool dir, struct rootfs *r, struct bi_error *err)
{
	_cleanup_close_ int t = target(r, b->dst, dir, err);
	int e;

	if (t < 0)
		return t;
	if (b->ro && (e = set_attrs(m, MOUNT_ATTR_RDONLY, true)) < 0)
		return bi_error_set(err, e, "--bind %s: cannot make it read-only: %s", b->src, strerror(-e));
	if ((e = attach(m, t)) < 0)
		return bi_error_set(err, e, "--bind %s:%s: %s", b->src, b->dst, strerror(-e));
	return 0;
}

int rootfs_mount_all(const struct emu_config *c, struct rootfs *r, struct bi_error *err)
{
	int e, hosts;

	/* /dev first: /proc's masks are bind mounts of its null. */
	if ((e = mount_dev(r, err)) < 0 || (e = mount_proc(r, err)) < 0)
		return e;
	mount_sys(c, r);
	hosts = clone_tree(r->scratch, "hosts", false);
	if (hosts >= 0)
		set_attrs(hosts, MOUNT_ATTR_RDONLY | LOCKDOWN, false);
	e = mount_file(r, "etc/hosts", &hosts, err);
	close_fd(&hosts);
	if (e < 0)
		return e;
	if (r->resolv >= 0 && (e = mount_file(r, "etc/resolv.conf", &r->resolv, err)) < 0)
		return e;
	for (size_t i = 0; i < c->nbinds; i++) {
		if ((e = mount_bind(&c->binds[i], r->binds[i], r->bind_dir[i], r, err)) < 0)
			return e;
		close_fd(&r->binds[i]);
	}
	return 0;
}

int rootfs_pivot(struct rootfs *r, struct bi_error *err)
{
	/* pivot_root(".", ".") stacks the old root on the new one; detaching it
	 * leaves nothing of the host in this mount namespace. */
	if (fchdir(r->mntfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return bi_error_set(err, -errno, "pivot_root: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) < 0)
		return bi_error_set(err, -errno, "cannot detach the host's tree: %s", strerror(errno));
	if (chdir("/") < 0)
		return bi_error_set(err, -errno, "chdir /: %s", strerror(errno));
	return 0;
}

/* Without a rootfs there is nowhere to create placeholders: the host's
 * target must exist (and is covered only in our mount namespace). */
static int bind_host(const struct emu_bind *b, struct bi_error *err)
{
	_cleanup_close_ int m = clone_tree(AT_FDCWD, b->src, true);
	_cleanup_close_ int t = -1;
	int e;

	if (m < 0)
		return bi_error_set(err, m, "--bind %s: %s", b->src, strerror(-m));
	t = open(b->dst, O_PATH | O_CLOEXEC);
	if (t < 0)
		return bi_error_set(err, -errno, "--bind target %s: %s (without --rootfs it must exist)", b->dst,
				    strerror(errno));
	if (b->ro && (e = set_attrs(m, MOUNT_ATTR_RDONLY, true)) < 0)
		return bi_error_set(err, e, "--bind %s: cannot make it read-only: %s", b->src, strerror(-e));
	if ((e = attach(m, t)) < 0)
		return bi_error_set(err, e, "--bind %s:%s: %s", b->src, b->dst, strerror(-e));
	return 0;
}

int hostfs_mount_all(const struct emu_config *c, struct bi_error *err)
{
	int m, e;

	for (size_t i = 0; i < c->nbinds; i++)
		if ((e = bind_host(&c->binds[i], err)) < 0)
			return e;
	/* The new pid namespace's own /proc (ps shows the step's processes). */
	m = fs_new("proc", NULL, 0, LOCKDOWN, NULL);
	if (m < 0 || move_mount(m, "", AT_FDCWD, "/proc", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		emu_note(c, "keeping the host's /proc");
	if (m >= 0)
		close(m);
	return 0;
}

int workdir_create(const char *dir, struct bi_error *err)
{
	char buf[PATH_MAX];

	if (copy_str(buf, sizeof(buf), dir) < 0)
		return bi_error_set(err, -ENAMETOOLONG, "--workdir: too long");
	/* After pivot_root: nothing but the root (and its mounts) is reachable. */
	for (char *p = buf + 1;; p++) {
		char c = *p;
		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return bi_error_set(err, -errno, "cannot create working directory %s: %s", dir, strerror(errno));
		*p = c;
		if (!c)
			return 0;
	}
}

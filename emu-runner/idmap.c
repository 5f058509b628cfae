/* SPDX-License-Identifier: MIT */
/*
 * A root caller's --rootfs step in an unprivileged range (issue 19): the
 * step's ids 0..N-1 are host ids S..S+N-1 (root's /etc/subuid and
 * /etc/subgid ranges where it has them, else a default block), so the step
 * is never the host's uid 0 - not to /proc/sys, not to the peer credentials
 * a host daemon sees with --network host, not after any kernel bug that lets
 * it out of its namespaces. The root and the --bind sources are idmapped
 * mounts made here, where emu-run is the host's root (only the initial user
 * namespace may idmap an ext4 or tmpfs mount): a file the step sees as its
 * root's is on disk the host's root's, as without emu-run, and whatever the
 * step writes lands on disk with the owners it would have had. Nothing on
 * disk is chowned.
 *
 * Where the root cannot be idmapped (its filesystem does not support it:
 * ramfs, NFS, 9p; emu-run not in the initial user namespace) the step's ids
 * stay the host's own, as before, and --verbose says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu.h"
#include "util.h"

static void set_map(char *out, size_t n, const struct subid_ranges *rg)
{
	unsigned long inside = 0;
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < rg->n && used < n; i++) {
		int k = snprintf(out + used, n - used, "%lu %lu %lu\n", inside, rg->start[i], rg->count[i]);
		if (k < 0 || (size_t)k >= n - used) {
			out[used] = '\0'; /* the whole lines so far stay a valid map */
			break;
		}
		used += (size_t)k;
		inside += rg->count[i];
	}
}

/* Root's own ranges, else the default block: how many ids, from where. */
static void choose_ranges(struct step_ids *ids)
{
	struct subid_ranges u = { 0 }, g = { 0 };
	char msg[256];

	if (subid_ranges("root", &u, &g, msg, sizeof(msg)) < 0 || !u.n || !g.n) {
		u = (struct subid_ranges){ .start = { EMU_ROOT_IDS_START }, .count = { EMU_ROOT_IDS_COUNT }, .n = 1 };
		g = u;
		u.total = g.total = EMU_ROOT_IDS_COUNT;
		ids->from_subid = false;
	} else {
		ids->from_subid = true;
	}
	set_map(ids->uid_map, sizeof(ids->uid_map), &u);
	set_map(ids->gid_map, sizeof(ids->gid_map), &g);
	ids->uids = u.total;
	ids->gids = g.total;
	ids->uid0 = u.start[0];
	ids->gid0 = g.start[0];
}

/* A user namespace holding the step's maps, for mount_setattr's idmap: a
 * child that only waits in it while we write the maps and open it. */
static int idmap_userns(const struct step_ids *ids)
{
	char path[64];
	int pfd[2], fd = -1, r;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = clone3_fork(CLONE_NEWUSER);
	if (pid == 0) {
		char c;
		close(pfd[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(read(pfd[0], &c, 1) < 0);
	}
	close(pfd[0]);
	if (pid < 0) {
		close(pfd[1]);
		return -errno;
	}
	r = ns_write_proc(pid, "uid_map", ids->uid_map);
	if (r == 0)
		r = ns_write_proc(pid, "gid_map", ids->gid_map);
	if (r == 0) {
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		r = fd < 0 ? -errno : 0;
	}
	close(pfd[1]); /* EOF: it exits; the namespace lives on in fd */
	waitpid(pid, NULL, 0);
	return r < 0 ? r : fd;
}

/* A detached clone of dfd/path with the step's idmap. */
static int idmapped_clone(int dfd, const char *path, bool recursive, int userns)
{
	unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (*path ? 0 : AT_EMPTY_PATH);
	struct mount_attr a = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns };
	int m = open_tree(dfd, path, flags | (recursive ? AT_RECURSIVE : 0));

	/* As the sandbox binds the root: not recursive where it may be. */
	if (m < 0 && !recursive && errno == EINVAL)
		m = open_tree(dfd, path, flags | AT_RECURSIVE), recursive = true;
	if (m < 0)
		return -errno;
	if (mount_setattr(m, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof(a)) < 0) {
		int e = -errno;
		close(m);
		return e;
	}
	return m;
}

static void ids_off(struct step_ids *ids, const char *what, const char *path, int e)
{
	ids->on = false;
	snprintf(ids->why, sizeof(ids->why), "%s%s cannot be idmapped: %s", what, path, strerror(-e));
}

int idmap_prepare(const struct emu_config *c, int rootfd, struct step_ids *ids)
{
	_cleanup_close_ int userns = -1;

	memset(ids, 0, sizeof(*ids));
	ids->root_mnt = -1;
	if (geteuid() != 0 || rootfd < 0)
		return 0;
	choose_ranges(ids);
	userns = idmap_userns(ids);
	if (userns < 0) {
		ids_off(ids, "no user namespace for the idmap: the root ", c->rootfs, userns);
		return 0;
	}
	ids->root_mnt = idmapped_clone(rootfd, "", false, userns);
	if (ids->root_mnt < 0) {
		ids_off(ids, "the root ", c->rootfs, ids->root_mnt);
		ids->root_mnt = -1;
		return 0;
	}
	ids->bind_mnt = calloc(c->nbinds + 1, sizeof(*ids->bind_mnt));
	if (!ids->bind_mnt) {
		idmap_release(ids);
		return -ENOMEM;
	}
	/* A source that cannot be idmapped is bound as it is: its files then
	 * show as nobody's to the step, and are its "others'". */
	for (size_t i = 0; i < c->nbinds; i++) {
		ids->bind_mnt[i] = idmapped_clone(AT_FDCWD, c->binds[i].src, true, userns);
		if (ids->bind_mnt[i] < 0 && !ids->why[0])
			snprintf(ids->why, sizeof(ids->why), "--bind %s is not idmapped (%s): its files show as owned "
				 "by nobody", c->binds[i].src, strerror(-ids->bind_mnt[i]));
		if (ids->bind_mnt[i] < 0)
			ids->bind_mnt[i] = -1;
	}
	ids->nbinds = c->nbinds;
	ids->on = true;
	return 0;
}

void idmap_release(struct step_ids *ids)
{
	if (ids->root_mnt >= 0)
		close(ids->root_mnt);
	ids->root_mnt = -1;
	for (size_t i = 0; ids->bind_mnt && i < ids->nbinds; i++)
		if (ids->bind_mnt[i] >= 0)
			close(ids->bind_mnt[i]);
	free(ids->bind_mnt);
	ids->bind_mnt = NULL;
	ids->nbinds = 0;
}

bool idmap_to_host(const char *map, unsigned long id, unsigned long *host)
{
	unsigned long in, outside, count;
	int used;

	while (sscanf(map, "%lu %lu %lu\n%n", &in, &outside, &count, &used) == 3) {
		if (id >= in && id - in < count) {
			if (host)
				*host = outside + (id - in);
			return true;
		}
		map += used;
	}
	return false;
}

/* SPDX-License-Identifier: MIT */
/*
 * Which process of our user namespace can keep a binfmt_misc instance alive
 * after we exit. Since Linux 6.7 a user namespace's instance lives only while
 * one of its mounts does, and a mount lives only while its mount namespace
 * does: a mount made in a container's private mount namespace dies with the
 * container. The process most likely to outlive us is the oldest one of the
 * user namespace that we can see: the shell that made it, rootless Podman's
 * pause process, rootlesskit's child under rootless Docker.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binfmtfs.h"
#include "util.h"

static ino_t ns_inode_at(int piddir, const char *ns)
{
	struct stat st;
	char p[32];

	snprintf(p, sizeof(p), "ns/%s", ns);
	return fstatat(piddir, p, &st, 0) < 0 ? 0 : st.st_ino;
}

/* comm and starttime (field 22, clock ticks since boot) from /proc/PID/stat.
 * comm may hold spaces and ')': the fields after it follow the last ')'. */
static int read_stat(int piddir, char *comm, size_t commsz, unsigned long long *start)
{
	_cleanup_close_ int fd = openat(piddir, "stat", O_RDONLY | O_CLOEXEC);
	char buf[1024], *open_paren, *close_paren;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (!open_paren || !close_paren || close_paren < open_paren)
		return -EIO;
	*close_paren = '\0';
	snprintf(comm, commsz, "%s", open_paren + 1);
	/* After ')': state (3) ... starttime (22): skip 19 fields. */
	if (sscanf(close_paren + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   start) != 1)
		return -EIO;
	return 0;
}

int bfs_userns_holder(struct ns_holder *h)
{
	ino_t user = bfs_ns_inode("/proc/self/ns/user"), mnt = bfs_ns_inode("/proc/self/ns/mnt");
	unsigned long long best = ~0ULL;
	_cleanup_closedir_ DIR *d = opendir("/proc");
	struct dirent *de;
	int fd = -ESRCH;

	if (!d)
		return -errno;
	if (!user || !mnt)
		return -ENOENT;
	while ((de = readdir(d))) {
		char *end, comm[sizeof(h->comm)];
		unsigned long long start = 0;
		long pid = strtol(de->d_name, &end, 10);
		_cleanup_close_ int piddir = -1;

		if (*end || pid <= 0 || pid == (long)getpid())
			continue;
		/* Everything about this process is read through one directory fd, so
		 * a pid reused meanwhile cannot mix two processes' answers. */
		piddir = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (piddir < 0 || ns_inode_at(piddir, "user") != user)
			continue;
		if (read_stat(piddir, comm, sizeof(comm), &start) < 0 || start >= best)
			continue;
		int nsfd = openat(piddir, "ns/mnt", O_RDONLY | O_CLOEXEC);
		if (nsfd < 0)
			continue; /* not ours to enter (not dumpable): look further */
		if (fd >= 0)
			close(fd);
		fd = nsfd;
		best = start;
		h->pid = (pid_t)pid;
		snprintf(h->comm, sizeof(h->comm), "%s", comm);
		h->same_mntns = ns_inode_at(piddir, "mnt") == mnt;
	}
	return fd;
}

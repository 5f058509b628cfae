/* SPDX-License-Identifier: MIT */
/*
 * Paths inside a root we do not trust. A rootfs may hold symlinks such as
 * /proc -> /home/you or /etc/hosts -> ../../../etc/passwd: every lookup goes
 * through openat2(RESOLVE_IN_ROOT), which resolves them as the step would see
 * them (absolute targets and ".." stop at the root), refuses magic links
 * (/proc/self/root...), and (RESOLVE_NO_XDEV) never walks into a mount we have
 * already placed in the root - so a later target cannot reach the host through
 * /proc, /dev or a --bind. What set-up creates is recorded and removed later.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "emu.h"
#include "util.h"

/* Symlinks followed plus components created, per path: as the kernel's 40. */
#define MAX_STEPS 40

int root_open(int rootfd, const char *path, int flags, bool no_xdev)
{
	struct open_how how = {
		.flags = (unsigned)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | (no_xdev ? RESOLVE_NO_XDEV : 0),
	};
	long fd;

	/* EAGAIN: a concurrent rename made ".." resolution unsafe; try again. */
	for (int i = 0; i < 8; i++) {
		fd = syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	return fd < 0 ? -errno : (int)fd;
}

/* "//a/./b/" -> "a/b": components only ("" is the root). ".." is kept: the
 * kernel resolves it against what the components really are. */
static int normalize(const char *in, char *out, size_t n)
{
	size_t o = 0;

	for (const char *p = in; *p;) {
		size_t l = strcspn(p, "/");
		if (l && !(l == 1 && p[0] == '.')) {
			if (o + l + 2 > n)
				return -ENAMETOOLONG;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, l);
			o += l;
		}
		p += l;
		p += strspn(p, "/");
	}
	out[o] = '\0';
	return 0;
}

/* End offset of the first component of cur that does not exist; 0 when the
 * whole path exists after all (a race), <0 on other errors. */
static int first_missing(int rootfd, char *cur, size_t *end)
{
	for (char *p = cur;;) {
		char *slash = strchr(p, '/');
		size_t e = slash ? (size_t)(slash - cur) : strlen(cur);
		char save = cur[e];
		int fd;

		cur[e] = '\0';
		fd = root_open(rootfd, cur, O_PATH, true);
		cur[e] = save;
		if (fd >= 0)
			close(fd);
		else if (fd == -ENOENT) {
			*end = e;
			return 1;
		} else
			return fd;
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

/* cur[0..e) is a dangling symlink? Then splice its target into cur and
 * return 1 (the next round resolves it, still inside the root). */
static int follow_dangling(int rootfd, char *cur, size_t e)
{
	char save = cur[e], target[PATH_MAX], next[PATH_MAX * 2], dir[PATH_MAX];
	_cleanup_close_ int fd = -1;
	struct stat st;
	ssize_t k;
	char *slash;
	int n;

	cur[e] = '\0';
	fd = root_open(rootfd, cur, O_PATH | O_NOFOLLOW, true);
	snprintf(dir, sizeof(dir), "%s", cur);
	cur[e] = save;
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	if (fstat(fd, &st) < 0 || !S_ISLNK(st.st_mode))
		return 0;
	k = readlinkat(fd, "", target, sizeof(target) - 1);
	if (k <= 0)
		return k < 0 ? -errno : -ENOENT;
	target[k] = '\0';
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		dir[0] = '\0';
	/* A relative target is relative to the directory holding the link. */
	n = snprintf(next, sizeof(next), "%s/%s/%s", target[0] == '/' ? "" : dir, target, cur + e);
	/* Cut short, it would name another path. */
	if (n < 0 || (size_t)n >= sizeof(next))
		return -ENAMETOOLONG;
	return normalize(next, cur, PATH_MAX) < 0 ? -ENAMETOOLONG : 1;
}

static int record(struct placeholders *ph, const char *path)
{
	char **v = realloc(ph->paths, (ph->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	ph->paths = v;
	if (!(v[ph->n] = strdup(path)))
		return -ENOMEM;
	ph->n++;
	return 0;
}

/* Create component cur[..e) in its (existing) parent: a directory, or the
 * empty file a file mount needs when it is the last one. */
static int create_component(int rootfd, char *cur, size_t e, bool file, struct placeholders *ph)
{
	char save = cur[e], *name;
	_cleanup_close_ int parent = -1;
	int r = 0, fd;

	cur[e] = '\0';
	name = strrchr(cur, '/');
	if (name) {
		*name = '\0';
		parent = root_open(rootfd, cur, O_PATH | O_DIRECTORY, true);
		*name++ = '/';
	} else {
		name = cur;
		parent = root_open(rootfd, "", O_PATH | O_DIRECTORY, true);
	}
	if (parent < 0)
		r = parent;
	else if (file && (fd = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644)) >= 0)
		close(fd);
	else if (file || mkdirat(parent, name, 0755) < 0)
		r = -errno;
	if (r == 0 && ph)
		r = record(ph, cur);
	cur[e] = save;
	return r == -EEXIST ? 0 : r; /* someone else made it meanwhile: resolve again */
}

static int explain(int r, const char *path, struct bi_error *err)
{
	switch (-r) {
	case EXDEV:
		return bi_error_set(err, r, "%s in the root leads through a mount point (a symlink into /proc, "
				    "/dev, /sys or a --bind?): refusing", path);
	case ELOOP:
		return bi_error_set(err, r, "%s in the root: too many symlinks, or a magic link", path);
	default:
		return bi_error_set(err, r, "cannot resolve %s in the root: %s", path, strerror(-r));
	}
}

static int check_type(int fd, bool dir, const char *path, struct bi_error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return bi_error_set(err, r, "cannot stat %s in the root: %s", path, strerror(-r));
	}
	if (!S_ISDIR(st.st_mode) == !dir)
		return fd;
	close(fd);
	return bi_error_set(err, dir ? -ENOTDIR : -EISDIR, "%s in the root is %s: cannot mount a %s on it", path,
			    dir ? "not a directory" : "a directory", dir ? "directory" : "file");
}

int root_resolve_create(int rootfd, const char *path, bool dir, struct placeholders *ph, struct bi_error *err)
{
	char cur[PATH_MAX];
	size_t e;
	int r;

	if (normalize(path, cur, sizeof(cur)) < 0)
		return bi_error_set(err, -ENAMETOOLONG, "path too long: %s", path);
	for (int step = 0; step < MAX_STEPS; step++) {
		int fd = root_open(rootfd, cur, O_PATH, true);
		if (fd >= 0)
			return check_type(fd, dir, path, err);
		if (fd != -ENOENT)
			return explain(fd, path, err);
		r = first_missing(rootfd, cur, &e);
		if (r == 0)
			continue;
		if (r < 0)
			return explain(r, path, err);
		r = follow_dangling(rootfd, cur, e);
		if (r == 0)
			r = create_component(rootfd, cur, e, !dir && cur[e] == '\0', ph);
		if (r < 0)
			return r == -EACCES || r == -EROFS || r == -EPERM
				       ? bi_error_set(err, r, "cannot create %s in the root: %s (a read-only rootfs? "
						      "use --overlay)", path, strerror(-r))
				       : explain(r, path, err);
	}
	return explain(-ELOOP, path, err);
}

int placeholders_remove(int rootfd, const struct placeholders *ph)
{
	int r = 0;

	for (size_t i = ph->n; i-- > 0;) {
		char dir[PATH_MAX], *name;
		_cleanup_close_ int parent = -1;
		struct stat st;
		int e = 0;

		snprintf(dir, sizeof(dir), "%s", ph->paths[i]);
		name = strrchr(dir, '/');
		if (name)
			*name++ = '\0';
		else
			name = dir;
		parent = root_open(rootfd, name == dir ? "" : dir, O_PATH | O_DIRECTORY, true);
		if (parent < 0 || fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		/* Only what is still as we left it: an empty directory (rmdir
		 * refuses others) or an empty regular file. */
		if (S_ISDIR(st.st_mode))
			e = unlinkat(parent, name, AT_REMOVEDIR) < 0 ? errno : 0;
		else if (S_ISREG(st.st_mode) && st.st_size == 0)
			e = unlinkat(parent, name, 0) < 0 ? errno : 0;
		/* Still a mount point where we look (a namespace being torn down):
		 * worth another try; anything else (not empty) is final. */
		if (e == EBUSY)
			r = -EBUSY;
	}
	return r;
}

void placeholders_free(struct placeholders *ph)
{
	for (size_t i = 0; i < ph->n; i++)
		free(ph->paths[i]);
	free(ph->paths);
	ph->paths = NULL;
	ph->n = 0;
}

int placeholders_send(int fd, const struct placeholders *ph)
{
	for (size_t i = 0; i < ph->n; i++) {
		size_t l = strlen(ph->paths[i]) + 1;
		if (write(fd, ph->paths[i], l) != (ssize_t)l)
			return -errno;
	}
	return 0;
}

int placeholders_recv(int fd, struct placeholders *ph)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t k;
	int r = 0;

	for (;;) {
		if (len + 4096 > cap) {
			char *nb = realloc(buf, cap += 65536);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		k = read(fd, buf + len, cap - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	for (size_t i = 0; i < len && r == 0;) {
		size_t l = strnlen(buf + i, len - i);
		if (i + l == len)
			break; /* truncated record: ignore */
		r = record(ph, buf + i);
		i += l + 1;
	}
	return r;
}

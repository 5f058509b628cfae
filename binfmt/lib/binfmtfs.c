/* SPDX-License-Identifier: MIT */
/* An existing binfmt_misc instance: open it, read its entries, write register,
 * -1/0/1 with one write(2) each, and take turns with other runs (flock).
 * Mounting and module loading are in mount.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "binfmtfs.h"
#include "util.h"

unsigned bfs_kernel_version(void)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return 0;
	return major * 1000 + minor;
}

ino_t bfs_ns_inode(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? 0 : st.st_ino;
}

bool bfs_in_private_userns(void)
{
	return bfs_ns_inode("/proc/self/ns/user") != PROC_USER_INIT_INO;
}

/* fs type at path without triggering an automount: O_PATH stops the walk at
 * the autofs mount point instead of waiting for the daemon. */
long bfs_fs_type(const char *path)
{
	_cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
	struct statfs sfs;

	if (fd < 0)
		return -errno;
	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	return (long)sfs.f_type;
}

int bfs_attach(struct binfmtfs *fs, struct bi_error *err)
{
	fs->dirfd = open(fs->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->dirfd < 0)
		return bi_error_set(err, -errno, "cannot open %s: %s", fs->path, strerror(errno));
	if (faccessat(fs->dirfd, "status", F_OK, 0) < 0)
		return bi_error_set(err, -ENOTDIR, "%s is not a binfmt_misc mount (no status file)", fs->path);
	return 0;
}

int bfs_open_mounted(struct binfmtfs *fs, const char *mountpoint, struct bi_error *err)
{
	long type;

	memset(fs, 0, sizeof(*fs));
	fs->dirfd = -1;
	fs->private_userns = bfs_in_private_userns();
	if (copy_str(fs->path, sizeof(fs->path), mountpoint ? mountpoint : BINFMTFS_DEFAULT_MOUNT) < 0)
		return bi_error_set(err, -ENAMETOOLONG, "mount point path is too long");
	for (size_t l = strlen(fs->path); l > 1 && fs->path[l - 1] == '/'; l--)
		fs->path[l - 1] = '\0';
	type = bfs_fs_type(fs->path);
	if (type == BINFMTFS_MAGIC)
		return bfs_attach(fs, err);
	return type < 0 && type != -ENOENT ? bi_error_set(err, (int)type, "cannot use %s: %s", fs->path,
							  strerror((int)-type)) : 0;
}

void bfs_close(struct binfmtfs *fs)
{
	if (fs->dirfd >= 0)
		close(fs->dirfd);
	fs->dirfd = -1;
}

static int read_file_at(int dirfd, const char *name, char *buf, size_t n)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t total = 0;

	if (fd < 0)
		return -errno;
	while (total + 1 < n) {
		ssize_t k = read(fd, buf + total, n - 1 - total);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		total += (size_t)k;
	}
	buf[total] = '\0';
	return (int)total;
}

int bfs_read_entry(struct binfmtfs *fs, const char *name, struct binfmt_entry *e)
{
	char text[8192];
	struct stat st;
	int r;

	if (fs->dirfd < 0)
		return -ENOENT;
	if (!entry_name_kernel_valid(name))
		return -EINVAL;
	r = read_file_at(fs->dirfd, name, text, sizeof(text));
	if (r < 0)
		return r;
	r = entry_parse(name, text, e);
	/* binfmt_misc sets an entry inode's times once, when it registers it. */
	if (r == 0 && fstatat(fs->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		e->registered_ns = (long long)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
	return r;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct binfmt_entry *)a)->name, ((const struct binfmt_entry *)b)->name);
}

int bfs_list(struct binfmtfs *fs, struct binfmt_entry **entries, size_t *n, struct bi_error *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_free_ struct binfmt_entry *v = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	int fd;

	*entries = NULL;
	*n = 0;
	if (fs->dirfd < 0)
		return 0;
	fd = openat(fs->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return bi_error_set(err, -e, "cannot list %s: %s", fs->path, strerror(e));
	}
	while ((de = readdir(d))) {
		/* Every name the kernel allows is listed, control characters and
		 * all: skipping one would hide a conflict or a handler from "all". */
		if (!entry_name_kernel_valid(de->d_name))
			continue;
		if (count == cap) {
			struct binfmt_entry *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
			if (!nv)
				return bi_error_set(err, -ENOMEM, "out of memory");
			v = nv;
		}
		/* An entry removed while we list, or one we cannot parse, is skipped:
		 * it is not ours to judge. */
		if (bfs_read_entry(fs, de->d_name, &v[count]) == 0)
			count++;
	}
	if (count > 1)
		qsort(v, count, sizeof(*v), cmp_entry);
	*entries = steal_ptr(&v);
	*n = count;
	return 0;
}

static int write_at(int dirfd, const char *name, const char *data, size_t len)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t k;

	if (fd < 0)
		return -errno;
	/* binfmt_misc parses each write on its own: exactly one write(2). */
	k = write(fd, data, len);
	if (k < 0)
		return -errno;
	return (size_t)k == len ? 0 : -EIO;
}

static int explain_write_error(struct binfmtfs *fs, int r, const char *what, struct bi_error *err)
{
	switch (-r) {
	case EROFS:
		return bi_error_set(err, r, "%s: %s is read-only: run the container with --privileged", what,
				    fs->path);
	case EACCES:
	case EPERM:
		return bi_error_set(err, r, "%s: permission denied writing %s: run as root (CAP_SYS_ADMIN), "
				    "or the container with --privileged", what, fs->path);
	default:
		return bi_error_set(err, r, "%s: %s", what, strerror(-r));
	}
}

int bfs_register(struct binfmtfs *fs, const struct binfmt_entry *e, struct bi_error *err)
{
	char line[ENTRY_REGISTER_MAX + 2];
	int len = entry_format_register(e, line, sizeof(line));
	int r;

	if (len < 0)
		return bi_error_set(err, len, "entry %s cannot be registered: %s", e->name,
				    len == -ENAMETOOLONG ? "register string too long" : "invalid field");
	if (fs->dirfd < 0)
		return bi_error_set(err, -ENOENT, "binfmt_misc is not mounted at %s", fs->path);
	r = write_at(fs->dirfd, "register", line, (size_t)len);
	if (r == 0)
		return 0;
	switch (-r) {
	case EEXIST:
		return bi_error_set(err, r, "an entry named %s already exists", e->name);
	case ENOENT:
	case ELOOP:
	case ENOEXEC:
		return bi_error_set(err, r, "the kernel cannot open interpreter %s: %s", e->interpreter,
				    strerror(-r));
	case EACCES:
	case EPERM:
		/* We checked register is writable before changing anything: with F
		 * this is the kernel failing to open the interpreter. */
		if (strchr(e->flags, 'F'))
			return bi_error_set(err, r, "the kernel cannot open interpreter %s for the F flag: %s "
					    "(is it on a noexec mount, or not executable?)", e->interpreter, strerror(-r));
		return explain_write_error(fs, r, "register", err);
	case EINVAL:
		if (strchr(e->flags, 'F') && bfs_kernel_version() && bfs_kernel_version() < 4008)
			return bi_error_set(err, r, "this kernel (< 4.8) does not support the F flag: "
					    "upgrade the kernel, or register without F (then the interpreter must "
					    "exist inside every container)");
		return bi_error_set(err, r, "the kernel rejected the registration of %s (invalid argument)",
				    e->name);
	default:
		return explain_write_error(fs, r, "register", err);
	}
}

int bfs_remove(struct binfmtfs *fs, const char *name, struct bi_error *err)
{
	int r;

	/* Any name the kernel gave an entry: --uninstall all removes those
	 * with control characters too. */
	if (!entry_name_kernel_valid(name))
		return bi_error_set(err, -EINVAL, "invalid entry name '%s'", name);
	if (fs->dirfd < 0)
		return bi_error_set(err, -ENOENT, "no entry named %s", name);
	r = write_at(fs->dirfd, name, "-1", 2);
	if (r == -ENOENT)
		return bi_error_set(err, r, "no entry named %s", name);
	return r < 0 ? explain_write_error(fs, r, "remove", err) : 0;
}

int bfs_set_enabled(struct binfmtfs *fs, const char *name, bool enabled, struct bi_error *err)
{
	int r;

	if (!entry_name_kernel_valid(name) || fs->dirfd < 0)
		return bi_error_set(err, -EINVAL, "invalid entry name '%s'", name);
	r = write_at(fs->dirfd, name, enabled ? "1" : "0", 1);
	return r < 0 ? explain_write_error(fs, r, enabled ? "enable" : "disable", err) : 0;
}

int bfs_restore(struct binfmtfs *fs, const struct binfmt_entry *e, struct bi_error *err)
{
	int r = bfs_register(fs, e, err);

	if (r == 0 && !e->enabled)
		r = bfs_set_enabled(fs, e->name, false, err);
	return r;
}

int bfs_status_enabled(struct binfmtfs *fs, bool *enabled)
{
	char buf[32];
	int r;

	*enabled = false;
	if (fs->dirfd < 0)
		return -ENOENT;
	r = read_file_at(fs->dirfd, "status", buf, sizeof(buf));
	if (r < 0)
		return r;
	*enabled = !strncmp(buf, "enabled", 7);
	return 0;
}

int bfs_lock(struct binfmtfs *fs, unsigned timeout_ms, struct bi_error *err)
{
	if (fs->dirfd < 0)
		return 0;
	for (unsigned waited = 0;; waited += 10) {
		if (flock(fs->dirfd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		/* Filesystems without flock: nothing to serialize with. Anything
		 * else (ENOLCK: no memory for the lock) means we do not hold it. */
		if (errno == EOPNOTSUPP || errno == ENOSYS)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return bi_error_set(err, -errno, "cannot lock %s: %s", fs->path, strerror(errno));
		if (waited >= timeout_ms)
			return bi_error_set(err, -ETIMEDOUT,
					    "another binfmt has been changing %s for %u s: try again when it is done",
					    fs->path, timeout_ms / 1000);
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
}

void bfs_unlock(struct binfmtfs *fs)
{
	if (fs->dirfd >= 0)
		flock(fs->dirfd, LOCK_UN);
}

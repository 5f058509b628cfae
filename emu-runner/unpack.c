/* SPDX-License-Identifier: MIT */
/*
 * --image PATH to a root: an OCI image layout directory, an OCI archive (the
 * same as a tar) or a docker-archive (docker save). The manifest for --arch is
 * chosen (image.c), every blob is checked against its sha256 before it is used,
 * and the layers are unpacked in order, whiteouts applied, into
 * $XDG_CACHE_HOME/emu-run/images/<manifest hex>/rootfs. The entry is built in a
 * temporary sibling and renamed into place whole, so a failed or concurrent
 * unpack never leaves a half root that a later run would trust; once there it
 * is reused, and steps only ever see it under an overlay.
 *
 * Layers are hostile input. libarchive only parses them: every file is created
 * here, relative to the root's fd, with parents resolved by
 * openat2(RESOLVE_IN_ROOT) (resolve.c) and the last component never followed,
 * so no "..", absolute path or symlink planted by an earlier layer can write
 * outside the root. Entries with ".." are refused outright; device nodes are
 * skipped (the step gets emu-run's /dev). As root, owners and modes are kept;
 * as an ordinary user they cannot be, and everything is the caller's (root
 * inside the step's user namespace, as for a root the user unpacked).
 */
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emu.h"
#include "util.h"

/*
 * libarchive is dlopen()ed for --image only: linked, it costs every emu-run
 * the mapping of libxml2, ICU and libstdc++ (about 3.5 ms of a ~18 ms
 * start-up, measured with hyperfine). The header still types every pointer
 * (__typeof__), so a changed prototype fails the build as a direct call would.
 */
#define ARCHIVE_SONAME "libarchive.so.13"
#define ARCHIVE_SYMS(X) X(archive_entry_filetype) X(archive_entry_gid) X(archive_entry_hardlink) \
			 X(archive_entry_mtime) X(archive_entry_mtime_nsec) X(archive_entry_pathname) \
			 X(archive_entry_perm) X(archive_entry_symlink) X(archive_entry_uid) \
			 X(archive_error_string) X(archive_read_data_into_fd) X(archive_read_free) \
			 X(archive_read_new) X(archive_read_next_header) X(archive_read_open_fd) \
			 X(archive_read_support_filter_bzip2) X(archive_read_support_filter_gzip) \
			 X(archive_read_support_filter_xz) X(archive_read_support_filter_zstd) \
			 X(archive_read_support_format_tar)
#define DL_MEMBER(sym) __typeof__(&sym) sym;
#define DL_RESOLVE(sym) &&(A.sym = (__typeof__(&sym))dlsym(A.handle, #sym)) != NULL
static struct {
	void *handle;
	ARCHIVE_SYMS(DL_MEMBER)
} A;

/* RTLD_LOCAL: its symbols serve these calls only. */
static int archive_api_open(struct bi_error *err)
{
	const char *why;

	if (A.handle)
		return 0;
	A.handle = dlopen(ARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (A.handle && (true ARCHIVE_SYMS(DL_RESOLVE)))
		return 0;
	why = dlerror();
	if (A.handle)
		dlclose(A.handle);
	A.handle = NULL;
	return bi_error_set(err, -ELIBACC, "--image needs %s: %s (apt-get install libarchive13)", ARCHIVE_SONAME,
			    why ? why : "unknown error");
}

#define JSON_MAX (4 << 20)     /* index, manifests and configs are a few KiB */
#define REMOVE_DEPTH 256       /* a deeper tree in a layer is not a real one */

struct dirmode {
	char *path;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec mtime;
};

struct unpack {
	const char *what;          /* "--image PATH" */
	int rootfd;
	bool owners;               /* root: keep owners */
	bool layer;                /* whiteouts mean something (not the outer tar) */
	struct dirmode *dirs;      /* directory modes and times, applied last */
	size_t ndirs;
	size_t devices;            /* skipped device nodes */
};

struct source {
	char what[PATH_MAX + 16];
	int fd;                    /* the layout directory (ours for a tarball) */
	char tmp[PATH_MAX];        /* the cache entry being made, "" until made */
	char images[PATH_MAX];     /* .../emu-run/images */
};

/* --- the tree ------------------------------------------------------------------- */

static int remove_at(int dirfd, const char *name, bool owner, int depth);

/* Empty a directory (fd: O_RDONLY). As an ordinary user a read-only directory
 * of an earlier layer must be made writable first. Recursive with remove_at(),
 * at most REMOVE_DEPTH deep (an image's tree is untrusted). */
// NOLINTNEXTLINE(misc-no-recursion): bounded by REMOVE_DEPTH
static int clear_dir(int fd, bool owner, int depth)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int dfd = dup(fd), e;

	if (dfd < 0)
		return -errno;
	if (!owner)
		fchmod(dfd, 0700);
	if (!(d = fdopendir(dfd))) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    (e = remove_at(dirfd(d), de->d_name, owner, depth + 1)) < 0)
			return e;
	return 0;
}

// NOLINTNEXTLINE(misc-no-recursion): bounded by REMOVE_DEPTH
static int remove_at(int dirfd, const char *name, bool owner, int depth)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int e;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	if (depth > REMOVE_DEPTH)
		return -ELOOP;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if ((e = clear_dir(fd, owner, depth)) < 0)
		return e;
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

static int mkdir_p(char *path, mode_t mode)
{
	for (char *p = path + 1;; p++) {
		char ch = *p;
		if (ch != '/' && ch != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, mode) < 0 && errno != EEXIST) {
			*p = ch;
			return -errno;
		}
		*p = ch;
		if (!ch)
			return 0;
	}
}

/* --- blobs ------------------------------------------------------------------------ */

static int sha256_fd(int fd, char hex[65])
{
	struct sha256_ctx ctx;
	uint8_t buf[1 << 16], sum[SHA256_DIGEST_SIZE];
	ssize_t k;

	sha256_init(&ctx);
	while ((k = read(fd, buf, sizeof(buf))) > 0)
		sha256_update(&ctx, (size_t)k, buf);
	if (k < 0)
		return -errno;
	sha256_digest(&ctx, sizeof(sum), sum);
	for (size_t i = 0; i < sizeof(sum); i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	return lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
}

/* path inside the layout, checked against hex; an fd at offset 0. */
static int blob_open(const struct source *s, const char *path, const char *hex, const char *which,
		     struct bi_error *err)
{
	_cleanup_close_ int fd = root_open(s->fd, path, O_RDONLY, false);
	char got[65];
	int e;

	if (fd < 0)
		return bi_error_set(err, fd, "%s: %s %s: %s", s->what, which, path, strerror(-fd));
	if ((e = sha256_fd(fd, got)) < 0)
		return bi_error_set(err, e, "%s: %s %s: %s", s->what, which, path, strerror(-e));
	if (strcmp(got, hex))
		return bi_error_set(err, -EBADMSG, "%s: %s %s does not match its digest sha256:%.12s... (corrupt or "
				    "truncated)", s->what, which, path, hex);
	return steal_fd(&fd);
}

static int read_all(int fd, char **out, size_t *len, const char *what, const char *path, struct bi_error *err)
{
	_cleanup_free_ char *buf = malloc(JSON_MAX);
	size_t n = 0;
	ssize_t k;

	if (!buf)
		return bi_error_set(err, -ENOMEM, "out of memory");
	while (n < JSON_MAX && (k = read(fd, buf + n, JSON_MAX - n)) > 0)
		n += (size_t)k;
	if (n == JSON_MAX)
		return bi_error_set(err, -EFBIG, "%s: %s is larger than %d MiB", what, path, JSON_MAX >> 20);
	*out = steal_ptr(&buf);
	*len = n;
	return 0;
}

/* A JSON blob (manifest, config, nested index) checked against hex. */
static int blob_json(const struct source *s, const char *hex, const char *which, char **out, size_t *len,
		     struct bi_error *err)
{
	char path[100];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "blobs/sha256/%s", hex);
	fd = blob_open(s, path, hex, which, err);
	return fd < 0 ? fd : read_all(fd, out, len, s->what, path, err);
}

/* A file of the layout that no digest covers (index.json, manifest.json). */
static int top_json(const struct source *s, const char *name, char **out, size_t *len, struct bi_error *err)
{
	_cleanup_close_ int fd = root_open(s->fd, name, O_RDONLY, false);

	if (fd < 0)
		return fd;
	return read_all(fd, out, len, s->what, name, err);
}

/* --- extraction ------------------------------------------------------------------- */

static int fail(const struct unpack *u, const char *entry, int e, struct bi_error *err)
{
	return bi_error_set(err, e, "%s: entry '%s': %s", u->what, entry, strerror(-e));
}

/* The parent directory of path in the root (created as needed), *name its last component. */
static int open_parent(const struct unpack *u, char *path, const char **name, struct bi_error *err)
{
	struct placeholders ph = { 0 };
	char *slash = strrchr(path, '/');
	int fd;

	if (!slash) {
		*name = path;
		fd = dup(u->rootfd);
		return fd < 0 ? -errno : fd;
	}
	*slash = '\0';
	*name = slash + 1;
	fd = root_resolve_create(u->rootfd, path, true, &ph, err);
	placeholders_free(&ph);
	*slash = '/';
	return fd;
}

static int set_meta(const struct unpack *u, int pfd, const char *name, struct archive_entry *e)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
				  { A.archive_entry_mtime(e), A.archive_entry_mtime_nsec(e) } };

	if (u->owners &&
	    fchownat(pfd, name, (uid_t)A.archive_entry_uid(e), (gid_t)A.archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	/* After chown, which clears setuid bits; symlinks have no mode of their
	 * own. name was just created here, not followed: fchmodat on it is safe. */
	if (A.archive_entry_filetype(e) != AE_IFLNK && fchmodat(pfd, name, A.archive_entry_perm(e) & 07777, 0) < 0)
		return -errno;
	/* Times are cosmetic (a filesystem without them still runs the step). */
	if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	return 0;
}

static int put_dir(struct unpack *u, int pfd, const char *name, const char *path, struct archive_entry *e)
{
	struct dirmode *v;
	struct stat st;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) &&
	    unlinkat(pfd, name, 0) < 0)
		return -errno;
	/* Writable until the end: later entries go into it. */
	if (mkdirat(pfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	v = realloc(u->dirs, (u->ndirs + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	u->dirs = v;
	v[u->ndirs] = (struct dirmode){ .path = strdup(path), .mode = A.archive_entry_perm(e) & 07777,
					.uid = (uid_t)A.archive_entry_uid(e), .gid = (gid_t)A.archive_entry_gid(e),
					.mtime = { A.archive_entry_mtime(e), A.archive_entry_mtime_nsec(e) } };
	if (!v[u->ndirs].path)
		return -ENOMEM;
	u->ndirs++;
	return 0;
}

static int put_file(struct archive *a, int pfd, const char *name)
{
	_cleanup_close_ int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	return A.archive_read_data_into_fd(a, fd) == ARCHIVE_OK ? 0 : -EIO;
}

static int put_hardlink(const struct unpack *u, const char *target, int pfd, const char *name, struct bi_error *err)
{
	char t[PATH_MAX];
	const char *tname;
	_cleanup_close_ int tfd = -1;

	if (image_entry_path(target, t, sizeof(t)) != IMAGE_ENTRY_PLAIN || !*t)
		return -EXDEV;
	tfd = open_parent(u, t, &tname, err);
	if (tfd < 0)
		return tfd;
	return linkat(tfd, tname, pfd, name, 0) < 0 ? -errno : 0;
}

static int put_entry(struct unpack *u, struct archive *a, struct archive_entry *e, char *path, struct bi_error *err)
{
	_cleanup_close_ int pfd = -1;
	const char *name, *link = A.archive_entry_hardlink(e);
	mode_t type = A.archive_entry_filetype(e);
	int r;

	if (!link && (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK)) {
		u->devices++;
		return 0;
	}
	if ((pfd = open_parent(u, path, &name, err)) < 0)
		return err->msg[0] ? pfd : fail(u, path, pfd, err);
	if (type == AE_IFDIR && !link)
		return (r = put_dir(u, pfd, name, path, e)) < 0 ? fail(u, path, r, err) : 0;
	/* Whatever an earlier layer had there goes (a directory with its contents). */
	if ((r = remove_at(pfd, name, u->owners, 0)) < 0)
		return fail(u, path, r, err);
	if (link)
		r = put_hardlink(u, link, pfd, name, err);
	else if (type == AE_IFREG)
		r = put_file(a, pfd, name);
	else if (type == AE_IFLNK)
		r = symlinkat(A.archive_entry_symlink(e) ? A.archive_entry_symlink(e) : "", pfd, name) < 0 ? -errno : 0;
	else if (type == AE_IFIFO)
		r = mknodat(pfd, name, S_IFIFO | 0600, 0) < 0 ? -errno : 0;
	else
		return 0;
	if (r == -EIO)
		return bi_error_set(err, r, "%s: entry '%s': %s", u->what, path, A.archive_error_string(a));
	if (r < 0)
		return err->msg[0] ? r : fail(u, path, r, err);
	if (!link && (r = set_meta(u, pfd, name, e)) < 0)
		return fail(u, path, r, err);
	return 0;
}

/* Pass 1 of a layer: its whiteouts, which apply to the layers below only. */
static int whiteout(const struct unpack *u, int kind, char *path)
{
	_cleanup_close_ int fd = -1;
	char *slash;

	if (kind == IMAGE_ENTRY_OPAQUE) {
		fd = root_open(u->rootfd, path, O_RDONLY | O_DIRECTORY, false);
		return fd < 0 ? 0 : clear_dir(fd, u->owners, 0);
	}
	slash = strrchr(path, '/');
	if (!slash)
		return remove_at(u->rootfd, path, u->owners, 0);
	*slash = '\0';
	fd = root_open(u->rootfd, path, O_PATH | O_DIRECTORY, false);
	*slash = '/';
	return fd < 0 ? 0 : remove_at(fd, slash + 1, u->owners, 0);
}

static struct archive *tar_open(int fd)
{
	struct archive *a = A.archive_read_new();

	if (!a)
		return NULL;
	A.archive_read_support_filter_gzip(a);
	A.archive_read_support_filter_zstd(a);
	A.archive_read_support_filter_xz(a);
	A.archive_read_support_filter_bzip2(a);
	A.archive_read_support_format_tar(a);
	if (lseek(fd, 0, SEEK_SET) < 0 || A.archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		A.archive_read_free(a);
		return NULL;
	}
	return a;
}

static int tar_pass(struct unpack *u, int fd, bool whiteouts, struct bi_error *err)
{
	struct archive *a = tar_open(fd);
	struct archive_entry *e;
	char path[PATH_MAX];
	int r = 0, k;

	if (!a)
		return bi_error_set(err, -EINVAL, "%s: cannot read the tar: %s", u->what, strerror(errno));
	while ((k = A.archive_read_next_header(a, &e)) == ARCHIVE_OK || k == ARCHIVE_WARN) {
		const char *raw = A.archive_entry_pathname(e);
		int kind = image_entry_path(raw ? raw : "", path, sizeof(path));
		if (kind == -EXDEV) {
			r = bi_error_set(err, -EXDEV, "%s: entry '%s' escapes the root", u->what, raw ? raw : "");
			break;
		}
		if (kind < 0) {
			r = bi_error_set(err, kind, "%s: entry '%.200s...': %s", u->what, raw, strerror(-kind));
			break;
		}
		if (whiteouts) {
			if (kind != IMAGE_ENTRY_PLAIN && u->layer && (r = whiteout(u, kind, path)) < 0) {
				r = fail(u, raw, r, err);
				break;
			}
			continue;
		}
		if (kind != IMAGE_ENTRY_PLAIN || !*path)
			continue;
		if ((r = put_entry(u, a, e, path, err)) < 0)
			break;
	}
	if (r == 0 && k != ARCHIVE_EOF)
		r = bi_error_set(err, -EINVAL, "%s: not a readable tar (gzip, zstd or uncompressed): %s", u->what,
				 A.archive_error_string(a) ? A.archive_error_string(a) : "unknown format");
	A.archive_read_free(a);
	return r;
}

static int unpack_tar(struct unpack *u, int fd, struct bi_error *err)
{
	int r = u->layer ? tar_pass(u, fd, true, err) : 0;

	return r < 0 ? r : tar_pass(u, fd, false, err);
}

/* Directory modes, owners and times once nothing more is written into them. */
static void unpack_finish(struct unpack *u)
{
	for (size_t i = 0; i < u->ndirs; i++) {
		struct dirmode *d = &u->dirs[i];
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, d->mtime };
		_cleanup_close_ int fd = root_open(u->rootfd, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, false);
		/* Best effort, like the times: a directory deleted or replaced
		 * by a later layer is not there any more. */
		if (fd >= 0 && (!u->owners || fchown(fd, d->uid, d->gid) == 0) && fchmod(fd, d->mode) == 0 &&
		    futimens(fd, ts) < 0)
			continue;
		free(d->path);
	}
	free(u->dirs);
	u->dirs = NULL;
	u->ndirs = 0;
}

/* --- the cache ---------------------------------------------------------------------- */

static int cache_images(char *out, size_t n, struct bi_error *err)
{
	const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	struct passwd *pw;
	int e;

	if (x && *x == '/')
		e = snprintf(out, n, "%s/emu-run/images", x);
	else if (home && *home == '/')
		e = snprintf(out, n, "%s/.cache/emu-run/images", home);
	else if ((pw = getpwuid(geteuid())) && pw->pw_dir[0] == '/')
		e = snprintf(out, n, "%s/.cache/emu-run/images", pw->pw_dir);
	else
		return bi_error_set(err, -ENOENT, "--image: no cache directory (set XDG_CACHE_HOME or HOME)");
	if (e < 0 || (size_t)e >= n)
		return bi_error_set(err, -ENAMETOOLONG, "--image: the cache directory's path is too long");
	if ((e = mkdir_p(out, 0700)) < 0)
		return bi_error_set(err, e, "--image: cannot create %s: %s", out, strerror(-e));
	return 0;
}

static int make_tmp(struct source *s, struct bi_error *err)
{
	if (s->tmp[0])
		return 0;
	if ((size_t)snprintf(s->tmp, sizeof(s->tmp), "%s/.tmp-XXXXXX", s->images) >= sizeof(s->tmp) ||
	    !mkdtemp(s->tmp)) {
		int e = -errno;
		s->tmp[0] = '\0';
		return bi_error_set(err, e, "--image: cannot create a directory in %s: %s", s->images, strerror(-e));
	}
	return 0;
}

static void drop_tmp(struct source *s)
{
	if (!s->tmp[0])
		return;
	remove_at(AT_FDCWD, s->tmp, geteuid() == 0, 0);
	s->tmp[0] = '\0';
}

/* A tarball is unpacked (plain files only) into tmp/src and read as a layout. */
static int open_source(const struct emu_config *c, struct source *s, struct bi_error *err)
{
	struct unpack u = { .what = s->what, .owners = false };
	_cleanup_close_ int fd = open(c->image, O_RDONLY | O_CLOEXEC);
	char src[PATH_MAX + 8];
	struct stat st;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return bi_error_set(err, -errno, "%s: %s", s->what, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		s->fd = steal_fd(&fd);
		return 0;
	}
	if ((r = make_tmp(s, err)) < 0)
		return r;
	snprintf(src, sizeof(src), "%s/src", s->tmp);
	if (mkdir(src, 0700) < 0 || (u.rootfd = open(src, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return bi_error_set(err, -errno, "%s: %s", src, strerror(errno));
	r = unpack_tar(&u, fd, err);
	unpack_finish(&u);
	if (r < 0) {
		close(u.rootfd);
		return r;
	}
	s->fd = u.rootfd;
	return 0;
}

/* --- choosing the manifest -------------------------------------------------------------- */

/* A platform for a descriptor the index gives none: from its config. */
static int desc_platform(const struct source *s, struct image_desc *d, struct bi_error *err)
{
	_cleanup_free_ char *json = NULL, *cjson = NULL;
	struct image_manifest m;
	char what[PATH_MAX + 100];
	size_t len = 0, clen = 0;
	int r;

	snprintf(what, sizeof(what), "%s: manifest sha256:%.12s", s->what, d->hex);
	if ((r = blob_json(s, d->hex, "manifest", &json, &len, err)) < 0 ||
	    (r = image_manifest_parse(json, len, what, &m, err)) < 0)
		return r;
	snprintf(what, sizeof(what), "%s: config sha256:%.12s", s->what, m.config);
	r = blob_json(s, m.config, "config", &cjson, &clen, err);
	if (r == 0)
		r = image_config_parse(cjson, clen, what, &d->platform, NULL, err);
	image_manifest_free(&m);
	d->has_platform = r == 0;
	return r;
}

static int index_append(struct image_index *all, const struct image_desc *d)
{
	struct image_desc *v = realloc(all->descs, (all->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	all->descs = v;
	v[all->n++] = *d;
	return 0;
}

/* Every manifest of the index, nested indexes (skopeo copy --all) flattened. */
// NOLINTNEXTLINE(misc-no-recursion): two levels at most (depth < 2)
static int index_flatten(const struct source *s, const char *json, size_t len, const char *what, int depth,
			 struct image_index *all, struct bi_error *err)
{
	struct image_index x;
	int r;

	if ((r = image_index_parse(json, len, what, &x, err)) < 0)
		return r;
	for (size_t i = 0; i < x.n && r == 0; i++) {
		struct image_desc *d = &x.descs[i];
		_cleanup_free_ char *sub = NULL;
		char subwhat[PATH_MAX + 100];
		size_t sublen = 0;
		if (d->is_index && depth < 2) {
			snprintf(subwhat, sizeof(subwhat), "%s: index sha256:%.12s", s->what, d->hex);
			r = blob_json(s, d->hex, "index", &sub, &sublen, err);
			if (r == 0)
				r = index_flatten(s, sub, sublen, subwhat, depth + 1, all, err);
			continue;
		}
		if (d->is_index)
			continue;
		if (!d->has_platform)
			r = desc_platform(s, d, err);
		if (r == 0 && index_append(all, d) < 0)
			r = bi_error_set(err, -ENOMEM, "out of memory");
	}
	image_index_free(&x);
	return r;
}

static int choose_oci(const struct emu_config *c, const struct source *s, const char *json, size_t len,
		      char key[65], struct image_manifest *m, struct bi_error *err)
{
	struct image_index all = { 0 };
	_cleanup_free_ char *mjson = NULL;
	char what[PATH_MAX + 100];
	size_t mlen = 0;
	int r, k;

	snprintf(what, sizeof(what), "%s: index.json", s->what);
	r = index_flatten(s, json, len, what, 0, &all, err);
	k = r < 0 ? r : image_choose(&all, &c->platform, s->what, err);
	if (k >= 0 && all.descs)
		memcpy(key, all.descs[k].hex, 65);
	image_index_free(&all);
	if (k < 0)
		return k;
	snprintf(what, sizeof(what), "%s: manifest sha256:%.12s", s->what, key);
	if ((r = blob_json(s, key, "manifest", &mjson, &mlen, err)) < 0)
		return r;
	return image_manifest_parse(mjson, mlen, what, m, err);
}

/* docker save: the image of manifest.json whose config is for --arch. The
 * cache key is the config's digest (the image ID): manifest.json has no
 * manifest digest. Layers are checked against the config's diff_ids. */
static int choose_docker(const struct emu_config *c, const struct source *s, const char *json, size_t len,
			 char key[65], struct image_manifest *m, struct image_manifest *diff, struct bi_error *err)
{
	struct image_index seen = { 0 };
	int r = 0;

	for (size_t k = 0; r == 0; k++) {
		struct image_desc d = { .has_platform = true };
		_cleanup_free_ char *cjson = NULL;
		// cppcheck-suppress unreadVariable ; -1 is what the cleanup attribute closes when unset
		_cleanup_close_ int fd = -1;
		char what[PATH_MAX + 100];
		size_t clen = 0;
		if ((r = image_docker_parse(json, len, k, m, err)) == -ENOENT) {
			r = image_choose(&seen, &c->platform, s->what, err);
			break;
		}
		if (r < 0)
			break;
		snprintf(what, sizeof(what), "%s: config %s", s->what, m->config);
		if (image_path_hex(m->config, d.hex) < 0)
			r = bi_error_set(err, -EINVAL, "%s: not named by its digest", what);
		else if ((fd = blob_open(s, m->config, d.hex, "config", err)) < 0)
			r = fd;
		else if ((r = read_all(fd, &cjson, &clen, s->what, m->config, err)) == 0)
			r = image_config_parse(cjson, clen, what, &d.platform, diff, err);
		if (r == 0 && !strcmp(d.platform.os, c->platform.os) && !strcmp(d.platform.arch, c->platform.arch) &&
		    !strcmp(d.platform.variant, c->platform.variant)) {
			memcpy(key, d.hex, 65);
			break;
		}
		if (r == 0 && index_append(&seen, &d) < 0)
			r = bi_error_set(err, -ENOMEM, "out of memory");
		image_manifest_free(m);
		image_manifest_free(diff);
	}
	image_index_free(&seen);
	if (r < 0) {
		image_manifest_free(m);
		image_manifest_free(diff);
		return r;
	}
	if (diff->nlayers != m->nlayers) {
		image_manifest_free(m);
		image_manifest_free(diff);
		return bi_error_set(err, -EINVAL, "%s: %zu layers but %zu diff_ids", s->what, m->nlayers,
				    diff->nlayers);
	}
	return 0;
}

/* --- the whole ------------------------------------------------------------------------ */

static int unpack_layers(const struct emu_config *c, const struct source *s, const struct image_manifest *m,
			 const struct image_manifest *diff, int rootfd, struct bi_error *err)
{
	struct unpack u = { .rootfd = rootfd, .owners = geteuid() == 0, .layer = true };
	char what[sizeof(((struct source *)0)->what) + 260], path[PATH_MAX];
	int r = 0;

	for (size_t i = 0; i < m->nlayers && r == 0; i++) {
		_cleanup_close_ int fd = -1;
		const char *hex = diff ? diff->layers[i] : m->layers[i];
		if (diff)
			snprintf(path, sizeof(path), "%s", m->layers[i]);
		else
			snprintf(path, sizeof(path), "blobs/sha256/%s", hex);
		/* A hostile manifest.json's path cannot make the message unreadable. */
		snprintf(what, sizeof(what), "%s: layer %zu (%.200s)", s->what, i + 1, path);
		u.what = what;
		fd = blob_open(s, path, hex, "layer", err);
		r = fd < 0 ? fd : unpack_tar(&u, fd, err);
	}
	unpack_finish(&u);
	if (u.devices)
		emu_note(c, "--image: skipped %zu device nodes (the step gets emu-run's /dev)", u.devices);
	return r;
}

/* The chosen manifest, unpacked into tmp/rootfs and renamed to images/<key>. */
static int build_entry(const struct emu_config *c, struct source *s, const struct image_manifest *m,
		       const struct image_manifest *diff, const char *entry, struct bi_error *err)
{
	char root[PATH_MAX + 16], src[PATH_MAX + 8];
	_cleanup_close_ int rootfd = -1;
	int r;

	if ((r = make_tmp(s, err)) < 0)
		return r;
	snprintf(root, sizeof(root), "%s/rootfs", s->tmp);
	if (mkdir(root, 0755) < 0 || (rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return bi_error_set(err, -errno, "%s: %s", root, strerror(errno));
	emu_note(c, "--image: unpacking %zu layers into %s", m->nlayers, entry);
	if ((r = unpack_layers(c, s, m, diff, rootfd, err)) < 0)
		return r;
	snprintf(src, sizeof(src), "%s/src", s->tmp);
	remove_at(AT_FDCWD, src, true, 0);
	if (rename(s->tmp, entry) == 0) {
		s->tmp[0] = '\0';
		return 0;
	}
	/* Another run made it meanwhile: theirs is as good. */
	if (errno == EEXIST || errno == ENOTEMPTY)
		return 0;
	return bi_error_set(err, -errno, "--image: cannot rename %s to %s: %s", s->tmp, entry, strerror(errno));
}

static int prepare(struct emu_config *c, struct source *s, struct bi_error *err)
{
	struct image_manifest m = { 0 }, diff = { 0 };
	_cleanup_free_ char *json = NULL;
	char key[65], entry[PATH_MAX + 80];
	struct stat st;
	size_t len = 0;
	bool docker = false;
	int r;

	if ((r = cache_images(s->images, sizeof(s->images), err)) < 0 || (r = open_source(c, s, err)) < 0)
		return r;
	r = top_json(s, "index.json", &json, &len, err);
	if (r == -ENOENT) {
		docker = true;
		r = top_json(s, "manifest.json", &json, &len, err);
	}
	if (r == -ENOENT)
		return bi_error_set(err, -ENOENT, "%s: not an OCI image layout, OCI archive or docker-archive (no "
				    "index.json or manifest.json)", s->what);
	if (r < 0)
		return err->msg[0] ? r : bi_error_set(err, r, "%s: %s", s->what, strerror(-r));
	r = docker ? choose_docker(c, s, json, len, key, &m, &diff, err) : choose_oci(c, s, json, len, key, &m, err);
	if (r < 0)
		return r;
	snprintf(entry, sizeof(entry), "%s/%s", s->images, key);
	if (stat(entry, &st) == 0 && S_ISDIR(st.st_mode))
		emu_note(c, "--image: using the cached root %s/rootfs", entry);
	else
		r = build_entry(c, s, &m, docker ? &diff : NULL, entry, err);
	image_manifest_free(&m);
	image_manifest_free(&diff);
	if (r < 0)
		return r;
	if (asprintf(&c->image_rootfs, "%s/rootfs", entry) < 0) {
		c->image_rootfs = NULL;
		return bi_error_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

int image_prepare(struct emu_config *c, struct bi_error *err)
{
	struct source s = { .fd = -1 };
	int r;

	snprintf(s.what, sizeof(s.what), "--image %s", c->image);
	r = archive_api_open(err);
	if (r < 0)
		return r;
	r = prepare(c, &s, err);
	if (s.fd >= 0)
		close(s.fd);
	drop_tmp(&s);
	if (r < 0)
		return r;
	/* The cached root stays as unpacked: steps write to an overlay. */
	c->rootfs = c->image_rootfs;
	c->overlay = true;
	return 0;
}

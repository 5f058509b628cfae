/* SPDX-License-Identifier: MIT */
/*
 * emu-run's parsers of hostile input (emu-runner/user.c, env.c, resolve.c),
 * against a real directory tree standing for a hostile rootfs:
 *
 *  'u' USER[:GROUP] NUL passwd NUL group: user_resolve() with the root's
 *      /etc/passwd and /etc/group being the given bytes. Never crashes; an
 *      answer has at most EMU_MAX_GROUPS groups, the primary group first, an
 *      absolute HOME; a numeric USER not in passwd is that uid.
 *  'e' FILE: env_file_append() on the bytes as an --env-file: every
 *      variable it keeps is KEY=VALUE or KEY, with a non-empty KEY.
 *  'r' FLAG PATH: root_resolve_create() in a root whose entries point out of
 *      it every way a symlink can (relative, absolute, dangling, looping,
 *      magic /proc links). Whatever the path, nothing appears outside the
 *      root, and once placeholders_remove() has run the root is as before.
 *
 * Input: the mode byte, then its data.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emu.h"
#include "fuzz.h"

static char base[64], root[128], outside[128];
static int rootfd = -1;
static char *listing;
static size_t listing_len, listing_cap;

static int add_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	size_t need = strlen(path) + 24;

	(void)ftw;
	if (listing_len + need >= listing_cap) {
		char *bigger = realloc(listing, (listing_len + need) * 2);
		CHECK(bigger, "out of memory");
		listing = bigger;
		listing_cap = (listing_len + need) * 2;
	}
	listing_len += (size_t)snprintf(listing + listing_len, listing_cap - listing_len, "%s %d %o\n", path, type,
					(unsigned)st->st_mode);
	return 0;
}

/* Every path under dir with its type and mode, symlinks not followed. */
static char *tree(const char *dir)
{
	listing_len = 0;
	if (listing)
		listing[0] = '\0';
	nftw(dir, add_entry, 16, FTW_PHYS);
	return strdup(listing ? listing : "");
}

static void put(const char *rel, const void *data, size_t n)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0, "cannot write %s", path);
	CHECK(n == 0 || write(fd, data, n) == (ssize_t)n, "short write");
	close(fd);
}

static char *root_tree;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char p[256];

	(void)argc, (void)argv;
	snprintf(base, sizeof(base), "%s/binfmt-fuzz-emu.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	CHECK(mkdtemp(base), "mkdtemp");
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	CHECK(mkdir(root, 0755) == 0 && mkdir(outside, 0755) == 0, "mkdir");
	snprintf(p, sizeof(p), "%s/etc", root);
	CHECK(mkdir(p, 0755) == 0, "mkdir etc");
	snprintf(p, sizeof(p), "%s/dir", root);
	CHECK(mkdir(p, 0755) == 0, "mkdir dir");
	put("file", "x", 1);
	/* Every way out a hostile image can offer. */
	snprintf(p, sizeof(p), "%s/rel-out", root);
	CHECK(symlink("../outside", p) == 0, "symlink");
	snprintf(p, sizeof(p), "%s/abs-out", root);
	CHECK(symlink(outside, p) == 0, "symlink");
	snprintf(p, sizeof(p), "%s/dangling-out", root);
	CHECK(symlink("../../outside/new", p) == 0, "symlink");
	snprintf(p, sizeof(p), "%s/dir/up", root);
	CHECK(symlink("../../..", p) == 0, "symlink");
	snprintf(p, sizeof(p), "%s/loop", root);
	CHECK(symlink("loop", p) == 0, "symlink");
	snprintf(p, sizeof(p), "%s/magic", root);
	CHECK(symlink("/proc/self/root/tmp", p) == 0, "symlink");
	put("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 30);
	put("etc/group", "root:x:0:\n", 10);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(rootfd >= 0, "open root");
	root_tree = tree(root);
	return 0;
}

static void user_mode(const char *s, size_t n)
{
	size_t sl = strnlen(s, n), rest, pl;
	const char *passwd = sl < n ? s + sl + 1 : s + n, *group;
	struct emu_user u;
	struct bi_error err = { 0 };
	int r;

	rest = (size_t)(s + n - passwd);
	pl = strnlen(passwd, rest);
	group = pl < rest ? passwd + pl + 1 : s + n;
	put("etc/passwd", passwd, pl);
	put("etc/group", group, (size_t)(s + n - group));
	r = user_resolve(rootfd, s, &u, &err);
	CHECK(r == 0 || (r < 0 && err.msg[0]), "user_resolve returned %d without a message", r);
	if (r == 0) {
		CHECK(u.ngroups >= 1 && u.ngroups <= EMU_MAX_GROUPS, "%zu groups", u.ngroups);
		CHECK(u.groups[0] == u.gid, "primary group not first");
		CHECK(memchr(u.home, 0, sizeof(u.home)) && u.home[0] == '/', "HOME '%s'", u.home);
	}
}

static void env_mode(const char *s, size_t n)
{
	char path[256], **list = NULL;
	struct bi_error err = { 0 };
	size_t count = 0;
	int r;

	snprintf(path, sizeof(path), "%s/env-file", base);
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		CHECK(fd >= 0 && (n == 0 || write(fd, s, n) == (ssize_t)n), "env-file");
		close(fd);
	}
	r = env_file_append(path, &list, &count, &err);
	CHECK(r == 0 || (r < 0 && err.msg[0]), "env_file_append returned %d without a message", r);
	for (size_t i = 0; i < count; i++)
		CHECK(list[i] && list[i][0] && list[i][0] != '=', "variable %zu is '%s'", i, list[i] ? list[i] : "(null)");
	if (list)
		env_free(list);
}

static void resolve_mode(const char *s, size_t n)
{
	struct placeholders ph = { 0 };
	struct bi_error err = { 0 };
	char *after, *out;
	int fd;

	if (n < 1)
		return;
	fd = root_resolve_create(rootfd, s + 1, s[0] & 1, &ph, &err);
	if (fd >= 0)
		close(fd);
	else
		CHECK(err.msg[0], "root_resolve_create returned %d without a message", fd);
	out = tree(outside);
	CHECK(!strchr(strchr(out, '\n') + 1, '\n'), "'%s' created something outside the root:\n%s", s + 1, out);
	free(out);
	placeholders_remove(rootfd, &ph);
	placeholders_free(&ph);
	after = tree(root);
	CHECK(!strcmp(after, root_tree), "'%s' left the root changed:\n%s\nwas:\n%s", s + 1, after, root_tree);
	free(after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (rootfd < 0)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size < 1)
		return 0;
	s = fuzz_strndup(data + 1, size - 1);
	switch (data[0]) {
	case 'u': user_mode(s, size - 1); break;
	case 'e': env_mode(s, size - 1); break;
	case 'r': resolve_mode(s, size - 1); break;
	default: break;
	}
	free(s);
	return 0;
}

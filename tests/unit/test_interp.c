/* SPDX-License-Identifier: MIT */
/* interp.c's once-per-run work: search directories resolved once, each
 * emulator's ELF header read once per run (the cache), and this program's own
 * machine read once, without any answer going stale: a changed file is read
 * again, and its inode (mode, owner) is checked on every call. Emulators are
 * copies of this test binary, so need_static stays off (as in test_plan.c). */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interp.h"

static char dir[PATH_MAX];
static const struct interp_policy loose = { .need_static = false, .require_root_owner = false };

static void path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void make_emulator(const char *name)
{
	char cmd[PATH_MAX * 2 + 64];

	snprintf(cmd, sizeof(cmd), "cp /proc/%d/exe %s/%s", (int)getpid(), dir, name);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	char p[PATH_MAX + 16];
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/binfmt-interp-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(p, sizeof(p), "%s/real", dir);
	return mkdir(p, 0755);
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* A fresh search of dir/real with its own cache. */
static void search_with_cache(struct interp_search *s, struct interp_cache *c)
{
	char real[PATH_MAX + 16];

	path_of(real, sizeof(real), "real");
	assert_int_equal(interp_search_init(s, real, ""), 0);
	memset(c, 0, sizeof(*c));
	s->cache = c;
}

static void dirs_are_resolved_once_at_init(void **state)
{
	char link[PATH_MAX + 16], real[PATH_MAX], got[PATH_MAX], want[PATH_MAX + 32];
	char missing[PATH_MAX + 16], value[3 * PATH_MAX];
	struct interp_search s;
	(void)state;

	make_emulator("real/qemu-aarch64");
	path_of(link, sizeof(link), "link");
	assert_int_equal(symlink("real", link), 0);
	path_of(missing, sizeof(missing), "missing");
	snprintf(value, sizeof(value), "%s:%s", missing, link);
	assert_int_equal(interp_search_init(&s, value, ""), 0);
	assert_int_equal(s.ndirs, 2);
	/* The directory as given, for messages; resolved, for the kernel. */
	assert_string_equal(s.dirs[1], link);
	assert_null(s.real[0]);
	assert_non_null(realpath(link, real));
	assert_string_equal(s.real[1], real);
	assert_int_equal(interp_find(&s, "aarch64", got, sizeof(got)), 0);
	snprintf(want, sizeof(want), "%s/qemu-aarch64", real);
	assert_string_equal(got, want);
	unlink(link);
}

static void each_file_is_read_once(void **state)
{
	struct interp_search s;
	struct interp_cache c;
	struct bi_error err = { 0 };
	char got[PATH_MAX];
	(void)state;

	make_emulator("real/qemu-riscv64");
	search_with_cache(&s, &c);
	assert_int_equal(interp_find_verified(&s, "riscv64", &loose, got, sizeof(got), &err), 0);
	assert_int_equal(c.n, 1);
	/* The second look finds the same file by identity and reads nothing new. */
	assert_int_equal(interp_find_verified(&s, "riscv64", &loose, got, sizeof(got), &err), 0);
	assert_int_equal(c.n, 1);
	/* Without a cache nothing is remembered (emu-run, interp_verify). */
	s.cache = NULL;
	assert_int_equal(interp_find_verified(&s, "riscv64", &loose, got, sizeof(got), &err), 0);
	assert_int_equal(c.n, 1);
}

static void a_changed_file_is_read_again(void **state)
{
	static const char script[] = "#!/bin/sh\nexit 0\n";
	struct interp_search s;
	struct interp_cache c;
	struct bi_error err = { 0 };
	char got[PATH_MAX], p[PATH_MAX + 32];
	int fd;
	(void)state;

	make_emulator("real/qemu-s390x");
	search_with_cache(&s, &c);
	assert_int_equal(interp_find_verified(&s, "s390x", &loose, got, sizeof(got), &err), 0);
	assert_int_equal(c.n, 1);
	/* Rewritten in place: same path and inode, different contents. */
	path_of(p, sizeof(p), "real/qemu-s390x");
	fd = open(p, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, script, sizeof(script) - 1), (ssize_t)(sizeof(script) - 1));
	close(fd);
	assert_int_equal(interp_find_verified(&s, "s390x", &loose, got, sizeof(got), &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "is not an ELF file"));
}

static void inode_checks_run_every_time(void **state)
{
	const struct interp_policy strict = { .need_static = false, .require_root_owner = true };
	struct interp_search s;
	struct interp_cache c;
	struct bi_error err = { 0 };
	char got[PATH_MAX], p[PATH_MAX + 32];
	(void)state;

	make_emulator("real/qemu-ppc64le");
	path_of(p, sizeof(p), "real/qemu-ppc64le");
	assert_int_equal(chmod(p, 0757), 0);
	search_with_cache(&s, &c);
	/* binfmt's first pass, before the privilege check, ignores ownership... */
	assert_int_equal(interp_find_verified(&s, "ppc64le", &loose, got, sizeof(got), &err), 0);
	assert_int_equal(c.n, 1);
	/* ...its second refuses what others can write, although the ELF facts are known. */
	assert_int_equal(interp_find_verified(&s, "ppc64le", &strict, got, sizeof(got), &err), -EPERM);
	assert_non_null(strstr(err.msg, geteuid() == 0 ? "writable by group or others" : "not root"));
	assert_int_equal(c.n, 1);
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(interp_find_verified(&s, "ppc64le", &loose, got, sizeof(got), &err), -EACCES);
	assert_non_null(strstr(err.msg, "is not executable"));
}

/* A FIFO swapped in where an emulator was: refused at once. Before issue 20,
 * open(2) without O_NONBLOCK waited for a writer forever (the alarm ends the
 * test then), while binfmt may hold the instance lock. */
static void a_fifo_does_not_block(void **state)
{
	struct bi_error err = { 0 };
	char p[PATH_MAX + 32];
	(void)state;

	path_of(p, sizeof(p), "fifo");
	assert_int_equal(mkfifo(p, 0755), 0);
	alarm(10);
	assert_int_equal(interp_verify(p, &loose, &err), -EINVAL);
	alarm(0);
	assert_non_null(strstr(err.msg, "not a regular file"));
}

/* What comes back is the file itself: the kernel stores the path and resolves
 * it again at every use, so a link would stay re-pointable. */
static void the_resolved_path_comes_back(void **state)
{
	struct interp_search s;
	struct interp_cache c;
	struct bi_error err = { 0 };
	char got[PATH_MAX], target[PATH_MAX + 32], link[PATH_MAX + 32], want[PATH_MAX];
	(void)state;

	make_emulator("real/qemu-mips64-static");
	path_of(target, sizeof(target), "real/qemu-mips64-static");
	path_of(link, sizeof(link), "real/qemu-mips64");
	assert_int_equal(symlink(target, link), 0);
	search_with_cache(&s, &c);
	assert_int_equal(interp_find_verified(&s, "mips64", &loose, got, sizeof(got), &err), 0);
	assert_non_null(realpath(target, want));
	assert_string_equal(got, want);
}

static void host_machine_is_stable(void **state)
{
	unsigned m1 = 0, c1 = 0, m2 = 1, c2 = 1;
	(void)state;

	assert_int_equal(interp_host_machine(&m1, &c1), 0);
	assert_int_equal(interp_host_machine(&m2, &c2), 0);
	assert_true(m1 != 0 && c1 != 0);
	assert_int_equal(m1, m2);
	assert_int_equal(c1, c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dirs_are_resolved_once_at_init),
		cmocka_unit_test(each_file_is_read_once),
		cmocka_unit_test(a_changed_file_is_read_again),
		cmocka_unit_test(inode_checks_run_every_time),
		cmocka_unit_test(a_fifo_does_not_block),
		cmocka_unit_test(the_resolved_path_comes_back),
		cmocka_unit_test(host_machine_is_stable),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

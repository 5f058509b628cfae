/* SPDX-License-Identifier: MIT */
/* binfmtfs.c paths that need no privileges: opening a directory where nothing
 * is mounted, and the "filesystem missing" path. binfmt_misc is built into this
 * kernel, so a kernel without it is faked with a /proc/filesystems copy that
 * lacks it (the only fake here); libkmod really runs and finds the module
 * built in, and the code must still refuse with an actionable message. */
#include "unit.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "binfmtfs.h"

static char dir[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/binfmt-fs-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char p[PATH_MAX + 32];
	(void)state;
	snprintf(p, sizeof(p), "%s/filesystems", dir);
	unlink(p);
	return rmdir(dir);
}

static void unmounted_dir_reads_as_empty(void **state)
{
	struct bfs_options o = { .mountpoint = dir, .may_mount = false };
	struct bi_error err = { 0 };
	struct binfmtfs fs;
	struct binfmt_entry *entries = (void *)1;
	struct binfmt_entry e;
	size_t n = 99;
	bool enabled = true;
	(void)state;

	assert_int_equal(bfs_open(&fs, &o, &err), 0);
	assert_int_equal(fs.dirfd, -1);
	assert_false(fs.mounted_here);
	assert_int_equal(bfs_list(&fs, &entries, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(entries);
	assert_int_equal(bfs_read_entry(&fs, "qemu-aarch64", &e), -ENOENT);
	assert_int_equal(bfs_status_enabled(&fs, &enabled), -ENOENT);
	assert_false(enabled);
	assert_int_equal(bfs_remove(&fs, "qemu-aarch64", &err), -ENOENT);
	bfs_close(&fs);
}

static void missing_mountpoint_is_an_error(void **state)
{
	struct bfs_options o = { .mountpoint = "/nonexistent/binfmt", .may_mount = true };
	struct bi_error err = { 0 };
	struct binfmtfs fs;
	(void)state;

	assert_int_equal(bfs_open(&fs, &o, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/binfmt"));
}

static void filesystem_missing_from_kernel(void **state)
{
	char fake[PATH_MAX + 32];
	struct bfs_options o = { .mountpoint = dir, .may_mount = true, .proc_filesystems = fake };
	struct bi_error err = { 0 };
	struct binfmtfs fs;
	FILE *f;
	int r;
	(void)state;

	snprintf(fake, sizeof(fake), "%s/filesystems", dir);
	f = fopen(fake, "w");
	assert_non_null(f);
	fputs("nodev\tsysfs\nnodev\tproc\n\text4\n", f);
	fclose(f);
	r = bfs_open(&fs, &o, &err);
	/* Either libkmod could not load it, or it "loaded" and the filesystem is
	 * still absent: both must say what to do, and mount nothing. */
	assert_true(r == -ENODEV || (r < 0 && strstr(err.msg, "modprobe binfmt_misc")));
	assert_non_null(strstr(err.msg, "binfmt_misc"));
	assert_null(strchr(err.msg, '\n'));
	assert_false(fs.mounted_here);
	assert_int_equal(fs.dirfd, -1);
}

static void kernel_version_parses(void **state)
{
	(void)state;
	char rel[128] = "";
	FILE *f = fopen("/proc/sys/kernel/osrelease", "re");
	char *end = NULL;
	unsigned long major, minor;

	/* The same release, read from procfs and parsed another way (it asserted
	 * only ">= 2.6" before: any answer but 0 passed). */
	assert_non_null(f);
	assert_non_null(fgets(rel, sizeof(rel), f));
	fclose(f);
	major = strtoul(rel, &end, 10);
	assert_int_equal(*end, '.');
	minor = strtoul(end + 1, NULL, 10);
	assert_int_equal(bfs_kernel_version(), major * 1000 + minor);
}

/*
 * bfs_userns_holder in a user namespace of our own: its oldest process is the
 * one that made it (here a child whose name holds ") (", which the stat
 * parser must read past), seen from a younger process of the same namespace.
 * Needs unprivileged user namespaces; skipped where unshare fails.
 */
static void holder_is_the_oldest_of_the_user_namespace(void **state)
{
	int pfd[2], status;
	pid_t outer;
	(void)state;

	assert_int_equal(pipe(pfd), 0);
	outer = fork();
	assert_true(outer >= 0);
	if (outer == 0) {
		struct ns_holder h = { 0 };
		char line[160];
		pid_t inner;
		close(pfd[0]);
		if (unshare(CLONE_NEWUSER) < 0) {
			ssize_t w = write(pfd[1], "skip", 4);
			_exit(w == 4 ? 0 : 1);
		}
		prctl(PR_SET_NAME, "a) (b c");
		inner = fork();
		if (inner == 0) {
			int fd = bfs_userns_holder(&h);
			snprintf(line, sizeof(line), "%d %d %s %d", fd >= 0, (int)h.pid, h.comm, h.same_mntns);
			ssize_t w = write(pfd[1], line, strlen(line));
			_exit(w > 0 ? 0 : 1);
		}
		waitpid(inner, &status, 0);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
	}
	close(pfd[1]);
	char got[160] = "", want[160];
	ssize_t n = read(pfd[0], got, sizeof(got) - 1);
	close(pfd[0]);
	waitpid(outer, &status, 0);
	assert_true(n > 0);
	if (!strcmp(got, "skip"))
		skip();
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(want, sizeof(want), "1 %d a) (b c 1", (int)outer);
	assert_string_equal(got, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unmounted_dir_reads_as_empty),
		cmocka_unit_test(missing_mountpoint_is_an_error),
		cmocka_unit_test(filesystem_missing_from_kernel),
		cmocka_unit_test(kernel_version_parses),
		cmocka_unit_test(holder_is_the_oldest_of_the_user_namespace),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

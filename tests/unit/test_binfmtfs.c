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
	/* This suite's private instances need >= 6.7; any kernel is >= 2.6. */
	assert_true(bfs_kernel_version() >= 2006);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unmounted_dir_reads_as_empty),
		cmocka_unit_test(missing_mountpoint_is_an_error),
		cmocka_unit_test(filesystem_missing_from_kernel),
		cmocka_unit_test(kernel_version_parses),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: MIT */
/*
 * A root caller's step range (emu-runner/idmap.c, compiled into this test with
 * namespace.c and subid.c, which it uses): the maps it writes from root's
 * ranges, the id lookups the sandbox checks --user and the tty group with,
 * and, as root, the idmapped mounts it makes: a directory on disk root's
 * seen through the mount as the range's first id, a file created through it
 * by the range's first id landing on disk as root's; on ramfs (no idmapped
 * mounts) the step's ids stay off, with why. The end-to-end tests are
 * tests/integration/85-emu-run-escape.sh and 80-emu-run-apt.sh.
 */
#include "../../emu-runner/idmap.c"
#include "../../emu-runner/namespace.c"
#include "../../emu-runner/subid.c"

#include <sys/fsuid.h>
#include <sys/stat.h>

#include "unit.h"

static void test_map_lines(void **state)
{
	struct subid_ranges rg = { .start = { 100000, 300000 }, .count = { 65536, 10 }, .n = 2 };
	char map[128];

	(void)state;
	set_map(map, sizeof(map), &rg);
	assert_string_equal(map, "0 100000 65536\n65536 300000 10\n");
	/* Too small for the second line: the first stays a whole map. */
	set_map(map, 20, &rg);
	assert_string_equal(map, "0 100000 65536\n");
}

static void test_to_host(void **state)
{
	const char *map = "0 100000 65536\n65536 300000 10\n";
	unsigned long h = 0;

	(void)state;
	assert_true(idmap_to_host(map, 0, &h));
	assert_int_equal(h, 100000);
	assert_true(idmap_to_host(map, 5, &h));
	assert_int_equal(h, 100005);
	assert_true(idmap_to_host(map, 65535, &h));
	assert_int_equal(h, 165535);
	assert_true(idmap_to_host(map, 65536, &h));
	assert_int_equal(h, 300000);
	assert_true(idmap_to_host(map, 65545, &h));
	assert_int_equal(h, 300009);
	assert_false(idmap_to_host(map, 65546, &h));
	assert_false(idmap_to_host("", 0, NULL));
	assert_false(idmap_to_host("garbage", 0, NULL));
}

static const struct emu_config *config(const char *rootfs)
{
	static struct emu_config c;

	memset(&c, 0, sizeof(c));
	c.rootfs = rootfs;
	return &c;
}

/* Anyone but root: nothing (as root, the child becomes nobody first). */
static void test_not_root(void **state)
{
	int status;
	pid_t pid = fork();

	(void)state;
	if (pid == 0) {
		struct step_ids ids;
		int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (geteuid() == 0 && (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0))
			_exit(10);
		_exit(idmap_prepare(config("/"), fd, &ids) == 0 && !ids.on && ids.root_mnt == -1 && !ids.bind_mnt ? 0 : 11);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* In a child with a mount namespace of its own: 0, or what failed. */
static int idmapped_child(const char *dir, bool ramfs)
{
	struct step_ids ids;
	struct stat st;
	int fd, f;

	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return 10;
	if (ramfs && mount("ramfs", dir, "ramfs", 0, NULL) < 0)
		return 11;
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || idmap_prepare(config(dir), fd, &ids) < 0)
		return 12;
	if (ramfs)
		return !ids.on && strstr(ids.why, "cannot be idmapped: Invalid argument") && ids.root_mnt < 0 ? 0 : 13;
	if (!ids.on || ids.root_mnt < 0 || strncmp(ids.uid_map, "0 ", 2) != 0)
		return 14;
	/* On disk root's (the test made it), through the mount the range's first id. */
	if (fstat(ids.root_mnt, &st) < 0 || st.st_uid != ids.uid0 || st.st_gid != ids.gid0)
		return 15;
	/* As the range's first id (the step's root), a file lands on disk as root's. */
	setfsgid((gid_t)ids.gid0);
	setfsuid((uid_t)ids.uid0);
	f = openat(ids.root_mnt, "made", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	setfsuid(0);
	setfsgid(0);
	if (f < 0)
		return 16;
	close(f);
	/* As our own uid 0, which has no place in the idmap: nothing. */
	f = openat(ids.root_mnt, "made-as-0", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (f >= 0 || errno != EOVERFLOW)
		return 17;
	idmap_release(&ids);
	return 0;
}

static int in_child(const char *dir, bool ramfs)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(idmapped_child(dir, ramfs));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void test_idmapped_root(void **state)
{
	char dir[] = "/tmp/test-emu-idmap-XXXXXX", made[64];
	struct stat st;
	int r;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	r = in_child(dir, false);
	snprintf(made, sizeof(made), "%s/made", dir);
	if (r == 14) {
		rmdir(dir);
		skip(); /* not in the initial user namespace, or its filesystem cannot: the fallback */
	}
	assert_int_equal(r, 0);
	assert_int_equal(stat(made, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 0);
	unlink(made);
	assert_int_equal(in_child(dir, true), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_lines),
		cmocka_unit_test(test_to_host),
		cmocka_unit_test(test_not_root),
		cmocka_unit_test(test_idmapped_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

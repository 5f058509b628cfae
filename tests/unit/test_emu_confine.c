/* SPDX-License-Identifier: MIT */
/*
 * What confines emu-run's step (emu-runner/confine.c, compiled into this
 * test), each case in a forked child so that its filter, closed descriptors
 * and dropped capabilities stay there: descriptors closed but the kept ones;
 * the setuid/setgid seccomp rules refuse exactly the modes they name, and only
 * when a file is created or changed; the kernel rules refuse calls that would
 * otherwise succeed (unshare(0), PTRACE_TRACEME) or fail differently; the
 * capability sets become Docker's. The integration test with real escapes is
 * tests/integration/85-emu-run-escape.sh.
 */
#include "../../emu-runner/confine.c"

#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "unit.h"

static char dir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test-emu-confine-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Valgrind runs its own code under the child's filter and cannot follow it. */
static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

/* Run fn in a child; its exit status is the number of the first failed
 * check (0: all passed). */
static int in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* -1 with errno e, as a 0/1 check */
static bool fails(long r, int e)
{
	return r == -1 && errno == e;
}

static int close_inherited_child(void)
{
	const int keep[] = { 11, 20 };

	if (dup2(0, 10) < 0 || dup2(0, 11) < 0 || dup2(0, 20) < 0 || dup2(0, 300) < 0)
		return 1;
	if (confine_close_inherited(keep, 2) < 0)
		return 2;
	if (fcntl(10, F_GETFD) != -1 || fcntl(300, F_GETFD) != -1)
		return 3;
	if (fcntl(11, F_GETFD) < 0 || fcntl(20, F_GETFD) < 0 || fcntl(2, F_GETFD) < 0)
		return 4;
	return 0;
}

static void test_close_inherited(void **state)
{
	(void)state;
	assert_int_equal(in_child(close_inherited_child), 0);
}

static int no_setuid_child(void)
{
	char f[128], g[128], h[128];
	int fd;

	snprintf(f, sizeof(f), "%s/file", dir);
	snprintf(g, sizeof(g), "%s/created", dir);
	snprintf(h, sizeof(h), "%s/node", dir);
	fd = open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
	if (fd < 0)
		return 1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || confine_seccomp(CONFINE_NO_SETUID) < 0)
		return 2;
	if (!fails(chmod(f, 04755), EPERM) || !fails(chmod(f, 02755), EPERM) || !fails(fchmod(fd, 06700), EPERM))
		return 3;
	if (!fails(fchmodat(AT_FDCWD, f, 04700, 0), EPERM))
		return 4;
	if (chmod(f, 0700) < 0 || fchmod(fd, 01777) < 0) /* sticky is no privilege */
		return 5;
	if (!fails(open(g, O_CREAT | O_WRONLY | O_CLOEXEC, 04755), EPERM) || access(g, F_OK) == 0)
		return 6;
	if (!fails(syscall(SYS_openat, AT_FDCWD, g, O_WRONLY | O_CREAT, 02644), EPERM))
		return 7;
	/* Not creating: the mode is ignored by the kernel, and by us. */
	close(fd);
	fd = (int)syscall(SYS_openat, AT_FDCWD, f, O_RDONLY | O_CLOEXEC, 04755);
	if (fd < 0)
		return 8;
	close(fd);
	if (!fails(mknod(h, S_IFREG | 04644, 0), EPERM) || mknod(h, S_IFREG | 0644, 0) < 0)
		return 9;
	if (!fails(syscall(437 /* openat2 */, AT_FDCWD, g, NULL, 0), ENOSYS) ||
	    !fails(syscall(425 /* io_uring_setup */, 1, NULL), ENOSYS))
		return 10;
	/* Not this filter's business. */
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
		return 11;
	return 0;
}

static void test_no_setuid(void **state)
{
	(void)state;
	if (under_valgrind())
		skip();
	assert_int_equal(in_child(no_setuid_child), 0);
}

static int no_kernel_child(void)
{
	uint64_t a[4] = { 1 /* struct mount_attr: attr_set = MOUNT_ATTR_RDONLY */ };
	int setattr_was, tree_was;

	/* Unfiltered, unshare(0) and PTRACE_TRACEME succeed; mount_setattr
	 * and open_tree fail with EBADF (or EPERM without privileges, which
	 * proves nothing about the filter, so is not counted). */
	if (syscall(SYS_unshare, 0) < 0)
		return 1;
	setattr_was = syscall(442 /* mount_setattr */, -1, "", AT_EMPTY_PATH, a, sizeof(a)) < 0 ? errno : 0;
	tree_was = syscall(428 /* open_tree */, -1, "", AT_EMPTY_PATH) < 0 ? errno : 0;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || confine_seccomp(CONFINE_NO_KERNEL) < 0)
		return 2;
	if (!fails(syscall(SYS_unshare, 0), EPERM) || !fails(ptrace(PTRACE_TRACEME, 0, NULL, NULL), EPERM))
		return 3;
	if ((setattr_was != EPERM && !fails(syscall(442, -1, "", AT_EMPTY_PATH, a, sizeof(a)), EPERM)) ||
	    (tree_was != EPERM && !fails(syscall(428, -1, "", AT_EMPTY_PATH), EPERM)))
		return 4;
	if (!fails(syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0, NULL), EPERM) ||
	    !fails(syscall(SYS_umount2, "/nonexistent", 0), EPERM))
		return 5;
	/* Not this filter's business. */
	if (chmod(dir, 02700) < 0 || chmod(dir, 0700) < 0)
		return 6;
	return 0;
}

static void test_no_kernel(void **state)
{
	(void)state;
	if (under_valgrind())
		skip();
	assert_int_equal(in_child(no_kernel_child), 0);
}

static unsigned long long status_hex(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long v = ~0ULL;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtoull(line + strlen(key), NULL, 16);
	if (f)
		fclose(f);
	return v;
}

static int caps_child(void)
{
	if (confine_caps(true, true) < 0)
		return 1;
	/* Docker's set without SETFCAP (31) and MKNOD (27). */
	if (status_hex("CapBnd:") != 0x200425fbULL || status_hex("CapPrm:") != 0x200425fbULL ||
	    status_hex("CapEff:") != 0x200425fbULL)
		return 2;
	return 0;
}

static int caps_docker_child(void)
{
	if (confine_caps(false, false) < 0)
		return 1;
	return status_hex("CapBnd:") == 0xa80425fbULL ? 0 : 2;
}

static void test_caps(void **state)
{
	(void)state;
	/* Cutting the bounding set needs CAP_SETPCAP. */
	if (prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0) != 1 || geteuid() != 0)
		skip();
	assert_int_equal(in_child(caps_child), 0);
	assert_int_equal(in_child(caps_docker_child), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_close_inherited),
		cmocka_unit_test(test_no_setuid),
		cmocka_unit_test(test_no_kernel),
		cmocka_unit_test(test_caps),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}

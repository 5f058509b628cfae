/*
 * cpu-view: the x86-64 micro-architecture levels this process sees, for the
 * tests' expectations (issue 11).
 *
 * Why a program and not /proc/cpuinfo: what binfmt reports is what *its* CPUID
 * returns, and that depends on how it runs. Under valgrind, CPUID is valgrind's
 * synthetic one (an Intel model without AVX-512, so at most v3, even on an
 * AVX-512 host whose /proc/cpuinfo says v4). The tests run this helper the way
 * they run binfmt (tests/integration/lib.sh: in_binfmt_env, the same wrapper),
 * so its answer is the one binfmt should give.
 *
 * Why not binfmt's own detect_amd64_level(): that would check the program
 * against itself. This uses the compiler runtime's independent CPU model
 * (libgcc's __builtin_cpu_supports, which also checks the OS-enabled state in
 * XCR0); 70-detect.sh cross-checks it against /proc/cpuinfo where no wrapper
 * stands between them.
 *
 * It also answers whether 32-bit x86 code runs natively here, which binfmt reports
 * as linux/386 without an emulator: a kernel may be built with IA32 emulation and
 * still refuse it (ia32_emulation=false, or a VM kernel that disables it; seen on a
 * machine whose /proc/sys/abi/vsyscall32 exists). The test is the real thing: a
 * minimal i386 ELF (exit(0) through int 0x80), executed in an empty binfmt_misc
 * instance of a user namespace of our own - so that no handler registered on the
 * host (qemu-i386 after `make run`) answers for it, as none does in the tests'
 * private instances. Under valgrind the child's execve is the real one
 * (--trace-children=no); a failed one ends it with 101, as binfmt's probe is.
 *
 * Output, one line each:
 *   levels: linux/amd64/v2 linux/amd64/v3   (beyond v1; empty after the colon on v1)
 *   vendor: intel|amd|other
 *   i386: native|no (exec format error...)|no (...)
 *   i386-instance: private|current (no user namespace: the caller's registry decided)
 * On a machine that is not x86-64: "levels:", "vendor: none", "i386: no (not x86-64)".
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
static int level(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("x86-64-v4"))
		return 4;
	if (__builtin_cpu_supports("x86-64-v3"))
		return 3;
	if (__builtin_cpu_supports("x86-64-v2"))
		return 2;
	return 1;
}

static const char *vendor(void)
{
	return __builtin_cpu_is("intel") ? "intel" : __builtin_cpu_is("amd") ? "amd" : "other";
}
#elif defined(__x86_64__) && !defined(__clang_analyzer__) /* make lint analyses the other branch */
#error "cpu-view needs gcc >= 12 (the x86-64-vN names of __builtin_cpu_supports); build the tests with CC=gcc"
#else
static int level(void)
{
	return 0;
}

static const char *vendor(void)
{
	return "none";
}
#endif

#if defined(__x86_64__)
/* ELF32 header + one PT_LOAD + "mov eax,1; xor ebx,ebx; int 0x80". */
static const uint8_t i386_exit0[] = {
	0x7f, 'E', 'L', 'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	2, 0, 3, 0, 1, 0, 0, 0, 0x54, 0x80, 0x04, 0x08, 0x34, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0x34, 0, 0x20, 0, 1, 0, 0, 0, 0, 0, 0, 0,
	1, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x04, 0x08, 0, 0x80, 0x04, 0x08,
	0x5d, 0, 0, 0, 0x5d, 0, 0, 0, 5, 0, 0, 0, 0, 0x10, 0, 0,
	0xb8, 1, 0, 0, 0, 0x31, 0xdb, 0xcd, 0x80,
};

static bool write_all(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s);

	if (fd >= 0)
		close(fd);
	return ok;
}

/* In the child: a user namespace of our own with an empty binfmt_misc instance
 * (Linux >= 6.7), so only the kernel's own loaders can take the file. */
static bool private_instance(const char *dir)
{
	char map[64], mnt[4200];
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return false;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	if (!write_all("/proc/self/uid_map", map) || !write_all("/proc/self/setgroups", "deny"))
		return false;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	if (!write_all("/proc/self/gid_map", map))
		return false;
	snprintf(mnt, sizeof(mnt), "%s/bm", dir);
	return mkdir(mnt, 0700) == 0 && mount("binfmt_misc", mnt, "binfmt_misc", 0, NULL) == 0;
}

static void i386(void)
{
	char dir[] = "/tmp/cpu-view.XXXXXX", path[sizeof(dir) + 8], bm[sizeof(dir) + 4];
	int fd, st = 0, pipefd[2];
	char instance = '?';
	pid_t pid;

	if (!mkdtemp(dir)) {
		printf("i386: no (cannot make a directory in /tmp: %s)\n", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/i386", dir);
	snprintf(bm, sizeof(bm), "%s/bm", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	if (fd < 0 || write(fd, i386_exit0, sizeof(i386_exit0)) != (ssize_t)sizeof(i386_exit0) ||
	    close(fd) < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
		printf("i386: no (cannot write the test program: %s)\n", strerror(errno));
		goto out;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char *const argv[] = { path, NULL };
		const char c = private_instance(dir) ? 'p' : 'c';

		if (write(pipefd[1], &c, 1) != 1)
			_exit(125);
		execve(path, argv, (char *[]){ NULL });
		_exit(126);
	}
	close(pipefd[1]);
	if (pid < 0 || read(pipefd[0], &instance, 1) != 1 || waitpid(pid, &st, 0) != pid) {
		printf("i386: no (cannot run the test program: %s)\n", strerror(errno));
		close(pipefd[0]);
		goto out;
	}
	close(pipefd[0]);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		puts("i386: native");
	else if (WIFEXITED(st))
		printf("i386: no (exec failed: exit status %d)\n", WEXITSTATUS(st));
	else
		printf("i386: no (killed by signal %d)\n", WTERMSIG(st));
	printf("i386-instance: %s\n", instance == 'p' ? "private" : "current");
out:
	/* The child's mount died with its namespace; nothing is mounted here. */
	unlink(path);
	rmdir(bm);
	rmdir(dir);
}
#else
static void i386(void)
{
	puts("i386: no (not x86-64)");
}
#endif

int main(void)
{
	const int n = level();

	fputs("levels:", stdout);
	for (int v = 2; v <= n; v++)
		printf(" linux/amd64/v%d", v);
	printf("\nvendor: %s\n", vendor());
	i386();
	return ferror(stdout) || fflush(stdout) ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Test-only: a step that tries to leave emu-run's sandbox (issue 19), built
 * static (-D_GNU_SOURCE) by tests/integration/85-emu-run-escape.sh, run natively inside
 * the root, so every attempt is the kernel's answer, not QEMU's (QEMU is
 * multi-threaded, which alone makes unshare(CLONE_NEWUSER) fail).
 *
 *   escape-probe walk [DEV:INO] [CMD ARG...]
 *       start CMD in the background (a QEMU process to look at), then follow
 *       every /proc/PID/{fd/N,root,cwd,exe} that can be opened and print
 *       "OUTSIDE link -> target" for each that leads out of the root: a
 *       directory whose ".." chain ends anywhere but at "/", or a file whose
 *       name does not resolve to it inside the root. DEV:INO is the
 *       emulator, which the kernel holds open for F entries: allowed as an
 *       exe, but only if it cannot be opened for writing. Exit 1 if any.
 *   escape-probe escape
 *       one line per attempt, "name: ok" when it worked, else the errno name.
 *   escape-probe serve NAME   (on the host)
 *       listen on the abstract unix socket @NAME, accept one connection and
 *       print the peer's uid as the kernel gives it (SO_PEERCRED) - what a
 *       host daemon trusts - and send the same line back.
 *   escape-probe connect NAME (in the step, with --network host)
 *       connect to @NAME and print what the server saw.
 */
#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOENT: return "ENOENT";
	case EROFS: return "EROFS";
	case EINVAL: return "EINVAL";
	case ENOSYS: return "ENOSYS";
	case EBUSY: return "EBUSY";
	case ETXTBSY: return "ETXTBSY";
	case ENOSPC: return "ENOSPC";
	case ENODEV: return "ENODEV";
	case ENOEXEC: return "ENOEXEC";
	default: return strerror(e);
	}
}

static const char *pfx = ""; /* "userns: " once in a namespace of our own */

static void report(const char *what, int r)
{
	printf("%s%s: %s\n", pfx, what, errname(r < 0 ? errno : 0));
	fflush(stdout);
}

/* --- walk -------------------------------------------------------------------------- */

static int outside, emulator_seen;
static unsigned long long emu_dev, emu_ino;

static void flag(const char *link, const char *why)
{
	char target[PATH_MAX];
	ssize_t k = readlink(link, target, sizeof(target) - 1);

	target[k > 0 ? k : 0] = '\0';
	printf("OUTSIDE %s -> %s (%s)\n", link, target, why);
	outside++;
}

/* Does the ".." chain from fd end at our root? */
static int dir_inside(int fd, const struct stat *root)
{
	struct stat st, up;
	int cur = dup(fd);

	if (fstat(fd, &st) < 0)
		return 1;
	for (int i = 0; i < 256 && cur >= 0; i++) {
		int next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (next < 0 || fstat(cur, &st) < 0 || fstat(next, &up) < 0) {
			close(cur);
			if (next >= 0)
				close(next);
			return 1; /* cannot climb: nothing to reach */
		}
		close(cur);
		cur = next;
		if (st.st_dev == up.st_dev && st.st_ino == up.st_ino)
			break; /* a root: ours, or someone else's */
	}
	close(cur);
	return st.st_dev == root->st_dev && st.st_ino == root->st_ino;
}

static void check(const char *link, const struct stat *root, int exe, int fdno)
{
	char target[PATH_MAX];
	struct stat st, byname;
	int fd = open(link, O_PATH | O_CLOEXEC);
	ssize_t k;

	if (fd < 0)
		return; /* EACCES, ENOENT: closed to us */
	if (fstat(fd, &st) < 0) {
		close(fd);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		if (!dir_inside(fd, root))
			flag(link, "its .. chain ends at another root");
		close(fd);
		return;
	}
	k = readlink(link, target, sizeof(target) - 1);
	target[k > 0 ? k : 0] = '\0';
	close(fd);
	/* pipe:[N], socket:[N], anon_inode:... are no paths; and the
	 * caller's own stdin, stdout and stderr (a file of the caller's
	 * choosing: no directory, so nothing to climb from) are the step's. */
	if (target[0] != '/' || (fdno >= 0 && fdno <= 2))
		return;
	/* The emulator first: run by emu-run's launcher it is a read-only
	 * bind mount inside the root (/dev/.emu-run-accel/qemu), and it must
	 * not be writable there either. */
	if (!(exe && emu_ino && st.st_dev == emu_dev && st.st_ino == emu_ino) && stat(target, &byname) == 0 &&
	    byname.st_dev == st.st_dev && byname.st_ino == st.st_ino)
		return;
	if (exe && emu_ino && st.st_dev == emu_dev && st.st_ino == emu_ino) {
		int w = open(link, O_WRONLY | O_CLOEXEC);
		if (w < 0) {
			emulator_seen++;
			return; /* the emulator, read-only to us */
		}
		close(w);
		flag(link, "the emulator, open for writing");
		return;
	}
	flag(link, "a file that is not in the root");
}

static int walk(const struct stat *root, int *n)
{
	DIR *proc = opendir("/proc");
	struct dirent *p;
	char path[PATH_MAX];

	if (!proc)
		return -1;
	while ((p = readdir(proc))) {
		static const char *const links[] = { "root", "cwd", "exe" };
		DIR *fds;
		struct dirent *f;

		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		for (size_t i = 0; i < 3; i++) {
			snprintf(path, sizeof(path), "/proc/%s/%s", p->d_name, links[i]);
			check(path, root, i == 2, -1);
			(*n)++;
		}
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		fds = opendir(path);
		while (fds && (f = readdir(fds))) {
			if (f->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fd/%s", p->d_name, f->d_name);
			check(path, root, 0, atoi(f->d_name));
			(*n)++;
		}
		if (fds)
			closedir(fds);
	}
	closedir(proc);
	return 0;
}

static int cmd_walk(int argc, char **argv)
{
	struct stat root;
	pid_t child = -1;
	int n = 0;

	if (argc > 2 && sscanf(argv[2], "%llu:%llu", &emu_dev, &emu_ino) == 2) {
		argv++;
		argc--;
	}
	if (argc > 2) {
		child = fork();
		if (child == 0) {
			execv(argv[2], argv + 2);
			_exit(127);
		}
		usleep(300000); /* let it start under QEMU */
	}
	if (stat("/", &root) < 0 || walk(&root, &n) < 0) {
		perror("walk");
		return 2;
	}
	printf("walked %d links, %d outside, %d the emulator\n", n, outside, emulator_seen);
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	return outside ? 1 : 0;
}

/* --- escape ------------------------------------------------------------------------- */

static void try_mounts(void)
{
	int fd;

	report("umount /proc/sys", umount2("/proc/sys", MNT_DETACH));
	report("remount /sys rw", mount(NULL, "/sys", NULL, MS_REMOUNT | MS_BIND, NULL));
	fd = open("/proc/sys/kernel/core_pattern", O_WRONLY | O_CLOEXEC);
	report("open core_pattern for writing", fd);
	if (fd >= 0)
		close(fd); /* never written */
	report("mount proc", mount("proc", "/mnt", "proc", 0, NULL));
	umount2("/mnt", MNT_DETACH); /* in case it was mounted */
}

/* A binfmt_misc entry, registered where this process can: the host must not see it. */
static void try_binfmt(void)
{
	static const char reg[] = ":escape-probe:E::escprobe::/bin/sh:";
	int r, fd;

	r = mount("binfmt_misc", "/mnt", "binfmt_misc", 0, NULL);
	report("mount binfmt_misc", r);
	if (r < 0)
		return;
	fd = open("/mnt/register", O_WRONLY | O_CLOEXEC);
	r = fd < 0 ? -1 : (write(fd, reg, sizeof(reg) - 1) == (ssize_t)(sizeof(reg) - 1) ? 0 : -1);
	report("register an entry", r);
	if (fd >= 0)
		close(fd);
	umount2("/mnt", MNT_DETACH);
}

/* cap_sys_admin+ep, as setcap(8) writes it (revision 2, 20 bytes). */
static int setcap(const char *path)
{
	struct vfs_cap_data v = { .magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE };

	v.data[0].permitted = 1U << CAP_SYS_ADMIN;
	return setxattr(path, "security.capability", &v, XATTR_CAPS_SZ_2, 0);
}

static void try_files(void)
{
	struct stat st;
	int fd;

	fd = open("/escape-suid", O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
	if (fd >= 0)
		close(fd);
	report("chmod 4755", chmod("/escape-suid", 04755));
	report("chmod 2755", chmod("/escape-suid", 02755));
	fd = open("/escape-suid2", O_CREAT | O_WRONLY | O_CLOEXEC, 04755);
	if (fd >= 0) {
		close(fd);
		errno = stat("/escape-suid2", &st) == 0 && (st.st_mode & S_ISUID) ? 0 : EPERM;
		report("create with mode 4755", errno ? -1 : 0);
	} else {
		report("create with mode 4755", -1);
	}
	report("set file capabilities", setcap("/escape-suid"));
	/* Not creating: the mode is ignored, and must not be refused. */
	fd = (int)syscall(SYS_openat, AT_FDCWD, "/escape-suid", O_RDONLY | O_CLOEXEC, 04755);
	report("open (no O_CREAT) with mode 4755", fd);
	if (fd >= 0)
		close(fd);
	report("mknod block device", mknod("/escape-sda", S_IFBLK | 0600, makedev(8, 0)));
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	report("finit_module", (int)syscall(SYS_finit_module, fd, "", 0));
	report("init_module", (int)syscall(SYS_init_module, "\177ELF", 4UL, ""));
	if (fd >= 0)
		close(fd);
}

static void try_pid1(void)
{
	int fd;

	report("ptrace pid 1", (int)ptrace(PTRACE_ATTACH, 1, NULL, NULL));
	fd = open("/proc/1/root/", O_PATH | O_CLOEXEC);
	report("open /proc/1/root", fd);
	if (fd >= 0)
		close(fd);
	fd = open("/proc/1/mem", O_RDONLY | O_CLOEXEC);
	report("open /proc/1/mem", fd);
	if (fd >= 0)
		close(fd);
}

/* A user namespace of our own (no capability is needed for one): full
 * capabilities there, over mount copies that are locked to us. */
static int nested(void)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int fd;

	/* Mapping the parent's uid 0 needs CAP_SETFCAP, which a step whose
	 * root is the host's lacks: become an ordinary user first.
	 * (Where 1000 is not mapped, as for an unprivileged caller, stay.) */
	if (uid == 0 && setresgid(1000, 1000, 1000) == 0) {
		if (setgroups(0, NULL) < 0 || setresuid(1000, 1000, 1000) < 0)
			return -1;
		uid = gid = 1000;
		/* The uid change made us undumpable, our /proc files root's. */
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	}
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return -1;
	fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		/* Fails where "deny" was inherited: as good. */
		ssize_t k = write(fd, "deny", 4);
		(void)k;
		close(fd);
	}
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, map, strlen(map)) < 0)
		return -1;
	close(fd);
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	fd = open("/proc/self/gid_map", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, map, strlen(map)) < 0)
		return -1;
	close(fd);
	return 0;
}

static int cmd_escape(void)
{
	pid_t pid;
	int status;

	try_mounts();
	try_binfmt();
	try_files();
	try_pid1();
	pid = fork();
	if (pid == 0) {
		int r = nested();
		report("new user namespace", r);
		if (r == 0) {
			pfx = "userns: ";
			try_mounts();
			try_binfmt();
			try_files();
			try_pid1();
		}
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return 0;
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name)
{
	size_t n = strlen(name);

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (n > sizeof(a->sun_path) - 1)
		n = sizeof(a->sun_path) - 1;
	memcpy(a->sun_path + 1, name, n); /* sun_path[0] == 0: abstract */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int cmd_serve(const char *name)
{
	struct sockaddr_un a;
	socklen_t len = abstract_addr(&a, name), cl = sizeof(struct ucred);
	struct ucred cred;
	char line[64];
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), c;

	if (s < 0 || bind(s, (struct sockaddr *)&a, len) < 0 || listen(s, 1) < 0) {
		perror("serve");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	c = accept(s, NULL, NULL);
	if (c < 0 || getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
		perror("accept");
		return 1;
	}
	snprintf(line, sizeof(line), "peer uid %u gid %u\n", (unsigned)cred.uid, (unsigned)cred.gid);
	fputs(line, stdout);
	return write(c, line, strlen(line)) < 0;
}

static int cmd_connect(const char *name)
{
	struct sockaddr_un a;
	socklen_t len = abstract_addr(&a, name);
	char line[64] = "";
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t n;

	if (s < 0 || connect(s, (struct sockaddr *)&a, len) < 0) {
		printf("connect: %s\n", errname(errno));
		return 1;
	}
	n = read(s, line, sizeof(line) - 1);
	line[n > 0 ? n : 0] = '\0';
	fputs(line, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "serve"))
		return cmd_serve(argv[2]);
	if (argc > 2 && !strcmp(argv[1], "connect"))
		return cmd_connect(argv[2]);
	if (argc > 1 && !strcmp(argv[1], "walk"))
		return cmd_walk(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "escape"))
		return cmd_escape();
	fprintf(stderr, "usage: escape-probe walk [DEV:INO] [CMD ARG...] | escape | serve NAME | connect NAME\n");
	return 2;
}

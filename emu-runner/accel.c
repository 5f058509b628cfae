/* SPDX-License-Identifier: MIT */
/*
 * Compile acceleration (--accel, issue 15). A C compile under emulation is
 * about 20x slower than native, almost all of it in the compiler proper. So
 * where a --rootfs step's root has GCC, its cc1, cc1plus and lto1 and its
 * assembler run as the host's Debian cross tools for the root's target,
 * natively: the root's driver (gcc, g++), collect2, ld, make and sh stay
 * emulated, so specs, search paths and options are exactly the root's.
 *
 * Only where it is the same compiler: the same Debian source version. The
 * upstream version is not enough: bookworm's gcc-12 12.2.0-14+deb12u1 (its
 * AArch64 stack-protector fix, CVE-2023-4039) and the cross gcc 12.2.0-14cross1
 * built from 12.2.0-14 generate different code for a VLA under
 * -fstack-protector-strong. So the version of the root's package owning the
 * tool (its dpkg database) must equal the host's cross package's, less the
 * "crossN" suffix Debian's cross builds add; and the host's tool, run once
 * here, must say that version and the target. The assembler: binutils-<triplet>,
 * the same version. Anything else stays emulated, with a --verbose line.
 *
 * How (all in the step's mount namespace; nothing in the root changes):
 * ACCEL_DIR is a read-only tmpfs of ours in the step's /dev, holding the
 * launcher (launcher/emu-run-accel.c, embedded in emu-run), its table, and
 * read-only bind mounts of the host's loader directory, of each host tool
 * and of each root tool as it was. The launcher is bind-mounted over each
 * root tool; it execs the host tool through the host's loader, or, where
 * native output could differ, the root tool as it was (emulated).
 *
 * Host side (emu-run): accel_prepare decides. Sandbox side, before
 * pivot_root while the host's tree is still visible: accel_mount.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "accel.h"
#include "emu.h"
#include "util.h"

#define VERIFY_TIMEOUT_MS 20000
#define DPKG_STATUS "var/lib/dpkg/status"
#define DPKG_INFO "var/lib/dpkg/info"

/* The embedded launcher (accel-image.c). */
extern const unsigned char accel_launcher_start[] __attribute__((visibility("hidden")));
extern const uint64_t accel_launcher_size __attribute__((visibility("hidden")));

/* Debian's GNU triplets (gcc's directory names and binutils' prefixes). */
static const char *triplet_for(const struct emu_config *c)
{
	static const char *const table[][2] = {
		{ "aarch64", "aarch64-linux-gnu" },   { "ppc64le", "powerpc64le-linux-gnu" },
		{ "s390x", "s390x-linux-gnu" },       { "riscv64", "riscv64-linux-gnu" },
		{ "mips64el", "mips64el-linux-gnuabi64" }, { "i386", "i686-linux-gnu" },
		{ "x86_64", "x86_64-linux-gnu" },
	};
	const char *cpu = c->target->cpu;

	/* Debian's armhf is ARMv7 with VFP; armel the rest. */
	if (!strcmp(cpu, "arm"))
		return !strcmp(c->platform.variant, "v5") || !strcmp(c->platform.variant, "v6") ? "arm-linux-gnueabi"
											 : "arm-linux-gnueabihf";
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (!strcmp(cpu, table[i][0]))
			return table[i][1];
	return NULL;
}

/* The host's dynamic loader, as its programs name it. */
static const char *host_loader(const struct emu_config *c)
{
	if (!c->host)
		return NULL;
	if (!strcmp(c->host->cpu, "x86_64"))
		return "/lib64/ld-linux-x86-64.so.2";
	if (!strcmp(c->host->cpu, "aarch64"))
		return "/lib/ld-linux-aarch64.so.1";
	return NULL;
}

/* A file inside a root (dirfd), resolved there (its absolute symlinks too), read whole. */
static char *slurp(int dirfd, const char *path, size_t max)
{
	_cleanup_close_ int fd = root_open(dirfd, path, O_RDONLY | O_CLOEXEC, false);
	size_t len = 0, cap = 0;
	char *buf = NULL;
	ssize_t r;

	if (fd < 0)
		return NULL;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 65536;
			if (cap > max || !(nb = realloc(buf, cap))) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	return buf;
}

/* Version of an installed package in dpkg's status file ("" when not installed). */
static void pkg_version(const char *status, const char *name, char *ver, size_t n)
{
	char want[160];
	const char *p = status;

	ver[0] = '\0';
	if (!status)
		return;
	snprintf(want, sizeof(want), "Package: %s\n", name);
	while ((p = strstr(p, want))) {
		const char *end = strstr(p, "\n\n"), *v, *st;

		if (p != status && p[-1] != '\n') {
			p++;
			continue;
		}
		end = end ? end : p + strlen(p);
		st = strstr(p, "\nStatus: install ok installed\n");
		v = strstr(p, "\nVersion: ");
		if (st && st < end && v && v < end) {
			v += strlen("\nVersion: ");
			snprintf(ver, n, "%.*s", (int)strcspn(v, "\n"), v);
			return;
		}
		p = end;
	}
}

/* Does dpkg list path (absolute) in package name's file list? */
static bool pkg_owns(int dirfd, const char *name, const char *path)
{
	char list[256];
	_cleanup_free_ char *buf = NULL;
	size_t l = strlen(path);

	snprintf(list, sizeof(list), DPKG_INFO "/%s.list", name);
	if (!(buf = slurp(dirfd, list, 64 << 20)))
		return false;
	for (const char *p = buf; (p = strstr(p, path)); p += l)
		if ((p == buf || p[-1] == '\n') && (p[l] == '\n' || p[l] == '\0'))
			return true;
	return false;
}

/* A regular file (not a symlink) at path inside the root? */
static bool root_regular(int dirfd, const char *path)
{
	_cleanup_close_ int fd = root_open(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC, false);
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* Debian's cross packages are NAME VERSIONcrossN of the source version VERSION. */
static void strip_cross(char *ver)
{
	char *x = strstr(ver, "cross");

	if (x && x[5] && strspn(x + 5, "0123456789") == strlen(x + 5))
		*x = '\0';
}

/* Run the host tool once (natively, through loader, libraries from libdir)
 * with args; its output must contain want and want2. 0, or -1 with why set. */
static int verify(const char *loader, const char *libdir, const char *tool, const char *const *args,
		  const char *want, const char *want2, char *why, size_t n)
{
	const char *argv[16] = { loader, "--inhibit-cache", "--library-path", libdir, tool };
	char *const envp[] = { (char *)"LC_ALL=C", (char *)"PATH=/usr/bin:/bin", NULL };
	size_t k = 5, len = 0;
	char out[8192];
	int p[2], st = 0;
	pid_t pid;

	for (; *args && k < ARRAY_SIZE(argv) - 1; args++)
		argv[k++] = *args;
	argv[k] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return snprintf(why, n, "pipe: %s", strerror(errno)), -1;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(126);
		execve(loader, (char *const *)argv, envp);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return snprintf(why, n, "fork: %s", strerror(errno)), -1;
	}
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		ssize_t r;

		if (poll(&pf, 1, VERIFY_TIMEOUT_MS) <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		r = read(p[0], out + len, sizeof(out) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == sizeof(out) - 1)
			break;
	}
	out[len] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st))
		return snprintf(why, n, "it was killed by signal %d", WTERMSIG(st)), -1;
	if (!strstr(out, want) || (want2 && !strstr(out, want2)))
		return snprintf(why, n, "it says \"%.*s\", not %s", (int)strcspn(out, "\n"), out, want), -1;
	return 0;
}

struct tool_kind {
	const char *name, *pkg;    /* cc1 in cpp-N[-triplet], ... */
	const char *kind;          /* the launcher's */
};

static struct accel_tool *add_tool(struct accel *a, const char *root, const char *host, const char *what,
				   const char *kind)
{
	struct accel_tool *t;

	if (a->n == ACCEL_MAX_TOOLS)
		return NULL;
	t = &a->tools[a->n++];
	snprintf(t->root, sizeof(t->root), "/%s", root);
	snprintf(t->host, sizeof(t->host), "%s", host);
	snprintf(t->what, sizeof(t->what), "%s", what);
	t->kind = kind;
	return t;
}

struct scan {
	const struct emu_config *c;
	struct accel *a;
	int rootfd, hostfd;
	const char *hostdir;       /* --accel-root, or "" for / */
	const char *trip;
	char *root_status, *host_status;
};

/* The host's path of a file of the tool root, its symlinks resolved there. */
static int real_path(const struct scan *s, const char *rel, char *out, size_t n)
{
	_cleanup_close_ int fd = root_open(s->hostfd, rel, O_PATH | O_CLOEXEC, false);
	char proc[64];
	ssize_t l;

	if (fd < 0)
		return fd;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if ((l = readlink(proc, out, n - 1)) < 0)
		return -errno;
	out[l] = '\0';
	return 0;
}

/* The root's owner of rel among the candidate package names. */
static bool root_owner(const struct scan *s, const char *const *names, size_t k, const char *rel, char *pkg,
		       size_t pn, char *ver, size_t vn)
{
	char abs[PATH_MAX];

	snprintf(abs, sizeof(abs), "/%s", rel);
	for (size_t i = 0; i < k; i++) {
		if (!pkg_owns(s->rootfd, names[i], abs))
			continue;
		pkg_version(s->root_status, names[i], ver, vn);
		if (!ver[0])
			continue;
		snprintf(pkg, pn, "%s", names[i]);
		return true;
	}
	return false;
}

/* One tool: the root's rel and the host's hrel (package hpkg). */
static void consider(struct scan *s, const char *rel, const char *const *names, size_t k, const char *hrel,
		     const char *hpkg, const char *kind)
{
	bool gcc = kind != NULL;
	char rpkg[160], rver[128], hver[128], src[128], hp[PATH_MAX], what[400];
	char hpkg_abs[PATH_MAX];
	struct accel_tool *t;

	if (!root_owner(s, names, k, rel, rpkg, sizeof(rpkg), rver, sizeof(rver))) {
		emu_note(s->c, "accel: /%s stays emulated: no installed package of the root owns it", rel);
		return;
	}
	snprintf(hpkg_abs, sizeof(hpkg_abs), "/%s", hrel);
	if (!root_regular(s->hostfd, hrel) || !pkg_owns(s->hostfd, hpkg, hpkg_abs)) {
		emu_note(s->c, "accel: /%s stays emulated: %s has no %s (apt-get install %s, version %s)", rel,
			 s->hostdir[0] ? s->hostdir : "this host", hpkg, hpkg, rver);
		return;
	}
	pkg_version(s->host_status, hpkg, hver, sizeof(hver));
	snprintf(src, sizeof(src), "%s", hver);
	if (gcc)
		strip_cross(src);
	if (strcmp(src, rver)) {
		emu_note(s->c, "accel: /%s stays emulated: the root has %s %s, the host's cross tool is %s %s: "
			 "not the same compiler", rel, rpkg, rver, hpkg, hver[0] ? hver : "(not installed)");
		return;
	}
	if (real_path(s, hrel, hp, sizeof(hp)) < 0) {
		emu_note(s->c, "accel: /%s stays emulated: %s/%s cannot be resolved", rel, s->hostdir, hrel);
		return;
	}
	snprintf(what, sizeof(what), "%s %s", hpkg, hver);
	if (!(t = add_tool(s->a, rel, hp, what, kind ? kind : "plain"))) {
		emu_note(s->c, "accel: /%s stays emulated: more than %d tools", rel, ACCEL_MAX_TOOLS);
		return;
	}
	/* What the host tool must say when the step's view runs it (accel_check). */
	t->gcc = gcc;
	if (gcc) {
		snprintf(t->want, sizeof(t->want), "(Debian %s) version ", rver);
		snprintf(t->want2, sizeof(t->want2), "(%s)", s->trip);
	} else {
		snprintf(t->want, sizeof(t->want), "GNU assembler (GNU Binutils for Debian) %.*s",
			 (int)strcspn(rver, "-"), rver);
	}
}

/* The root's GCC N in <dir>/<triplet>/N (dir: usr/libexec/gcc, usr/lib/gcc). */
static void scan_gcc(struct scan *s, const char *dir, const char *hdir)
{
	static const struct tool_kind kinds[] = { { "cc1", "cpp", "c" }, { "cc1plus", "g++", "c++" },
						  { "lto1", "gcc", "plain" } };
	char path[PATH_MAX];
	int fd;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "%s/%s", dir, s->trip);
	if ((fd = root_open(s->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, false)) < 0)
		return;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strspn(e->d_name, "0123456789.") != strlen(e->d_name))
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
			char rel[PATH_MAX], hrel[PATH_MAX], n1[160], n2[160];
			const char *names[] = { n1, n2 };

			const char *other = !strcmp(hdir, "usr/libexec/gcc-cross") ? "usr/lib/gcc-cross"
										     : "usr/libexec/gcc-cross";

			/* Names longer than these buffers are no GCC of Debian's. */
			if (snprintf(rel, sizeof(rel), "%s/%s/%s", path, e->d_name, kinds[i].name) >= (int)sizeof(rel) ||
			    snprintf(n1, sizeof(n1), "%s-%s-%s", kinds[i].pkg, e->d_name, s->trip) >= (int)sizeof(n1) ||
			    snprintf(n2, sizeof(n2), "%s-%s", kinds[i].pkg, e->d_name) >= (int)sizeof(n2) ||
			    snprintf(hrel, sizeof(hrel), "%s/%s/%s/%s", hdir, s->trip, e->d_name, kinds[i].name) >=
				    (int)sizeof(hrel) ||
			    !root_regular(s->rootfd, rel))
				continue;
			/* The cross tools' directory follows the host's layout, whatever the root's. */
			if (!root_regular(s->hostfd, hrel) &&
			    snprintf(hrel, sizeof(hrel), "%s/%s/%s/%s", other, s->trip, e->d_name, kinds[i].name) >=
				    (int)sizeof(hrel))
				continue;
			consider(s, rel, names, 2, hrel, n1, kinds[i].kind);
		}
	}
	closedir(d);
}

/* The host loader's directory and name, resolved inside the tool root. */
static int find_loader(struct scan *s, char *why, size_t n)
{
	const char *ld = host_loader(s->c);
	char real[PATH_MAX];
	char *slash;
	int e;

	if (!ld)
		return snprintf(why, n, "this host's architecture has no known loader"), -1;
	if ((e = real_path(s, ld, real, sizeof(real))) < 0)
		return snprintf(why, n, "%s%s: %s", s->hostdir, ld, strerror(-e)), -1;
	if (!(slash = strrchr(real, '/')) || slash == real)
		return snprintf(why, n, "%s: unexpected path %s", ld, real), -1;
	*slash = '\0';
	snprintf(s->a->libdir, sizeof(s->a->libdir), "%s", real);
	snprintf(s->a->loader, sizeof(s->a->loader), "%s", slash + 1);
	return 0;
}

void accel_prepare(const struct emu_config *c, int rootfd, struct accel *a)
{
	struct scan s = { .c = c, .a = a, .rootfd = rootfd, .hostfd = -1 };
	char why[PATH_MAX + 128], rel[PATH_MAX], n1[160];
	const char *names[] = { n1 };
	_cleanup_free_ char *hostdir = NULL;

	memset(a, 0, sizeof(*a));
	if (rootfd < 0 || c->native)
		return;
	if (c->accel_off) {
		emu_note(c, "accel: off (--accel off or %s=off): every tool is emulated", EMU_ENV_ACCEL);
		return;
	}
	if (!(s.trip = triplet_for(c)))
		return;
	/* Absolute: the sandbox clones its files from another working directory. */
	if (c->accel_root && !(hostdir = realpath(c->accel_root, NULL))) {
		emu_note(c, "accel: everything stays emulated: --accel-root %s: %s", c->accel_root, strerror(errno));
		return;
	}
	s.hostdir = hostdir ? hostdir : "";
	if ((s.hostfd = open(hostdir ? hostdir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		emu_note(c, "accel: everything stays emulated: --accel-root %s: %s", c->accel_root, strerror(errno));
		return;
	}
	if (!(s.root_status = slurp(rootfd, DPKG_STATUS, 256 << 20))) {
		/* Not a Debian root (or no dpkg): nothing known to accelerate. */
		_cleanup_close_ int gcc = root_open(rootfd, "usr/bin/gcc", O_PATH | O_CLOEXEC, false);

		if (gcc >= 0)
			emu_note(c, "accel: the root has gcc but no dpkg database (/" DPKG_STATUS "): its toolchain "
				 "cannot be identified, every tool is emulated");
		goto out;
	}
	/* Is there anything to accelerate? Only then look at the host. */
	if (find_loader(&s, why, sizeof(why)) < 0) {
		emu_note(c, "accel: everything stays emulated: no loader for the host's tools: %s", why);
		goto out;
	}
	if (!(s.host_status = slurp(s.hostfd, DPKG_STATUS, 256 << 20))) {
		emu_note(c, "accel: everything stays emulated: %s/" DPKG_STATUS " cannot be read", s.hostdir);
		goto out;
	}
	scan_gcc(&s, "usr/libexec/gcc", "usr/libexec/gcc-cross");
	scan_gcc(&s, "usr/lib/gcc", "usr/lib/gcc-cross");
	snprintf(rel, sizeof(rel), "usr/bin/%s-as", s.trip);
	snprintf(n1, sizeof(n1), "binutils-%s", s.trip);
	if (root_regular(rootfd, rel))
		consider(&s, rel, names, 1, rel, n1, NULL);
out:
	free(s.root_status);
	free(s.host_status);
	close(s.hostfd);
}

/* --- sandbox side ---------------------------------------------------------------------- */

static int clone_ro(int dfd, const char *path, unsigned flags)
{
	struct mount_attr at = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	int m = open_tree(dfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | flags);

	if (m < 0)
		return -errno;
	if (mount_setattr(m, "", AT_EMPTY_PATH, &at, sizeof(at)) < 0) {
		int e = -errno;

		close(m);
		return e;
	}
	return m;
}

static int tmpfs_new(const char *mode, const char *size, bool exec)
{
	_cleanup_close_ int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
	int m;

	if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "mode", mode, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "size", size, 0) < 0 || fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
	    (m = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (exec ? 0 : MOUNT_ATTR_NOEXEC))) < 0)
		return -errno;
	return m;
}

/* Bind m (closed) at name in dir, an empty file or directory made for it. */
static int attach_new(int m, int dir, const char *name, bool isdir)
{
	int e = 0, fd;

	if (isdir)
		e = mkdirat(dir, name, 0755) < 0 ? -errno : 0;
	else if ((fd = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0555)) < 0)
		e = -errno;
	else
		close(fd);
	if (e == 0 && move_mount(m, "", dir, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		e = -errno;
	close(m);
	return e;
}

static int write_all(int dir, const char *name, const void *buf, size_t n, mode_t mode)
{
	_cleanup_close_ int fd = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
	const char *p = buf;

	if (fd < 0)
		return -errno;
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* What pid 1 set up (once): ACCEL_DIR's mount, the tools bound into it and
 * what each root tool is (device, inode, size, mtime: what the launcher
 * matches the kernel's FILE against). */
static int accel_dir = -1;
static bool mounted[ACCEL_MAX_TOOLS];
static struct stat tool_st[ACCEL_MAX_TOOLS];

/* ACCEL_DIR: launcher, qemu, lib, cache, tN (launcher and qemu only when
 * nothing is accelerated). The table comes after the check. */
static int fill(const struct accel *a, const char *qemu, int rootmnt, int dir, char *why, size_t wn)
{
	int e, m, n = 0;

	if ((e = write_all(dir, "launcher", accel_launcher_start, (size_t)accel_launcher_size, 0555)) < 0)
		return snprintf(why, wn, "cannot write the launcher: %s", strerror(-e)), e;
	if ((m = clone_ro(AT_FDCWD, qemu, 0)) < 0 || (e = attach_new(m, dir, "qemu", false)) < 0)
		return snprintf(why, wn, "cannot mount %s: %s", qemu, strerror(m < 0 ? -m : -e)), m < 0 ? m : e;
	if (!a->n)
		return 0;
	/* The search lists the launcher keeps for the step (its own to write: it
	 * only changes what its own compiles search, as editing its headers would). */
	if ((m = tmpfs_new("1777", "1m", false)) < 0 || (e = attach_new(m, dir, "cache", true)) < 0)
		return snprintf(why, wn, "cannot mount its cache: %s", strerror(m < 0 ? -m : -e)), m < 0 ? m : e;
	if ((m = clone_ro(AT_FDCWD, a->libdir, 0)) < 0 || (e = attach_new(m, dir, "lib", true)) < 0)
		return snprintf(why, wn, "cannot mount %s: %s", a->libdir, strerror(m < 0 ? -m : -e)), m < 0 ? m : e;
	for (size_t i = 0; i < a->n; i++) {
		char t[24];
		_cleanup_close_ int rt = -1;

		/* A --bind over it (EXDEV), a symlink on the way, or gone: it stays emulated. */
		rt = root_open(rootmnt, a->tools[i].root, O_PATH | O_NOFOLLOW | O_CLOEXEC, true);
		if (rt < 0 || fstat(rt, &tool_st[i]) < 0 || !S_ISREG(tool_st[i].st_mode))
			continue;
		snprintf(t, sizeof(t), "t%zu", i);
		if ((m = clone_ro(AT_FDCWD, a->tools[i].host, 0)) < 0 || attach_new(m, dir, t, false) < 0)
			continue;
		mounted[i] = true;
		n++;
	}
	return n;
}

/* What is lost when ACCEL_DIR cannot be made: the tools, the model, or both. */
static const char *lost(const struct accel *a, const struct emulation *em)
{
	if (!a->n)
		return "no launcher to pass the CPU model";
	return em->cpu ? "everything stays emulated and no launcher passes the CPU model" : "everything stays emulated";
}

int accel_mount(const struct emu_config *c, const struct accel *a, const struct emulation *em, int rootmnt,
		int devfd)
{
	_cleanup_close_ int m = -1;
	char why[PATH_MAX + 128] = "";
	const char *name = strrchr(ACCEL_DIR, '/') + 1;
	int n;

	if (!a->n && !em->cpu)
		return 0;
	if ((m = tmpfs_new("0755", "16m", true)) < 0) {
		emu_note(c, "accel: %s: cannot mount a tmpfs: %s", lost(a, em), strerror(-m));
		return 0;
	}
	/* Attached first: mounts cannot be made beneath a detached one everywhere. */
	if (mkdirat(devfd, name, 0755) < 0 || move_mount(m, "", devfd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0 ||
	    (accel_dir = openat(devfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		emu_note(c, "accel: %s: cannot mount " ACCEL_DIR ": %s", lost(a, em), strerror(errno));
		return 0;
	}
	if ((n = fill(a, em->qemu, rootmnt, accel_dir, why, sizeof(why))) < 0) {
		emu_note(c, "accel: %s: " ACCEL_DIR ": %s", lost(a, em), why);
		memset(mounted, 0, sizeof(mounted));
		close(accel_dir);
		accel_dir = -1;
		return 0;
	}
	for (size_t i = 0; i < a->n; i++)
		if (!mounted[i])
			emu_note(c, "accel: %s stays emulated: it is not the file emu-run looked at", a->tools[i].root);
	return n;
}

/*
 * After pivot_root, in exactly the step's view (its root, the loader and
 * libraries under ACCEL_DIR, nothing of the host's tree): each host tool is
 * run once, and must start and name the root's version and target (the
 * host's own library directories are not there to fall back on, so a tool
 * that would not start in the step does not pass here either). The ones
 * that pass go into the table; ACCEL_DIR becomes read-only; and the
 * private entry's interpreter becomes the launcher, which runs QEMU for
 * everything else.
 */
int accel_check(const struct emu_config *c, const struct accel *a, struct emulation *em, struct bi_error *fatal)
{
	static const char *const gcc_args[] = { "-quiet", "-version", "-o", "/dev/null", "/dev/null", NULL };
	static const char *const as_args[] = { "--version", NULL };
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	char loader[sizeof(ACCEL_DIR) + NAME_MAX + 8], tool[sizeof(ACCEL_DIR) + 32], why[640];
	static char table[ACCEL_TABLE_MAX];
	struct bi_error err = { 0 };
	size_t len;
	int n = 0, e;

	if (accel_dir < 0)
		return 0;
	snprintf(loader, sizeof(loader), ACCEL_DIR "/lib/%s", a->loader);
	len = (size_t)snprintf(table, sizeof(table), "qemu\t" ACCEL_DIR "/qemu\n");
	/* cpu_choose took no model with a control character or of more than
	 * CPU_MODEL_MAX bytes: one line, and room for it. */
	if (em->cpu)
		len += (size_t)snprintf(table + len, sizeof(table) - len, "cpu\t%s\n", em->cpu);
	if (a->n)
		len += (size_t)snprintf(table + len, sizeof(table) - len, "loader\t%s\nlibs\t" ACCEL_DIR "/lib\n",
					loader);
	for (size_t i = 0; i < a->n; i++) {
		const struct accel_tool *t = &a->tools[i];
		const struct stat *st = &tool_st[i];

		if (!mounted[i])
			continue;
		snprintf(tool, sizeof(tool), ACCEL_DIR "/t%zu", i);
		if (verify(loader, ACCEL_DIR "/lib", tool, t->gcc ? gcc_args : as_args, t->want, t->gcc ? t->want2 : NULL,
			   why, sizeof(why)) < 0) {
			emu_note(c, "accel: %s stays emulated: the host's %s does not run as expected: %s", t->root,
				 t->host, why);
			continue;
		}
		if (len + 256 >= sizeof(table))
			break;
		len += (size_t)snprintf(table + len, sizeof(table) - len, "tool\t%ju\t%ju\t%jd\t%jd\t%ld\t%s\t%s\n",
					(uintmax_t)st->st_dev, (uintmax_t)st->st_ino, (intmax_t)st->st_size,
					(intmax_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, tool, t->kind);
		emu_note(c, "accel: %s runs natively as %s (%s)", t->root, t->host, t->what);
		n++;
	}
	e = write_all(accel_dir, ACCEL_TABLE, table, len, 0444);
	/* The step may read and run what is there, never change it. */
	if (e == 0 && mount_setattr(accel_dir, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
		e = -errno;
	if (e < 0) {
		emu_note(c, "accel: %s: " ACCEL_DIR ": %s", lost(a, em), strerror(-e));
		return 0;
	}
	if (n == 0 && !em->cpu)
		return 0;
	/* After pivot_root: QEMU, should it have to be put back, is ours here. */
	if ((e = emulation_set_interpreter(c, em, ACCEL_DIR "/launcher", ACCEL_DIR "/qemu", &err)) < 0) {
		if (e == -ENOEXEC)
			return bi_error_set(fatal, e, "%s", err.msg);
		emu_note(c, "accel: %s: %s", lost(a, em), err.msg);
		return 0;
	}
	em->cpu_by_launcher = em->cpu != NULL;
	return n;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "detect.h"
#include "interp.h"
#include "plan.h"
#include "targets.h"
#include "util.h"

#define DEFAULT_TIMEOUT_MS 3000
#define MAX_PROBES 32

const char *detect_status_name(enum detect_status s)
{
	static const char *const names[] = {
		[DETECT_NATIVE] = "native",       [DETECT_OK] = "ok",
		[DETECT_NO_HANDLER] = "no-handler", [DETECT_NOT_FOUND] = "not-found",
		[DETECT_SIGNAL] = "signal",       [DETECT_EXIT_CODE] = "exit-code",
		[DETECT_TIMEOUT] = "timeout",     [DETECT_EXEC_ERROR] = "exec-error",
		[DETECT_NOT_RUN] = "not-run",
	};
	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}

#if defined(__x86_64__)
static unsigned long long xgetbv0(void)
{
	unsigned eax, edx;

	__asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
	return (unsigned long long)edx << 32 | eax;
}

/* The x86-64 psABI levels, as BuildKit and GOAMD64 define them. */
int detect_amd64_level(void)
{
	unsigned a, b, c1, d, c81 = 0, b7 = 0, c;
	unsigned long long xcr0 = 0;

	if (!__get_cpuid(1, &a, &b, &c1, &d))
		return 1;
	if (__get_cpuid(0x80000001, &a, &b, &c, &d))
		c81 = c;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
		b7 = b;
	if (c1 & bit_OSXSAVE)
		xcr0 = xgetbv0();
	const bool v2 = (c1 & bit_SSE3) && (c1 & bit_SSSE3) && (c1 & bit_SSE4_1) && (c1 & bit_SSE4_2) &&
			(c1 & bit_POPCNT) && (c1 & bit_CMPXCHG16B) && (c81 & bit_LAHF_LM);
	const bool v3 = v2 && (c1 & bit_AVX) && (c1 & bit_FMA) && (c1 & bit_F16C) && (c1 & bit_MOVBE) &&
			(b7 & bit_AVX2) && (b7 & bit_BMI) && (b7 & bit_BMI2) && (c81 & bit_LZCNT) &&
			(xcr0 & 0x6) == 0x6;
	const bool v4 = v3 && (b7 & bit_AVX512F) && (b7 & bit_AVX512DQ) && (b7 & bit_AVX512CD) &&
			(b7 & bit_AVX512BW) && (b7 & bit_AVX512VL) && (xcr0 & 0xe0) == 0xe0;
	return v4 ? 4 : v3 ? 3 : v2 ? 2 : 1;
}
#else
int detect_amd64_level(void)
{
	return 0;
}
#endif

bool detect_passed(const struct detect_result *r)
{
	return r->status == DETECT_NATIVE || r->status == DETECT_OK;
}

/*
 * Where the probes run from. Never a path another user can reach: probes
 * written by path under a directory someone else can write (TMPDIR under
 * sudo -E, a CI runner's shared /tmp) can be swapped between the write and
 * the exec, and the swapped-in programs run as root (issue 20). So:
 *  - a tmpfs of our own that is never attached anywhere (needs CAP_SYS_ADMIN
 *    over our mount namespace: root, or a private instance's namespace);
 *  - unprivileged: each child makes one in a user and mount namespace of its
 *    own (fd = -1 here);
 *  - privileged without CAP_SYS_ADMIN (a container's default capabilities):
 *    a fresh 0700 directory under a system temporary directory, used only
 *    through descriptors; TMPDIR is not read.
 * Children chroot into fd (fchdir, then chroot(".")), so no path is looked up
 * twice.
 */
struct probe_root {
	int fd;          /* the root the probes run in; -1: each child makes its own */
	int parent;      /* fallback directory: its parent, for removing it */
	char name[64];   /* ... and its name there */
};

static int private_tmpfs(void)
{
	_cleanup_close_ int fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);

	/* 0755: an unprivileged child reaches a shared root as "other". */
	if (fsfd < 0 || fsconfig(fsfd, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
	    fsconfig(fsfd, FSCONFIG_SET_STRING, "size", "1m", 0) < 0 ||
	    fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	int mnt = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	return mnt < 0 ? -errno : mnt;
}

/* The fallback: mkdtemp under a root-owned sticky or private directory, then
 * only the descriptor, checked to be the directory we made (ours, 0700). */
static int fallback_dir(struct probe_root *pr)
{
	static const char *const cands[] = { "/dev/shm", "/run", "/tmp", "/var/tmp" };

	for (size_t i = 0; i < ARRAY_SIZE(cands); i++) {
		_cleanup_close_ int parent = open(cands[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		char path[PATH_MAX];
		struct statvfs sv;
		struct stat st;
		int fd;

		if (parent < 0 || fstatvfs(parent, &sv) < 0 || (sv.f_flag & ST_NOEXEC) || fstat(parent, &st) < 0 ||
		    st.st_uid != 0 || ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)))
			continue;
		snprintf(path, sizeof(path), "%s/binfmt-probe-XXXXXX", cands[i]);
		if (!mkdtemp(path))
			continue;
		fd = openat(parent, strrchr(path, '/') + 1, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 07777) != 0700) {
			if (fd >= 0)
				close(fd);
			continue; /* not the directory we made: leave it alone */
		}
		pr->fd = fd;
		pr->parent = steal_fd(&parent);
		snprintf(pr->name, sizeof(pr->name), "%s", strrchr(path, '/') + 1);
		return 0;
	}
	return -ENOENT;
}

static int probe_root_open(struct probe_root *pr, bool use_userns)
{
	*pr = (struct probe_root){ .fd = -1, .parent = -1 };
	if ((pr->fd = private_tmpfs()) >= 0)
		return 0;
	pr->fd = -1;
	if (use_userns)
		return 0;
	return fallback_dir(pr);
}

static void probe_root_close(struct probe_root *pr, const bool *written)
{
	if (pr->parent >= 0) {
		for (size_t i = 0; i < probes_count(); i++)
			if (written[i])
				unlinkat(pr->fd, probe_at(i)->cpu, 0);
		unlinkat(pr->parent, pr->name, AT_REMOVEDIR);
		close(pr->parent);
	}
	if (pr->fd >= 0)
		close(pr->fd); /* a private tmpfs goes with its last descriptor */
}

static int write_probe_at(int dirfd, const char *name, const uint8_t *img, size_t len)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);

	if (fd < 0)
		return -errno;
	if (write(fd, img, len) != (ssize_t)len)
		return -EIO;
	return fchmod(fd, 0755) < 0 ? -errno : 0;
}

static bool have_cap_chroot(void)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (!caps)
		return false;
	cap_get_flag(caps, CAP_SYS_CHROOT, CAP_EFFECTIVE, &v);
	cap_free(caps);
	return v == CAP_SET;
}

static int write_file(const char *path, const char *data, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (write(fd, data, len) != (ssize_t)len)
		return errno ? -errno : -EIO;
	return 0;
}

/* Map our own ids into the user namespace just made: files created on the
 * child's tmpfs need an owner that exists there. Not to 0 inside: mapping
 * root needs CAP_SETFCAP in the parent namespace (verify_root_map), which a
 * caller with every capability dropped lacks; the probe needs no privilege. */
static int map_self(uid_t uid, gid_t gid)
{
	char line[64];
	int n;

	n = snprintf(line, sizeof(line), "%u %u 1\n", uid ? (unsigned)uid : 1U, (unsigned)uid);
	if (write_file("/proc/self/uid_map", line, (size_t)n) < 0 ||
	    write_file("/proc/self/setgroups", "deny", 4) < 0)
		return -1;
	n = snprintf(line, sizeof(line), "%u %u 1\n", gid ? (unsigned)gid : 1U, (unsigned)gid);
	return write_file("/proc/self/gid_map", line, (size_t)n) < 0 ? -1 : 0;
}

/* In the child: into the empty root, then exec the probe. An exec failure
 * travels back as errno through the close-on-exec pipe. */
static _Noreturn void run_child(int rootfd, const struct probe *p, const uint8_t *img, size_t len, int errfd,
				bool use_userns)
{
	char path[64];
	char *const argv[] = { path, NULL };
	char *const envp[] = { NULL };
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int e;

	snprintf(path, sizeof(path), "/%s", p->cpu);
	/* Unprivileged: a user namespace grants CAP_SYS_CHROOT and a tmpfs there,
	 * and exec still walks up to the binfmt_misc instance of our namespace. */
	if (use_userns && (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0 || map_self(uid, gid) < 0)) {
		e = errno;
		goto fail;
	}
	if (rootfd < 0) {
		if ((rootfd = private_tmpfs()) < 0 || (e = -write_probe_at(rootfd, p->cpu, img, len)) != 0) {
			e = rootfd < 0 ? -rootfd : e;
			goto fail;
		}
	}
	if (fchdir(rootfd) < 0 || chroot(".") < 0) {
		e = errno;
		goto fail;
	}
	execve(path, argv, envp);
	e = errno;
fail:
	if (write(errfd, &e, sizeof(e)) < 0)
		_exit(126);
	_exit(127);
}

struct child {
	pid_t pid;
	int errfd;   /* read end of the exec-error pipe */
	int pidfd;   /* -1 when pidfd_open is unavailable */
	struct timespec start;
	bool done;
};

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static int spawn(struct child *c, int rootfd, const struct probe *p, const uint8_t *img, size_t len,
		 bool use_userns)
{
	int pfd[2];

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	c->pid = fork();
	if (c->pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return -e;
	}
	if (c->pid == 0)
		run_child(rootfd, p, img, len, pfd[1], use_userns);
	close(pfd[1]);
	c->errfd = pfd[0];
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	c->done = false;
	return 0;
}

static void classify(struct detect_result *r, int wstatus, int exec_errno)
{
	if (exec_errno) {
		r->detail = exec_errno;
		r->status = exec_errno == ENOEXEC ? DETECT_NO_HANDLER
			    : exec_errno == ENOENT ? DETECT_NOT_FOUND
						   : DETECT_EXEC_ERROR;
	} else if (WIFSIGNALED(wstatus)) {
		r->status = DETECT_SIGNAL;
		r->detail = WTERMSIG(wstatus);
	} else {
		int code = WEXITSTATUS(wstatus);
		r->detail = code;
		if (r->probe->expect_exit < 0 && code >= 65 && code <= 68) {
			r->status = DETECT_OK;
			r->amd64_level = code - 64;
		} else {
			r->status = code == r->probe->expect_exit ? DETECT_OK : DETECT_EXIT_CODE;
		}
	}
}

static void reap(struct child *c, struct detect_result *r, bool timed_out)
{
	int wstatus = 0, e = 0;

	if (timed_out)
		kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	if (read(c->errfd, &e, sizeof(e)) != (ssize_t)sizeof(e))
		e = 0;
	r->ms = ms_since(&c->start);
	if (timed_out) {
		r->status = DETECT_TIMEOUT;
		r->detail = 0;
	} else {
		classify(r, wstatus, e);
	}
	close(c->errfd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->done = true;
}

/* Wait for every child until the deadline; pidfds let poll(2) wake us the
 * moment one exits instead of sleeping in slices. */
static void wait_all(struct child *cs, struct detect_result *rs, size_t n, unsigned timeout_ms)
{
	struct timespec t0;
	size_t left = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < n; i++)
		left += cs[i].pid > 0 && !cs[i].done;
	while (left > 0) {
		struct pollfd pfds[MAX_PROBES];
		size_t idx[MAX_PROBES], k = 0;
		double remaining = timeout_ms - ms_since(&t0);

		if (remaining <= 0)
			break;
		for (size_t i = 0; i < n; i++) {
			if (cs[i].pid <= 0 || cs[i].done)
				continue;
			if (cs[i].pidfd < 0) { /* no pidfd: poll this one by WNOHANG */
				siginfo_t si = { 0 };
				if (waitid(P_PID, (id_t)cs[i].pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid) {
					reap(&cs[i], &rs[i], false);
					left--;
				}
				continue;
			}
			pfds[k] = (struct pollfd){ .fd = cs[i].pidfd, .events = POLLIN };
			idx[k++] = i;
		}
		if (poll(pfds, k, k ? (int)remaining + 1 : 1) < 0 && errno != EINTR)
			break;
		for (size_t j = 0; j < k; j++) {
			if (pfds[j].revents) {
				reap(&cs[idx[j]], &rs[idx[j]], false);
				left--;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (cs[i].pid > 0 && !cs[i].done)
			reap(&cs[i], &rs[i], true);
}

static const struct target *host_target(void)
{
	struct utsname u;

	return uname(&u) < 0 ? NULL : target_for_machine(u.machine);
}

int detect_run(struct detect_result *rs, const struct detect_options *o, struct bi_error *err)
{
	const struct target *host = host_target();
	unsigned timeout = o && o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	bool use_userns = !have_cap_chroot();
	struct child cs[MAX_PROBES] = { 0 };
	bool written[MAX_PROBES] = { false };
	size_t n = probes_count();
	struct probe_root root;
	int r;

	if (n > MAX_PROBES)
		return bi_error_set(err, -E2BIG, "too many probes");
	if ((r = probe_root_open(&root, use_userns)) < 0)
		return bi_error_set(err, r, "no place to run probes from: binfmt needs CAP_SYS_ADMIN for a private "
				    "tmpfs, or a root-owned /dev/shm, /run, /tmp or /var/tmp that allows exec");
	for (size_t i = 0; i < n; i++) {
		const struct probe *p = probe_at(i);
		uint8_t img[PROBE_MAX_SIZE];
		int len;

		rs[i] = (struct detect_result){ .probe = p, .status = DETECT_NOT_RUN };
		if (host && !strcmp(host->cpu, p->cpu)) {
			rs[i].status = DETECT_NATIVE;
			rs[i].amd64_level = !strcmp(p->cpu, "x86_64") ? detect_amd64_level() : 0;
			continue;
		}
		if (o && o->select && !o->select[i])
			continue;
		if ((len = probe_image(p, img, sizeof(img))) < 0) {
			rs[i].detail = -len;
			continue;
		}
		if (root.fd >= 0) {
			written[i] = true;
			if ((r = write_probe_at(root.fd, p->cpu, img, (size_t)len)) < 0) {
				rs[i].detail = -r;
				continue;
			}
		}
		if (spawn(&cs[i], root.fd, p, img, (size_t)len, use_userns) < 0)
			continue;
		if (o && o->sequential)
			wait_all(cs, rs, i + 1, timeout);
	}
	wait_all(cs, rs, n, timeout);
	probe_root_close(&root, written);
	return 0;
}

static const struct binfmt_entry *serving_entry(const struct detect_result *r, const struct binfmt_entry *es,
						size_t n, bool enabled)
{
	const struct target *t = target_by_cpu(r->probe->cpu);

	for (size_t i = 0; i < n; i++)
		if (es[i].enabled == enabled && plan_target_of_entry(&es[i]) == t)
			return &es[i];
	return NULL;
}

static void explain_not_found(const struct detect_result *r, const struct binfmt_entry *es, size_t n,
			      char *buf, size_t len)
{
	const struct binfmt_entry *e = serving_entry(r, es, n, true);
	struct interp_policy pol = { .need_static = true };

	if (!e) {
		snprintf(buf, len, "the kernel found no interpreter (ENOENT), and no entry serving it is visible");
	} else if (access(e->interpreter, F_OK) < 0) {
		snprintf(buf, len, "interpreter %.300s of entry %.255s is missing: reinstall it (binfmt --install --force)",
			 e->interpreter, e->name);
	} else if (!strchr(e->flags, 'F')) {
		snprintf(buf, len, "entry %.255s has no F flag: its interpreter %.300s is not reachable inside "
			 "containers and chroots; reinstall with F (binfmt --install --force)", e->name, e->interpreter);
	} else if (interp_verify(e->interpreter, &pol, NULL) < 0) {
		snprintf(buf, len, "interpreter %.300s of entry %.255s is missing or not static: its libraries do not "
			 "exist inside containers", e->interpreter, e->name);
	} else {
		snprintf(buf, len, "exec failed with ENOENT although entry %.255s looks usable", e->name);
	}
}

void detect_explain(const struct detect_result *r, const struct binfmt_entry *es, size_t n, char *buf,
		    size_t len)
{
	const struct binfmt_entry *e = serving_entry(r, es, n, true);

	switch (r->status) {
	case DETECT_NATIVE:
	case DETECT_OK:
		buf[0] = '\0';
		break;
	case DETECT_NO_HANDLER:
		if ((e = serving_entry(r, es, n, false)))
			snprintf(buf, len, "entry %.255s is disabled", e->name);
		else
			snprintf(buf, len, "no handler: exec format error (binfmt --install %s)", r->probe->platform);
		break;
	case DETECT_NOT_FOUND:
		explain_not_found(r, es, n, buf, len);
		break;
	case DETECT_SIGNAL:
		snprintf(buf, len, "the emulator%s%.300s was killed by signal %d (%s)", e ? " " : "",
			 e ? e->interpreter : "", r->detail, strsignal(r->detail));
		break;
	case DETECT_EXIT_CODE:
		snprintf(buf, len, "the probe exited with %d instead of %d: the emulator misbehaves", r->detail,
			 r->probe->expect_exit < 0 ? 65 : r->probe->expect_exit);
		break;
	case DETECT_TIMEOUT:
		snprintf(buf, len, "timeout: the probe did not exit in time and was killed");
		break;
	case DETECT_EXEC_ERROR:
		snprintf(buf, len, "exec failed: %s", strerror(r->detail));
		break;
	case DETECT_NOT_RUN:
		snprintf(buf, len, "the probe could not be started: %s", strerror(r->detail ? r->detail : EIO));
		break;
	}
}

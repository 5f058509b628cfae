/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD trap for the fault tests (tests/integration/95-faults*.sh), in
 * the manner of kmod's testsuite: it intercepts write(2) on binfmt_misc files
 * (recognised by their filesystem magic, not by path) and either fails one
 * with a chosen errno, or does something to the world just before the real
 * write so that the kernel itself answers with the errno under test.
 *
 *   ERRNO_SHIM_REGISTER=ERRNO[@N]   the N-th write to "register" (default the
 *                                   1st) fails with ERRNO; nothing is written;
 *                                   @N+ (here, in _ENTRY and _RACE): the N-th
 *                                   and every later one
 *   ERRNO_SHIM_ENTRY=ERRNO[@N]      the same for writes to entry files
 *                                   (remove -1, disable 0, enable 1)
 *   ERRNO_SHIM_RACE=ACTION[@N]      before the N-th real write to "register":
 *       twice        write the same string first: the kernel's answer to the
 *                    real write is then a real EEXIST, as when a concurrent
 *                    run registered the identical entry a moment earlier
 *       other:STR    write STR first (another entry of the same name): EEXIST
 *       unlink       delete the interpreter named in the string (F: ENOENT)
 *       chmod        chmod 0644 the interpreter (F: EACCES, not executable)
 *   ERRNO_SHIM_LOG=FILE             append "register|status|entry NAME: DATA"
 *                                   per intercepted write
 *   ERRNO_SHIM_FLOCK=ERRNO          flock(2) on a binfmt_misc directory fails
 *                                   with ERRNO (the kernel's ENOLCK, or a
 *                                   filesystem without locks: EOPNOTSUPP)
 *   ERRNO_SHIM_SLEEP_MARK=FILE      nanosleep(2)'s first call creates FILE: binfmt
 *                                   sleeps only while another holds its lock,
 *                                   so FILE says "it is waiting now"
 *   ERRNO_SHIM_SLEEP=fast           nanosleep(2) returns at once: the time binfmt
 *                                   counts while waiting for its lock passes
 *                                   without the wall clock (its 60 s timeout in
 *                                   milliseconds); the total asked for is logged
 *                                   as "slept MS" at exit to ERRNO_SHIM_LOG
 *   ERRNO_SHIM_CLOCK_LEAD=MS        clock_gettime(CLOCK_REALTIME) reads MS ms
 *                                   ahead; CLOCK_REALTIME_COARSE, which the
 *                                   kernel stamps inodes from, is left alone: a
 *                                   VM whose coarse clock lags the fine one by
 *                                   more than a tick (50-host-trap.sh)
 *
 * ERRNO names: EPERM EACCES EROFS ENOENT EINVAL EEXIST ENOSPC EIO ENOMEM ELOOP
 * ENOLCK EOPNOTSUPP.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define BINFMTFS_MAGIC 0x42494e4d

ssize_t write(int fd, const void *buf, size_t n);

static ssize_t (*real_write)(int, const void *, size_t);
static unsigned register_writes, entry_writes;

static int errno_by_name(const char *s)
{
	static const struct { const char *name; int e; } t[] = {
		{ "EPERM", EPERM }, { "EACCES", EACCES }, { "EROFS", EROFS }, { "ENOENT", ENOENT },
		{ "EINVAL", EINVAL }, { "EEXIST", EEXIST }, { "ENOSPC", ENOSPC }, { "EIO", EIO },
		{ "ENOMEM", ENOMEM }, { "ELOOP", ELOOP }, { "ENOLCK", ENOLCK }, { "EOPNOTSUPP", EOPNOTSUPP },
	};
	size_t l = strcspn(s, "@");

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strlen(t[i].name) == l && !strncmp(s, t[i].name, l))
			return t[i].e;
	return 0;
}

/* Does "X@N" name the n-th call? N is 1 when absent; "X@N+" names the N-th and every later one. */
static bool nth_is(const char *s, unsigned n)
{
	const char *at = strrchr(s, '@');
	char *end = NULL;
	unsigned k = at ? (unsigned)strtoul(at + 1, &end, 10) : 1;

	return end && *end == '+' ? n >= k : n == k;
}

static void log_write(const char *what, const char *name, const void *buf, size_t n)
{
	const char *path = getenv("ERRNO_SHIM_LOG");
	FILE *f;

	if (!path || !(f = fopen(path, "ae")))
		return;
	fprintf(f, "%s%s%s: %.*s\n", what, name ? " " : "", name ? name : "", (int)n, (const char *)buf);
	fclose(f);
}

/* The interpreter field (the 6th after the delimiter) of a register string. */
static int interpreter_of(const char *buf, size_t n, char *out, size_t cap)
{
	const char *p = buf, *end = buf + n, *q;
	char d;

	if (n < 2)
		return -1;
	d = *p++;
	for (int i = 0; i < 5; i++) {
		if (!(p = memchr(p, d, (size_t)(end - p))))
			return -1;
		p++;
	}
	if (!(q = memchr(p, d, (size_t)(end - p))) || (size_t)(q - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 0;
}

static void race(const char *action, int fd, const void *buf, size_t n)
{
	char interp[4096];

	if (!strncmp(action, "twice", 5)) {
		real_write(fd, buf, n);
	} else if (!strncmp(action, "other:", 6)) {
		const char *s = action + 6;
		real_write(fd, s, strcspn(s, "@"));
	} else if (!strncmp(action, "unlink", 6)) {
		if (interpreter_of(buf, n, interp, sizeof(interp)) == 0)
			unlink(interp);
	} else if (!strncmp(action, "chmod", 5)) {
		if (interpreter_of(buf, n, interp, sizeof(interp)) == 0)
			chmod(interp, 0644);
	}
}

ssize_t write(int fd, const void *buf, size_t n)
{
	char link[64], path[4096];
	const char *base, *spec;
	struct statfs sfs;
	ssize_t k;
	int saved = errno;

	if (!real_write)
		real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	if (fd <= 2 || fstatfs(fd, &sfs) < 0 || sfs.f_type != BINFMTFS_MAGIC) {
		errno = saved;
		return real_write(fd, buf, n);
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	k = readlink(link, path, sizeof(path) - 1);
	path[k > 0 ? k : 0] = '\0';
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	errno = saved;

	if (!strcmp(base, "register")) {
		register_writes++;
		log_write("register", NULL, buf, n);
		if ((spec = getenv("ERRNO_SHIM_REGISTER")) && nth_is(spec, register_writes) && errno_by_name(spec)) {
			errno = errno_by_name(spec);
			return -1;
		}
		if ((spec = getenv("ERRNO_SHIM_RACE")) && nth_is(spec, register_writes))
			race(spec, fd, buf, n);
	} else if (strcmp(base, "status") != 0) {
		entry_writes++;
		log_write("entry", base, buf, n);
		if ((spec = getenv("ERRNO_SHIM_ENTRY")) && nth_is(spec, entry_writes) && errno_by_name(spec)) {
			errno = errno_by_name(spec);
			return -1;
		}
	} else {
		log_write("status", NULL, buf, n);
	}
	return real_write(fd, buf, n);
}

int flock(int fd, int op);

int flock(int fd, int op)
{
	static int (*real_flock)(int, int);
	const char *spec = getenv("ERRNO_SHIM_FLOCK");
	struct statfs sf;

	if (!real_flock)
		real_flock = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
	if (spec && errno_by_name(spec) && !(op & LOCK_UN) && fstatfs(fd, &sf) == 0 &&
	    sf.f_type == BINFMTFS_MAGIC) {
		errno = errno_by_name(spec);
		return -1;
	}
	return real_flock(fd, op);
}

int nanosleep(const struct timespec *req, struct timespec *rem);

static unsigned long long slept_ms;

static void log_slept(void)
{
	const char *path = getenv("ERRNO_SHIM_LOG");
	FILE *f;

	if (!path || !(f = fopen(path, "ae")))
		return;
	fprintf(f, "slept %llu\n", slept_ms);
	fclose(f);
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	static int (*real_nanosleep)(const struct timespec *, struct timespec *);
	static int marked, logging;
	const char *mark = getenv("ERRNO_SHIM_SLEEP_MARK"), *mode = getenv("ERRNO_SHIM_SLEEP");
	int fd;

	if (!real_nanosleep)
		real_nanosleep = (int (*)(const struct timespec *, struct timespec *))dlsym(RTLD_NEXT, "nanosleep");
	if (mark && !marked++ && (fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) >= 0)
		close(fd);
	if (!mode || strcmp(mode, "fast") != 0)
		return real_nanosleep(req, rem);
	slept_ms += (unsigned long long)req->tv_sec * 1000 + (unsigned long long)req->tv_nsec / 1000000;
	if (!logging++)
		atexit(log_slept);
	return 0;
}

int clock_gettime(clockid_t id, struct timespec *ts);

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real_clock_gettime)(clockid_t, struct timespec *);
	const char *lead = getenv("ERRNO_SHIM_CLOCK_LEAD");
	long long ns;
	int r;

	if (!real_clock_gettime)
		real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	r = real_clock_gettime(id, ts);
	if (r < 0 || id != CLOCK_REALTIME || !lead)
		return r;
	ns = ts->tv_nsec + strtoll(lead, NULL, 10) * 1000000LL;
	ts->tv_sec += ns / 1000000000LL;
	ts->tv_nsec = ns % 1000000000LL;
	return r;
}

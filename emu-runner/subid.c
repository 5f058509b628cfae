/* SPDX-License-Identifier: MIT */
/*
 * Subordinate ids for an ordinary user's sandbox, as rootless Podman and
 * Buildah map them: the caller as root, the caller's /etc/subuid and
 * /etc/subgid ranges as 1..N, written by the setuid helpers newuidmap and
 * newgidmap (Debian's uidmap). Without them a user namespace holds only the
 * caller's own ids, so apt cannot drop to _apt, dpkg cannot chown to system
 * users and --user other than root cannot work.
 *
 * The ranges come from libsubid (shadow's, the library newuidmap itself
 * checks them with, which also follows an nsswitch "subid:" service). It is
 * loaded with dlopen only here: uidmap depends on it, so where the helpers
 * are installed it is too, and emu-run does not link PAM and SELinux for
 * everyone else.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu.h"
#include "util.h"

#define SUBID_SONAME "libsubid.so.4"
#define MAX_RANGES SUBID_MAX_RANGES

/* As in shadow's subid.h (ABI 4). */
struct subid_range {
	unsigned long start;
	unsigned long count;
};

__attribute__((format(printf, 3, 4))) static int why(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return -ENOENT;
}

int subid_ranges(const char *owner, struct subid_ranges *uids, struct subid_ranges *gids, char *msg, size_t n)
{
	typedef bool (*init_fn)(const char *, FILE *);
	typedef int (*get_fn)(const char *, struct subid_range **);
	void *h = dlopen(SUBID_SONAME, RTLD_NOW | RTLD_LOCAL);
	get_fn get[2];
	init_fn init;
	struct subid_ranges *out[2] = { uids, gids };
	_cleanup_fclose_ FILE *devnull = NULL;

	if (!h)
		return why(msg, n, "%s cannot be loaded (%s)", SUBID_SONAME, dlerror());
	init = (init_fn)dlsym(h, "subid_init");
	get[0] = (get_fn)dlsym(h, "subid_get_uid_ranges");
	get[1] = (get_fn)dlsym(h, "subid_get_gid_ranges");
	if (!get[0] || !get[1]) {
		dlclose(h);
		return why(msg, n, "%s has no subid_get_uid_ranges", SUBID_SONAME);
	}
	/* libsubid logs to a FILE: ours says everything in one line itself. Its
	 * program name stays "(libsubid)": a name given here is strdup()ed and
	 * never freed (LeakSanitizer). */
	devnull = fopen("/dev/null", "we");
	if (init && devnull)
		init(NULL, devnull);
	for (int k = 0; k < 2; k++) {
		struct subid_range *r = NULL;
		int got = get[k](owner, &r);
		out[k]->n = 0;
		out[k]->total = 0;
		for (int i = 0; i < got && out[k]->n < MAX_RANGES; i++) {
			if (!r[i].count)
				continue;
			out[k]->start[out[k]->n] = r[i].start;
			out[k]->count[out[k]->n++] = r[i].count;
			out[k]->total += r[i].count;
		}
		free(r);
	}
	dlclose(h);
	return 0;
}

struct helper {
	const char *name;
	pid_t pid;
	int out;                   /* its stdout and stderr */
};

/* Start HELPER PID 0 ID 1 START COUNT ... (newuidmap or newgidmap). */
static int start_helper(struct helper *h, pid_t pid, unsigned id, const struct subid_ranges *rg)
{
	char args[2 + 3 * (1 + MAX_RANGES)][24];
	char *argv[2 + 3 * (1 + MAX_RANGES) + 1];
	unsigned long inside = 1;
	size_t k = 0;
	int pfd[2];

	snprintf(args[k++], sizeof(args[0]), "%s", h->name);
	snprintf(args[k++], sizeof(args[0]), "%d", (int)pid);
	snprintf(args[k++], sizeof(args[0]), "0");
	snprintf(args[k++], sizeof(args[0]), "%u", id);
	snprintf(args[k++], sizeof(args[0]), "1");
	for (size_t i = 0; i < rg->n; i++) {
		snprintf(args[k++], sizeof(args[0]), "%lu", inside);
		snprintf(args[k++], sizeof(args[0]), "%lu", rg->start[i]);
		snprintf(args[k++], sizeof(args[0]), "%lu", rg->count[i]);
		inside += rg->count[i];
	}
	for (size_t i = 0; i < k; i++)
		argv[i] = args[i];
	argv[k] = NULL;
	h->pid = -1;
	h->out = -1;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	h->pid = fork();
	if (h->pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -errno;
	}
	if (h->pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		execvp(h->name, argv);
		_exit(127);
	}
	close(pfd[1]);
	h->out = pfd[0];
	return 0;
}

/* Wait for it: 0, -ENOEXEC when it is not installed, or -EPERM with its words in msg. */
static int finish_helper(struct helper *h, int started, char *msg, size_t n)
{
	char out[256] = "";
	ssize_t got;
	int status = 0;

	if (started < 0)
		return why(msg, n, "%s cannot be started: %s", h->name, strerror(-started));
	got = read(h->out, out, sizeof(out) - 1);
	close(h->out);
	out[got > 0 ? got : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (waitpid(h->pid, &status, 0) < 0)
		return why(msg, n, "%s: %s", h->name, strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		why(msg, n, "%s is not installed", h->name);
		return -ENOEXEC;
	}
	why(msg, n, "%s failed: %s", h->name, out[0] ? out : "no message");
	return -EPERM;
}

/* What to do about it: ranges for the user, the helpers, or both. */
static void set_why(struct idmap_result *res, const char *what, const char *owner, bool ranges, bool helpers)
{
	char fix[400] = "";

	if (ranges)
		snprintf(fix, sizeof(fix),
			 "as root, 'usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s' (a range no "
			 "other user has)", owner);
	if (helpers)
		snprintf(fix + strlen(fix), sizeof(fix) - strlen(fix), "%sas root, 'apt-get install uidmap'",
			 ranges ? " and " : "");
	if (!fix[0])
		snprintf(fix, sizeof(fix), "check %s's lines in /etc/subuid and /etc/subgid", owner);
	snprintf(res->why, sizeof(res->why), "%s; for the other users' ids, %s", what, fix);
}

int subid_write_maps(pid_t pid, struct idmap_result *res)
{
	struct subid_ranges uids = { 0 }, gids = { 0 };
	char owner[64], why_buf[sizeof(res->why)] = "";
	struct passwd *pw = getpwuid(geteuid());
	unsigned uid = (unsigned)geteuid(), gid = (unsigned)getegid();
	int r;

	memset(res, 0, sizeof(*res));
	snprintf(owner, sizeof(owner), "%s", pw ? pw->pw_name : "");
	if (!owner[0])
		snprintf(owner, sizeof(owner), "%u", uid);
	r = subid_ranges(owner, &uids, &gids, why_buf, sizeof(why_buf));
	if (r < 0) {
		set_why(res, why_buf, owner, true, true); /* no libsubid: no uidmap either */
		return r;
	}
	if (!uids.n || !gids.n) {
		why(why_buf, sizeof(why_buf), "no subordinate %s for %s in %s", !uids.n ? "uids" : "gids", owner,
		    !uids.n ? "/etc/subuid" : "/etc/subgid");
		set_why(res, why_buf, owner, true, false);
		return -ENOENT;
	}
	/* Both helpers at once: each is a setuid exec, the slow part of this. */
	struct helper hu = { .name = "newuidmap" }, hg = { .name = "newgidmap" };
	int su = start_helper(&hu, pid, uid, &uids), sg = start_helper(&hg, pid, gid, &gids);
	char gwhy[sizeof(why_buf)] = "";
	int ru = finish_helper(&hu, su, why_buf, sizeof(why_buf));
	int rg = finish_helper(&hg, sg, gwhy, sizeof(gwhy));

	res->uid_map_written = ru == 0;
	res->gid_map_written = rg == 0;
	if (ru < 0 || rg < 0) {
		set_why(res, ru < 0 ? why_buf : gwhy, owner, false, (ru < 0 ? ru : rg) == -ENOEXEC);
		return ru < 0 ? ru : rg; /* the caller maps the single ids the helpers did not */
	}
	res->uids = uids.total;
	res->gids = gids.total;
	return 0;
}

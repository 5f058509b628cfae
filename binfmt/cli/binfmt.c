/* SPDX-License-Identifier: MIT */
/*
 * binfmt: register QEMU user-mode emulators in binfmt_misc, remove them, and
 * report what runs. A drop-in for tonistiigi/binfmt's command line. All the
 * work is in the library; this file turns argv into a request and results
 * into one line per item and an exit code.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "binfmtfs.h"
#include "detect.h"
#include "interp.h"
#include "message.h"
#include "options.h"
#include "plan.h"
#include "status.h"
#include "targets.h"
#include "util.h"

/* How long a run waits for another one changing the same instance. */
#define LOCK_TIMEOUT_MS 60000

static int check_qemu_dirs(const struct interp_search *s, const char *given)
{
	struct stat st;

	if (!given)
		return -1;
	for (size_t i = 0; i < s->ndirs; i++)
		if (stat(s->dirs[i], &st) < 0 || !S_ISDIR(st.st_mode))
			return options_usage_error("emulator directory '%s' does not exist: fix --qemu-path or QEMU_BINARY_PATH",
					   s->dirs[i]);
	return -1;
}

#define PROBE_TIMEOUT_MAX_MS 600000U

/* BINFMT_PROBE_TIMEOUT_MS: how long one probe may take (default 3000; 0 in
 * the options means the default). Checked once in run(): 1..600000 only. */
static int probe_timeout(unsigned *ms)
{
	const char *v = getenv("BINFMT_PROBE_TIMEOUT_MS");
	char *end = NULL;
	unsigned long n;

	*ms = 0;
	if (!v || !*v)
		return 0; /* set but empty: the default, as for QEMU_BINARY_PATH */
	errno = 0;
	n = strtoul(v, &end, 10);
	/* strtoul takes "-1" and " 5" too: digits only. */
	if (v[strspn(v, "0123456789")] || errno || n == 0 || n > PROBE_TIMEOUT_MAX_MS)
		return -EINVAL;
	*ms = (unsigned)n;
	return 0;
}

static const struct detect_options *probe_options(void)
{
	static struct detect_options o;

	if (probe_timeout(&o.timeout_ms) < 0)
		o.timeout_ms = 0; /* not reached: run() refused it */
	return &o;
}

/*
 * Every probe's result, run now, except those known[i] holds (a result of this
 * run that nothing has changed since; DETECT_NOT_RUN: probe it). known may be NULL.
 */
static int probe_all(struct detect_result *rs, const struct detect_result *known, struct bi_error *err)
{
	struct detect_options o = *probe_options();
	bool select[32];
	int r;

	for (size_t i = 0; i < probes_count() && i < ARRAY_SIZE(select); i++)
		select[i] = !known || known[i].status == DETECT_NOT_RUN;
	o.select = select;
	r = detect_run(rs, &o, err);
	for (size_t i = 0; r == 0 && known && i < probes_count(); i++)
		if (!select[i])
			rs[i] = known[i];
	return r;
}

/* An entry with C runs setuid foreign binaries as their owner inside QEMU: its
 * platform counts as supported, so the status alone would never say so. */
static void warn_credential_entries(const struct binfmt_entry *entries, size_t n)
{
	char line[700];

	for (size_t i = 0; i < n; i++)
		if (entries[i].enabled && plan_credential_warning(&entries[i], line, sizeof(line)))
			cli_warnx("warning: %s", line);
}

/* Registry entries plus probe results: what "supported" and --inspect need. */
static int print_status(struct binfmtfs *fs, const struct target *host, const char *prefix, bool inspect,
			const struct detect_result *known)
{
	_cleanup_free_ struct binfmt_entry *entries = NULL;
	_cleanup_free_ char *text = NULL;
	struct detect_result rs[32];
	struct bi_error err = { 0 };
	size_t n = 0;
	bool enabled;
	json_t *j;

	if (bfs_list(fs, &entries, &n, &err) < 0) {
		cli_warnx("%s", err.msg);
		return EXIT_ENV;
	}
	if (bfs_status_enabled(fs, &enabled) == 0 && !enabled)
		cli_warnx("binfmt_misc is disabled (%s/status): the kernel uses none of its entries; "
			   "'echo 1 > %s/status' enables them", fs->path, fs->path);
	warn_credential_entries(entries, n);
	if (probes_count() <= ARRAY_SIZE(rs) && probe_all(rs, known, &err) == 0) {
		j = inspect ? status_inspect_json(rs, probes_count(), entries, n)
			    : status_json_detected(rs, probes_count(), entries, n, prefix);
	} else {
		/* No way to run probes: fall back to what the registry says. */
		cli_warnx("cannot run platform probes (%s): \"supported\" is read from the registrations",
			   err.msg[0] ? err.msg : "too many probes");
		j = status_json(host, entries, n, prefix);
	}
	text = j ? status_dump(j) : NULL;
	json_decref(j);
	if (!text) {
		cli_warnx("out of memory");
		return EXIT_ENV;
	}
	fputs(text, stdout);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_ENV;
}

static void print_item(const struct plan_item *it, bool dry_run, bool failed_run)
{
	const char *verb = it->install ? "installing" : "uninstalling";
	const char *would = dry_run ? "would be " : "";

	switch (it->state) {
	case PLAN_REGISTER:
	case PLAN_REPLACE:
	case PLAN_REMOVE:
		if (it->result < 0)
			cli_say("%s: %s FAILED: %s", verb, it->label, it->reason);
		else if (failed_run && it->applied)
			cli_say("%s: %s NOT rolled back: left %s (see 'rollback incomplete' below)", verb, it->label,
			    it->state == PLAN_REMOVE ? "removed" : it->state == PLAN_REPLACE ? "replaced" : "registered");
		else if (failed_run)
			cli_say("%s: %s not done (rolled back)", verb, it->label);
		else if (dry_run)
			cli_say("%s: %s %s%s", verb, it->label, would,
				it->state == PLAN_REMOVE ? "removed" : it->state == PLAN_REPLACE ? "replaced" : "registered");
		else if (it->state == PLAN_REPLACE)
			cli_say("%s: %s OK (replaced: %s)", verb, it->label, it->reason);
		else
			cli_say("%s: %s OK", verb, it->label);
		break;
	case PLAN_KEEP:
		cli_say("%s: %s OK (already registered)", verb, it->label);
		break;
	case PLAN_ENABLE:
		if (it->result < 0)
			cli_say("%s: %s FAILED: %s", verb, it->label, it->reason);
		else if (failed_run && it->applied)
			cli_say("%s: %s NOT rolled back: left enabled (see 'rollback incomplete' below)", verb, it->label);
		else if (failed_run)
			cli_say("%s: %s not done (rolled back)", verb, it->label);
		else
			cli_say("%s: %s %s", verb, it->label,
				dry_run ? "would be re-enabled" : "OK (re-enabled: it was disabled)");
		break;
	case PLAN_ABSENT:
		cli_say("%s: %s OK (not installed)", verb, it->label);
		break;
	case PLAN_NATIVE:
	case PLAN_HANDLED:
		cli_say("%s: %s skipped: %s", verb, it->label, it->reason);
		break;
	case PLAN_CONFLICT:
		cli_say("%s: %s CONFLICT: %s", verb, it->label, it->reason);
		break;
	}
}

static bool plan_has_conflicts(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->items[i].state == PLAN_CONFLICT)
			return true;
	return false;
}

static int plan_error_exit(int r, const struct bi_error *err)
{
	cli_warnx("%s", err->msg);
	return r == -EINVAL ? EXIT_USAGE : EXIT_ENV;
}

static void print_dry_run(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_item *it = &p->items[i];
		char line[ENTRY_REGISTER_MAX + 1];
		if (it->install && (it->state == PLAN_REGISTER || it->state == PLAN_REPLACE) &&
		    entry_format_register(&it->want, line, sizeof(line)) >= 0)
			printf("%s\n", line);
	}
}

static void print_plan(const struct plan *p, const struct options *o, bool failed_run)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_item *it = &p->items[i];
		/* --quiet: only what needs someone's attention. */
		if (o->quiet && it->result == 0 && it->state != PLAN_CONFLICT)
			continue;
		print_item(it, o->dry_run, failed_run);
		if (o->verbose && it->install && it->want.interpreter[0])
			cli_say("  emulator %s, flags %s", it->want.interpreter, it->want.flags);
	}
	if (p->skipped_no_emulator && !o->quiet)
		cli_say("installing: %zu other targets skipped: no emulator for them found",
			p->skipped_no_emulator);
}

static int run_export(const struct options *o, const struct plan_request *rq)
{
	struct bi_error err = { 0 };
	struct plan p;
	int r = plan_build(rq, NULL, 0, &p, &err);

	if (r < 0)
		return plan_error_exit(r, &err);
	r = status_export_binfmt_d(o->export_dir, &p, &err);
	if (r < 0) {
		plan_free(&p);
		cli_warnx("%s", err.msg);
		return EXIT_ENV;
	}
	for (size_t i = 0; i < p.n && !o->quiet; i++)
		if (p.items[i].state == PLAN_REGISTER)
			cli_say("exporting: %s -> %s/%s.conf", p.items[i].label, o->export_dir,
				p.items[i].want.name);
		else
			print_item(&p.items[i], false, false);
	plan_free(&p);
	return EXIT_OK;
}

static int check_writable(struct binfmtfs *fs)
{
	if (faccessat(fs->dirfd, "register", W_OK, AT_EACCESS) == 0)
		return -1;
	if (errno == EROFS)
		cli_warnx("%s is mounted read-only (an unprivileged container): run it with --privileged", fs->path);
	else
		cli_warnx("cannot write %s/register: %s: run as root, or the container with --privileged", fs->path,
			   strerror(errno));
	return EXIT_ENV;
}

/*
 * Which of the host's own family run natively (i386 on x86_64, arm on
 * aarch64), from their probes (kept in rs, probes_count() slots, for the
 * status afterwards); false when unknown. Only those are probed: foreign
 * targets are decided by the registry, and every probe costs a process.
 */
static bool probe_runs(bool *runs, size_t n, const struct target *host, struct detect_result *rs)
{
	struct detect_options o = *probe_options();
	bool select[32] = { false };

	if (!host || probes_count() > ARRAY_SIZE(select))
		return false;
	for (size_t i = 0; i < probes_count(); i++) {
		const struct target *t = target_by_cpu(probe_at(i)->cpu);
		select[i] = t && t != host && target_same_family(host, t);
	}
	o.select = select;
	if (detect_run(rs, &o, NULL) < 0)
		return false;
	memset(runs, 0, n * sizeof(*runs));
	for (size_t i = 0; i < probes_count(); i++) {
		const struct target *t = target_by_cpu(rs[i].probe->cpu);
		if (!detect_passed(&rs[i]) || !t)
			continue;
		for (size_t k = 0; k < n && k < targets_count(); k++)
			/* The kernel's IA32 loader takes EM_486 like EM_386: one probe
			 * answers for both. */
			if (target_at(k) == t || (!strcmp(t->cpu, "i386") && !strcmp(target_at(k)->cpu, "i486")))
				runs[k] = true;
	}
	return true;
}

/* Probes made before applying p that p cannot have changed: the others are
 * forgotten (DETECT_NOT_RUN), so the status probes them again. */
static void forget_touched(struct detect_result *rs, const struct plan *p)
{
	for (size_t i = 0; i < probes_count(); i++) {
		const struct target *t = target_by_cpu(rs[i].probe->cpu);
		if (!t || plan_touches(p, t))
			rs[i].status = DETECT_NOT_RUN;
	}
}

/*
 * Apply (under the lock, which this releases) and report: a line per item,
 * then the status, which probes again whatever the changes could have
 * affected (pre: this run's earlier probes, or NULL). --quiet reports only
 * failures and conflicts, and skips the status and its probes.
 */
static int apply_and_report(const struct options *o, struct plan *p, struct binfmtfs *fs, const struct target *host,
			    const char *prefix, struct detect_result *pre)
{
	struct bi_error err = { 0 };
	int r = plan_apply(p, fs, &err);
	int rc = r < 0 ? EXIT_FAILED : plan_has_conflicts(p) ? EXIT_PARTIAL : EXIT_OK;

	bfs_unlock(fs);
	print_plan(p, o, r < 0);
	if (p->rollback_error[0])
		cli_warnx("rollback incomplete: %s; the registry is not as it was before this run: "
			   "see it with 'binfmt --inspect' and run again", p->rollback_error);
	if (o->quiet)
		return rc;
	/* After a rollback the registry is what undo left: trust no earlier probe. */
	if (pre && (r < 0 || p->rollback_error[0]))
		pre = NULL;
	if (pre)
		forget_touched(pre, p);
	if (print_status(fs, host, prefix, false, pre) != EXIT_OK && rc == EXIT_OK)
		rc = EXIT_ENV;
	return rc;
}

static int run_changes(const struct options *o, struct plan_request *rq, const struct target *host)
{
	/* A dry run mounts (to see the instance a container shares with its host)
	 * only for as long as it reads. */
	struct bfs_options bo = { .mountpoint = o->mount, .may_mount = !o->dry_run || bfs_have_cap_sys_admin(),
				  .need_persistent = o->install != NULL, .read_only = o->dry_run };
	_cleanup_free_ struct binfmt_entry *entries = NULL;
	struct bi_error err = { 0 };
	struct binfmtfs fs;
	struct plan p;
	size_t n = 0;
	bool enabled, runs[64];
	struct detect_result pre[32];
	bool have_pre = false;
	int r, rc;

	/* Names and emulators first: bad input fails before anything is touched.
	 * Ownership waits for the privilege check: to an unprivileged user in a
	 * user namespace, root's files look owned by nobody. */
	struct plan_request check = *rq;
	check.validate_only = true;
	check.policy.require_root_owner = false;
	r = plan_build(&check, NULL, 0, &p, &err);
	if (r < 0)
		return plan_error_exit(r, &err);
	plan_free(&p);
	if (!o->dry_run && !bfs_have_cap_sys_admin()) {
		cli_warnx("changing binfmt_misc needs CAP_SYS_ADMIN: run as root, or the container with --privileged");
		return EXIT_ENV;
	}
	if (bfs_open(&fs, &bo, &err) < 0) {
		cli_warnx("%s", err.msg);
		return EXIT_ENV;
	}
	if (o->verbose && fs.note[0])
		cli_warnx("%s", fs.note);
	if (fs.private_userns && fs.lifetime[0] && !o->dry_run && !o->quiet)
		cli_warnx("note: %s", fs.lifetime);
	if (!o->dry_run && (rc = check_writable(&fs)) >= 0)
		goto out_close;
	rc = EXIT_ENV;
	/* Someone switched binfmt_misc off for the whole instance: the kernel uses
	 * no entry, so nothing installed would run. Switching it back on changes
	 * every other handler too: that is the administrator's call, not ours. */
	if (o->install && bfs_status_enabled(&fs, &enabled) == 0 && !enabled) {
		cli_warnx("binfmt_misc is disabled (%s/status): the kernel uses none of its entries, so nothing "
			   "installed would run; nothing was changed. Enable it with 'echo 1 > %s/status' (that "
			   "enables every handler) and run again", fs.path, fs.path);
		goto out_close;
	}
	/* Concurrent runs (boot units, parallel CI jobs) take turns: each reads,
	 * plans and applies against what the previous one left. */
	if (!o->dry_run && bfs_lock(&fs, LOCK_TIMEOUT_MS, &err) < 0) {
		cli_warnx("%s", err.msg);
		goto out_close;
	}
	/* What already runs decides what "all" skips: probed under the lock, or a
	 * run that finishes meanwhile would make the answer stale. */
	if (o->install && targets_count() <= ARRAY_SIZE(runs) && probes_count() <= ARRAY_SIZE(pre) &&
	    (have_pre = probe_runs(runs, ARRAY_SIZE(runs), host, pre)))
		rq->runs = runs;
	if (bfs_list(&fs, &entries, &n, &err) < 0) {
		cli_warnx("%s", err.msg);
		goto out_close;
	}
	r = plan_build(rq, entries, n, &p, &err);
	if (r < 0) {
		rc = plan_error_exit(r, &err);
		goto out_close;
	}
	if (o->dry_run) {
		print_dry_run(&p);
		print_plan(&p, o, false);
		rc = plan_has_conflicts(&p) ? EXIT_PARTIAL : EXIT_OK;
	} else {
		rc = apply_and_report(o, &p, &fs, host, rq->prefix, have_pre ? pre : NULL);
	}
	plan_free(&p);
out_close:
	rq->runs = NULL; /* runs[] ends with this function */
	if (o->dry_run)
		bfs_close_unmount(&fs);
	else
		bfs_close(&fs);
	return rc;
}

static int run_status(const struct options *o, const struct target *host, const char *prefix)
{
	/* Mount when we may (a privileged container sees the host's instance only
	 * through a mount of its own), but never insist: readers get what is there. */
	struct bfs_options bo = { .mountpoint = o->mount, .may_mount = bfs_have_cap_sys_admin(), .read_only = true };
	struct bi_error err = { 0 };
	struct binfmtfs fs;
	int rc;

	if (bfs_open(&fs, &bo, &err) < 0) {
		cli_warnx("%s", err.msg);
		return EXIT_ENV;
	}
	/* "supported" comes from probes and is true either way; "emulators" needs
	 * the registry, which an unprivileged container cannot mount: say so. */
	if (fs.dirfd < 0 && !bo.may_mount)
		cli_warnx("note: binfmt_misc is not mounted at %s and mounting it needs CAP_SYS_ADMIN: "
			   "\"emulators\" cannot list the registered emulators (run as root, or the container "
			   "with --privileged)", fs.path);
	else if (fs.dirfd < 0 && o->verbose)
		cli_warnx("binfmt_misc is not mounted at %s", fs.path);
	if (o->verbose && fs.note[0])
		cli_warnx("%s", fs.note);
	rc = print_status(&fs, host, prefix, o->inspect, NULL);
	bfs_close_unmount(&fs);
	return rc;
}

/* The QEMU a run would install: the first emulator the search finds. */
static int print_version(const struct interp_search *s, const struct target *host)
{
	static const char *const cpus[] = { "aarch64", "x86_64", "riscv64", "s390x" };
	char path[PATH_MAX], version[64];

	printf("binfmt from binfmt-installer %s\n", BINFMT_VERSION);
	for (size_t i = 0; i < ARRAY_SIZE(cpus); i++) {
		if ((host && !strcmp(host->cpu, cpus[i])) || interp_find(s, cpus[i], path, sizeof(path)) < 0)
			continue;
		if (interp_qemu_version(path, version, sizeof(version)) < 0)
			snprintf(version, sizeof(version), "unknown");
		*strrchr(path, '/') = '\0';
		printf("QEMU %s (emulators in %s)\n", version, path);
		return EXIT_OK;
	}
	printf("QEMU: no emulators found in %s%s\n", s->dirs[0], s->ndirs > 1 ? " or the other search directories" : "");
	return EXIT_OK;
}

static int run(struct options *o)
{
	struct interp_search search;
	struct interp_cache cache = { 0 };
	struct plan_request rq = { 0 };
	const char *prefix = getenv("QEMU_BINARY_PREFIX");
	const char *qpath;
	char flags[8];
	struct utsname u;
	const struct target *host;
	unsigned timeout;
	int rc;

	if ((rc = options_resolve_flags(o, flags)) >= 0)
		return rc;
	if (probe_timeout(&timeout) < 0)
		return options_usage_error("BINFMT_PROBE_TIMEOUT_MS='%s' is not a number of milliseconds from 1 to %u "
					   "(unset it for the default, 3000)", getenv("BINFMT_PROBE_TIMEOUT_MS"),
					   PROBE_TIMEOUT_MAX_MS);
	prefix = prefix ? prefix : "";
	if (*prefix && !entry_name_valid(prefix))
		return options_usage_error("QEMU_BINARY_PREFIX '%s' cannot be part of an entry name", prefix);
	qpath = o->qemu_path ? o->qemu_path : getenv("QEMU_BINARY_PATH");
	if (qpath && !*qpath)
		qpath = NULL; /* set but empty: the default search, as tonistiigi/binfmt does */
	if (interp_search_init(&search, qpath, prefix) < 0)
		return options_usage_error("invalid emulator path '%s'", qpath ? qpath : "");
	if ((rc = check_qemu_dirs(&search, qpath)) >= 0)
		return rc;
	/* Names are checked before the registry is read and planned again under
	 * the lock: each emulator's ELF header is read once for both. */
	search.cache = &cache;
	uname(&u);
	host = target_for_machine(u.machine);

	if (o->version)
		return print_version(&search, host);
	if (!o->install && !o->uninstall)
		return run_status(o, host, prefix);
	rq = (struct plan_request){
		.install = o->install, .uninstall = o->uninstall, .flags = flags, .prefix = prefix,
		.force = o->force, .search = &search, .host = host,
		/* F makes the kernel run the emulator inside foreign roots: it must be
		 * static; and whatever we register runs for every user: root-owned. */
		.policy = { .need_static = strchr(flags, 'F') != NULL, .require_root_owner = true },
	};
	if (o->export_dir)
		return run_export(o, &rq);
	return run_changes(o, &rq, host);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	int rc = options_parse(argc, argv, &o);

	if (o.help)
		options_usage();
	else if (rc < 0)
		rc = run(&o);
	options_free(&o);
	return rc;
}

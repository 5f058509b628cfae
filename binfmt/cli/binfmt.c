/* SPDX-License-Identifier: MIT */
/*
 * binfmt: register QEMU user-mode emulators in binfmt_misc, remove them, and
 * report what runs. A drop-in for tonistiigi/binfmt's command line. All the
 * work is in the library; this file turns argv into a request and results
 * into one line per item and an exit code.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include "plan.h"
#include "status.h"
#include "targets.h"
#include "util.h"

/* Exit codes (documented in README.md and binfmt(8)). */
enum {
	EXIT_OK = 0,       /* everything asked for is done */
	EXIT_FAILED = 1,   /* a registration failed; this run's changes were rolled back */
	EXIT_USAGE = 2,    /* bad option or name; nothing changed */
	EXIT_ENV = 3,      /* environment or permission problem; nothing changed */
	EXIT_PARTIAL = 4,  /* some items were left alone (conflicts); the rest is done */
};

enum {
	OPT_QEMU_PATH = CHAR_MAX + 1,
	OPT_FLAGS,
	OPT_CREDENTIAL,
	OPT_EXPORT,
	OPT_INSPECT,
};

struct options {
	char *install;
	char *uninstall;
	const char *mount;
	const char *qemu_path;
	const char *flags;
	const char *export_dir;
	bool credential, force, dry_run, verbose, inspect, version;
};

static const char *prog = "binfmt";

static void usage(void)
{
	printf("Usage:\n"
	       " %s [options]\n"
	       "\n"
	       "Register QEMU user-mode emulators in binfmt_misc so foreign-architecture Linux\n"
	       "binaries run on this host. Without an action, print the status JSON; its\n"
	       "\"supported\" list comes from running a tiny probe program per platform.\n"
	       "\n"
	       "Options:\n"
	       " -i, --install LIST|all     register emulators (LIST: comma-separated names such as\n"
	       "                            arm64,linux/arm/v7,riscv64,ppc64el,qemu-s390x)\n"
	       " -u, --uninstall LIST|all   remove entries; 'all' removes QEMU handlers only, other\n"
	       "                            entries (WSLInterop, python3.x...) only by exact name\n"
	       " -m, --mount DIR            binfmt_misc mount point (default %s)\n"
	       "     --qemu-path DIR[:DIR]  where the emulators are (default: the staged payload,\n"
	       "                            then /usr/bin); also QEMU_BINARY_PATH\n"
	       "     --flags FLAGS          binfmt_misc flags for new entries (default FP): F opens the\n"
	       "                            emulator now so it works in containers, P keeps argv[0],\n"
	       "                            O passes an fd to the binary\n"
	       "     --credential           add the C flag: setuid/setgid foreign binaries then run\n"
	       "                            with their owner's credentials - inside QEMU, which was\n"
	       "                            never designed to run setuid, so any local user can use\n"
	       "                            its bugs to gain root. Use only when a build needs sudo/su\n"
	       "                            inside emulated containers, on machines you trust.\n"
	       " -f, --force                replace conflicting entries (restored if replacing fails)\n"
	       " -n, --dry-run              print the register strings, change nothing\n"
	       "     --export DIR           write binfmt.d(5) files for --install LIST into DIR\n"
	       "                            instead of registering (systemd-binfmt applies them at boot)\n"
	       "     --inspect              print a JSON report per platform: supported or not, the\n"
	       "                            entry and emulator serving it, its QEMU version, and why not\n"
	       " -v, --verbose              say what was mounted and which emulators were chosen\n"
	       " -h, --help                 display this help\n"
	       " -V, --version              display version\n"
	       "\n"
	       "Environment:\n"
	       " QEMU_BINARY_PATH     emulator directory (as --qemu-path)\n"
	       " QEMU_BINARY_PREFIX   prefix for emulator file and entry names (e.g. buildkit-)\n"
	       " QEMU_PRESERVE_ARGV0  empty, 0, false or no: register without P; anything else: with P\n"
	       " BINFMT_PROBE_TIMEOUT_MS  how long one platform probe may run (default 3000)\n"
	       "\n"
	       "Exit status: 0 done; 1 a registration failed and this run was rolled back;\n"
	       "2 usage error; 3 environment or permission problem; 4 some items conflicted\n"
	       "and were left alone. In cases 2 and 3 nothing was changed.\n",
	       prog, BINFMTFS_DEFAULT_MOUNT);
}

static void warnx_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx_line(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
	return EXIT_USAGE;
}

/* tonistiigi/binfmt is a Go program: its users type -install all. */
static void translate_go_style(int argc, char **argv)
{
	static const char *const go_opts[] = { "-install", "-uninstall", "-mount", "-version" };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return;
		for (size_t j = 0; j < ARRAY_SIZE(go_opts); j++) {
			size_t l = strlen(go_opts[j]);
			if (!strncmp(argv[i], go_opts[j], l) && (argv[i][l] == '\0' || argv[i][l] == '=')) {
				char *s;
				if (asprintf(&s, "-%s", argv[i]) >= 0)
					argv[i] = s; /* lives until exit */
			}
		}
	}
}

/* Repeated --install/--uninstall accumulate rather than silently override. */
static int append_list(char **list, const char *more)
{
	char *s;

	if (!*list)
		return (*list = strdup(more)) ? 0 : -ENOMEM;
	if (asprintf(&s, "%s,%s", *list, more) < 0)
		return -ENOMEM;
	free(*list);
	*list = s;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "install", required_argument, NULL, 'i' },
		{ "uninstall", required_argument, NULL, 'u' },
		{ "mount", required_argument, NULL, 'm' },
		{ "qemu-path", required_argument, NULL, OPT_QEMU_PATH },
		{ "flags", required_argument, NULL, OPT_FLAGS },
		{ "credential", no_argument, NULL, OPT_CREDENTIAL },
		{ "export", required_argument, NULL, OPT_EXPORT },
		{ "inspect", no_argument, NULL, OPT_INSPECT },
		{ "force", no_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	translate_go_style(argc, argv);
	while ((c = getopt_long(argc, argv, "i:u:m:fnvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
		case 'u':
			if (append_list(c == 'i' ? &o->install : &o->uninstall, optarg) < 0)
				return EXIT_ENV;
			break;
		case 'm': o->mount = optarg; break;
		case OPT_QEMU_PATH: o->qemu_path = optarg; break;
		case OPT_FLAGS: o->flags = optarg; break;
		case OPT_CREDENTIAL: o->credential = true; break;
		case OPT_EXPORT: o->export_dir = optarg; break;
		case OPT_INSPECT: o->inspect = true; break;
		case 'f': o->force = true; break;
		case 'n': o->dry_run = true; break;
		case 'v': o->verbose = true; break;
		case 'h': usage(); exit(EXIT_OK);
		case 'V':
			o->version = true;
			break;
		default:
			fprintf(stderr, "Try '%s --help' for more information.\n", prog);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (o->inspect && (o->install || o->uninstall))
		return usage_error("%s", "--inspect reports only: run it without --install/--uninstall");
	if (o->export_dir && !o->install)
		return usage_error("%s", "--export needs --install LIST|all to know what to export");
	if (o->export_dir && (o->uninstall || o->dry_run))
		return usage_error("%s", "--export writes files only: it does not combine with --uninstall or --dry-run");
	return -1;
}

/* Flags for new entries: --flags, QEMU_PRESERVE_ARGV0, --credential. */
static int resolve_flags(const struct options *o, char out[8])
{
	const char *env = getenv("QEMU_PRESERVE_ARGV0");
	char raw[16];

	if (o->flags && strchr(o->flags, 'C'))
		return usage_error("%s", "the C flag is an explicit opt-in: use --credential (see --help for the risk)");
	snprintf(raw, sizeof(raw), "%s", o->flags ? o->flags : "FP");
	if (strlen(o->flags ? o->flags : "") > 4 || entry_flags_normalize(raw, out) < 0)
		return usage_error("invalid --flags '%s': use letters F, P and O, each at most once", o->flags);
	if (env && !o->flags) {
		bool off = !*env || !strcmp(env, "0") || !strcasecmp(env, "false") || !strcasecmp(env, "no");
		char *p = strchr(raw, 'P');
		if (off && p)
			memmove(p, p + 1, strlen(p));
		else if (!off && !p)
			strcat(raw, "P");
	}
	if (o->credential)
		strcat(raw, "C");
	entry_flags_normalize(raw, out);
	return -1;
}

static int check_qemu_dirs(const struct interp_search *s, const char *given)
{
	struct stat st;

	if (!given)
		return -1;
	for (size_t i = 0; i < s->ndirs; i++)
		if (stat(s->dirs[i], &st) < 0 || !S_ISDIR(st.st_mode))
			return usage_error("emulator directory '%s' does not exist: fix --qemu-path or QEMU_BINARY_PATH",
					   s->dirs[i]);
	return -1;
}

/* BINFMT_PROBE_TIMEOUT_MS: how long one probe may take (default 3000). */
static const struct detect_options *probe_options(void)
{
	static struct detect_options o;
	const char *v = getenv("BINFMT_PROBE_TIMEOUT_MS");

	o.timeout_ms = v ? (unsigned)strtoul(v, NULL, 10) : 0;
	return &o;
}

/* Registry entries plus probe results: what "supported" and --inspect need. */
static int print_status(struct binfmtfs *fs, const struct target *host, const char *prefix, bool inspect)
{
	_cleanup_free_ struct binfmt_entry *entries = NULL;
	_cleanup_free_ char *text = NULL;
	struct detect_result rs[32];
	struct bi_error err = { 0 };
	size_t n = 0;
	json_t *j;

	if (bfs_list(fs, &entries, &n, &err) < 0) {
		warnx_line("%s", err.msg);
		return EXIT_ENV;
	}
	if (probes_count() <= ARRAY_SIZE(rs) && detect_run(rs, probe_options(), &err) == 0) {
		j = inspect ? status_inspect_json(rs, probes_count(), entries, n)
			    : status_json_detected(rs, probes_count(), entries, n, prefix);
	} else {
		/* No way to run probes: fall back to what the registry says. */
		warnx_line("cannot run platform probes (%s): \"supported\" is read from the registrations",
			   err.msg[0] ? err.msg : "too many probes");
		j = status_json(host, entries, n, prefix);
	}
	text = j ? status_dump(j) : NULL;
	json_decref(j);
	if (!text) {
		warnx_line("out of memory");
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
			fprintf(stderr, "%s: %s FAILED: %s\n", verb, it->label, it->reason);
		else if (failed_run)
			fprintf(stderr, "%s: %s not done (rolled back)\n", verb, it->label);
		else if (dry_run)
			fprintf(stderr, "%s: %s %s%s\n", verb, it->label, would,
				it->state == PLAN_REMOVE ? "removed" : it->state == PLAN_REPLACE ? "replaced" : "registered");
		else if (it->state == PLAN_REPLACE)
			fprintf(stderr, "%s: %s OK (replaced: %s)\n", verb, it->label, it->reason);
		else
			fprintf(stderr, "%s: %s OK\n", verb, it->label);
		break;
	case PLAN_KEEP:
		fprintf(stderr, "%s: %s OK (already registered)\n", verb, it->label);
		break;
	case PLAN_ENABLE:
		if (it->result < 0)
			fprintf(stderr, "%s: %s FAILED: %s\n", verb, it->label, it->reason);
		else if (failed_run)
			fprintf(stderr, "%s: %s not done (rolled back)\n", verb, it->label);
		else
			fprintf(stderr, "%s: %s %s\n", verb, it->label,
				dry_run ? "would be re-enabled" : "OK (re-enabled: it was disabled)");
		break;
	case PLAN_ABSENT:
		fprintf(stderr, "%s: %s OK (not installed)\n", verb, it->label);
		break;
	case PLAN_NATIVE:
	case PLAN_HANDLED:
	case PLAN_NO_EMULATOR:
		fprintf(stderr, "%s: %s skipped: %s\n", verb, it->label, it->reason);
		break;
	case PLAN_CONFLICT:
		fprintf(stderr, "%s: %s CONFLICT: %s\n", verb, it->label, it->reason);
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
	warnx_line("%s", err->msg);
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

static void print_plan(const struct plan *p, bool dry_run, bool failed_run, bool verbose)
{
	for (size_t i = 0; i < p->n; i++) {
		print_item(&p->items[i], dry_run, failed_run);
		if (verbose && p->items[i].install && p->items[i].want.interpreter[0])
			fprintf(stderr, "  emulator %s, flags %s\n", p->items[i].want.interpreter, p->items[i].want.flags);
	}
	if (p->skipped_no_emulator)
		fprintf(stderr, "installing: %zu other targets skipped: no emulator for them found\n",
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
		warnx_line("%s", err.msg);
		return EXIT_ENV;
	}
	for (size_t i = 0; i < p.n; i++)
		if (p.items[i].state == PLAN_REGISTER)
			fprintf(stderr, "exporting: %s -> %s/%s.conf\n", p.items[i].label, o->export_dir,
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
		warnx_line("%s is mounted read-only (an unprivileged container): run it with --privileged", fs->path);
	else
		warnx_line("cannot write %s/register: %s: run as root, or the container with --privileged", fs->path,
			   strerror(errno));
	return EXIT_ENV;
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
		warnx_line("changing binfmt_misc needs CAP_SYS_ADMIN: run as root, or the container with --privileged");
		return EXIT_ENV;
	}
	if (bfs_open(&fs, &bo, &err) < 0) {
		warnx_line("%s", err.msg);
		return EXIT_ENV;
	}
	if (o->verbose && fs.note[0])
		warnx_line("%s", fs.note);
	if (fs.private_userns && !o->dry_run)
		warnx_line("note: running in a user namespace: these registrations are private to it and end with it");
	if (!o->dry_run && (rc = check_writable(&fs)) >= 0)
		goto out_close;
	rc = EXIT_ENV;
	if (bfs_list(&fs, &entries, &n, &err) < 0) {
		warnx_line("%s", err.msg);
		goto out_close;
	}
	r = plan_build(rq, entries, n, &p, &err);
	if (r < 0) {
		rc = plan_error_exit(r, &err);
		goto out_close;
	}
	if (o->dry_run) {
		print_dry_run(&p);
		print_plan(&p, true, false, o->verbose);
		rc = plan_has_conflicts(&p) ? EXIT_PARTIAL : EXIT_OK;
	} else {
		r = plan_apply(&p, &fs, &err);
		print_plan(&p, false, r < 0, o->verbose);
		rc = r < 0 ? EXIT_FAILED : plan_has_conflicts(&p) ? EXIT_PARTIAL : EXIT_OK;
		if (p.rollback_error[0])
			warnx_line("rollback incomplete: %s", p.rollback_error);
		if (print_status(&fs, host, rq->prefix, false) != EXIT_OK && rc == EXIT_OK)
			rc = EXIT_ENV;
	}
	plan_free(&p);
out_close:
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
		warnx_line("%s", err.msg);
		return EXIT_ENV;
	}
	if (fs.dirfd < 0 && o->verbose)
		warnx_line("binfmt_misc is not mounted at %s", fs.path);
	if (o->verbose && fs.note[0])
		warnx_line("%s", fs.note);
	rc = print_status(&fs, host, prefix, o->inspect);
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

/* Which targets already run here, from the probes; false when unknown. */
static bool probe_runs(bool *runs, size_t n)
{
	struct detect_result rs[32];

	if (probes_count() > ARRAY_SIZE(rs) || detect_run(rs, probe_options(), NULL) < 0)
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

static int run(struct options *o)
{
	struct interp_search search;
	struct plan_request rq = { 0 };
	const char *prefix = getenv("QEMU_BINARY_PREFIX");
	const char *qpath;
	char flags[8];
	struct utsname u;
	const struct target *host;
	int rc;

	if ((rc = resolve_flags(o, flags)) >= 0)
		return rc;
	prefix = prefix ? prefix : "";
	if (*prefix && !entry_name_valid(prefix))
		return usage_error("QEMU_BINARY_PREFIX '%s' cannot be part of an entry name", prefix);
	qpath = o->qemu_path ? o->qemu_path : getenv("QEMU_BINARY_PATH");
	if (qpath && !*qpath)
		qpath = NULL; /* set but empty: the default search, as tonistiigi/binfmt does */
	if (interp_search_init(&search, qpath, prefix) < 0)
		return usage_error("invalid emulator path '%s'", qpath ? qpath : "");
	if ((rc = check_qemu_dirs(&search, qpath)) >= 0)
		return rc;
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
	bool runs[64];
	if (o->install && targets_count() <= ARRAY_SIZE(runs) && probe_runs(runs, ARRAY_SIZE(runs)))
		rq.runs = runs;
	return run_changes(o, &rq, host);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	int rc = parse_args(argc, argv, &o);

	if (rc < 0)
		rc = run(&o);
	free(o.install);
	free(o.uninstall);
	return rc;
}

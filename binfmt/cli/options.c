/* SPDX-License-Identifier: MIT */
/*
 * binfmt's option parsing, split from binfmt.c so that it can be fuzzed:
 * getopt_long with util-linux conventions, plus tonistiigi/binfmt's Go-style
 * single-dash long options.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "binfmtfs.h"
#include "entry.h"
#include "message.h"
#include "options.h"
#include "util.h"

enum {
	OPT_QEMU_PATH = CHAR_MAX + 1,
	OPT_FLAGS,
	OPT_CREDENTIAL,
	OPT_EXPORT,
	OPT_INSPECT,
};

const char *const cli_prog = "binfmt";

void options_usage(void)
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
	       "                            Needs F. Existing entries with C are conflicts,\n"
	       "                            replaced by --force.\n"
	       " -f, --force                replace conflicting entries (restored if replacing fails)\n"
	       " -n, --dry-run              print the register strings, change nothing\n"
	       "     --export DIR           write binfmt.d(5) files for --install LIST into DIR\n"
	       "                            instead of registering (systemd-binfmt applies them at boot)\n"
	       "     --inspect              print a JSON report per platform: supported or not, the\n"
	       "                            entry and emulator serving it, its QEMU version, and why not\n"
	       " -q, --quiet                with --install/--uninstall: print nothing on success\n"
	       "                            (no item lines, no status JSON, so no platform probes);\n"
	       "                            failures and conflicts still get their line on stderr\n"
	       " -v, --verbose              say what was mounted and which emulators were chosen\n"
	       " -h, --help                 display this help\n"
	       " -V, --version              display version\n"
	       "\n"
	       "Environment:\n"
	       " QEMU_BINARY_PATH     emulator directory (as --qemu-path)\n"
	       " QEMU_BINARY_PREFIX   prefix for emulator file and entry names (e.g. buildkit-)\n"
	       " QEMU_PRESERVE_ARGV0  empty, 0, false or no: register without P; anything else: with P\n"
	       " BINFMT_PROBE_TIMEOUT_MS  how long one platform probe may run, 1-600000 ms (default 3000)\n"
	       "\n"
	       "Exit status: 0 done; 1 a registration failed and this run was rolled back;\n"
	       "2 usage error; 3 environment or permission problem; 4 some items conflicted\n"
	       "and were left alone. In cases 2 and 3 nothing was changed.\n",
	       cli_prog, BINFMTFS_DEFAULT_MOUNT);
}

int options_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vwarnx(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", cli_prog);
	return EXIT_USAGE;
}

/* tonistiigi/binfmt is a Go program: its users type -install all. */
static void translate_go_style(int argc, char **argv, struct options *o)
{
	static const char *const go_opts[] = { "-install", "-uninstall", "-mount", "-version" };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return;
		for (size_t j = 0; j < ARRAY_SIZE(go_opts); j++) {
			size_t l = strlen(go_opts[j]);
			if (!strncmp(argv[i], go_opts[j], l) && (argv[i][l] == '\0' || argv[i][l] == '=')) {
				char **v = realloc(o->owned, (o->nowned + 1) * sizeof(*v));
				char *s;
				if (!v)
					return;
				o->owned = v;
				if (asprintf(&s, "-%s", argv[i]) >= 0)
					argv[i] = o->owned[o->nowned++] = s;
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

/* --quiet silences a change's report; a report-only run would print nothing. */
static int check_quiet(const struct options *o)
{
	if (!o->quiet)
		return -1;
	if (!o->install && !o->uninstall)
		return options_usage_error("%s", "--quiet is for --install/--uninstall: without them binfmt only reports");
	if (o->dry_run || o->verbose)
		return options_usage_error("--quiet does not combine with %s", o->dry_run ? "--dry-run" : "--verbose");
	return -1;
}

int options_parse(int argc, char **argv, struct options *o)
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
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	translate_go_style(argc, argv, o);
	optind = 0; /* glibc: full re-initialisation, for callers that parse more than once */
	while ((c = getopt_long(argc, argv, "i:u:m:fnvqhV", longopts, NULL)) != -1) {
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
		case 'q': o->quiet = true; break;
		case 'h':
			o->help = true;
			return EXIT_OK;
		case 'V':
			o->version = true;
			break;
		default:
			fprintf(stderr, "Try '%s --help' for more information.\n", cli_prog);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return options_usage_error("unexpected argument '%s'", argv[optind]);
	if (o->inspect && (o->install || o->uninstall))
		return options_usage_error("%s", "--inspect reports only: run it without --install/--uninstall");
	if (o->export_dir && !o->install)
		return options_usage_error("%s", "--export needs --install LIST|all to know what to export");
	if (o->export_dir && (o->uninstall || o->dry_run))
		return options_usage_error("%s", "--export writes files only: it does not combine with --uninstall or --dry-run");
	return check_quiet(o);
}

int options_resolve_flags(const struct options *o, char out[8])
{
	const char *env = getenv("QEMU_PRESERVE_ARGV0");
	char raw[16];

	if (o->flags && strchr(o->flags, 'C'))
		return options_usage_error("%s", "the C flag is an explicit opt-in: use --credential (see --help for the risk)");
	snprintf(raw, sizeof(raw), "%s", o->flags ? o->flags : "FP");
	if (strlen(o->flags ? o->flags : "") > 4 || entry_flags_normalize(raw, out) < 0)
		return options_usage_error("invalid --flags '%s': use letters F, P and O, each at most once", o->flags);
	if (env && !o->flags) {
		bool off = !*env || !strcmp(env, "0") || !strcasecmp(env, "false") || !strcasecmp(env, "no");
		char *p = strchr(raw, 'P');
		if (off && p)
			memmove(p, p + 1, strlen(p));
		else if (!off && !p)
			snprintf(raw + strlen(raw), sizeof(raw) - strlen(raw), "P");
	}
	if (o->credential)
		snprintf(raw + strlen(raw), sizeof(raw) - strlen(raw), "C");
	entry_flags_normalize(raw, out);
	/* Without F the kernel looks the interpreter up at each exec, in the
	 * caller's mount namespace: a container image would supply the
	 * "emulator" that C then runs with a setuid binary's credentials. */
	if (strchr(out, 'C') && !strchr(out, 'F'))
		return options_usage_error("--credential needs the F flag (--flags '%s' has none): without it an image "
					   "could supply the emulator that runs setuid; add F to --flags",
					   o->flags ? o->flags : "");
	return -1;
}

void options_free(struct options *o)
{
	free(o->install);
	free(o->uninstall);
	for (size_t i = 0; i < o->nowned; i++)
		free(o->owned[i]);
	free(o->owned);
	o->install = o->uninstall = NULL;
	o->owned = NULL;
	o->nowned = 0;
}

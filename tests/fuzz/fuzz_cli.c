/* SPDX-License-Identifier: MIT */
/*
 * binfmt's command line (binfmt/cli/options.c): argv from the input split on
 * NUL bytes, with argv[0] = "binfmt"; a first argument of the form
 * QEMU_PRESERVE_ARGV0=... sets that variable instead. Parsing never crashes
 * or leaks, is repeatable (getopt state is reset), keeps its documented
 * exclusions, and the flags it resolves are normalized, never carry C
 * without --credential nor without F, and follow --flags when given. Install and
 * uninstall lists then go through plan_build as the CLI would, against an
 * empty emulator directory: names are checked, nothing is touched.
 */
#include <errno.h>
#include <string.h>

#include "entry.h"
#include "fuzz.h"
#include "interp.h"
#include "options.h"
#include "plan.h"

#define MAX_ARGS 64

static void check_flags(const struct options *o, const char *flags)
{
	char norm[8], want[16];

	CHECK(entry_flags_normalize(flags, norm) == 0 && !strcmp(norm, flags), "flags '%s' not normalized", flags);
	CHECK(!strchr(flags, 'C') || o->credential, "C without --credential: '%s'", flags);
	CHECK(!o->credential || (strchr(flags, 'C') && strchr(flags, 'O')), "--credential without OC: '%s'", flags);
	/* Without F an image could supply the emulator C runs setuid (issue 20). */
	CHECK(!strchr(flags, 'C') || strchr(flags, 'F'), "C without F: '%s'", flags);
	if (o->flags) {
		snprintf(want, sizeof(want), "%s%s", o->flags, o->credential ? "C" : "");
		CHECK(entry_flags_normalize(want, norm) == 0 && !strcmp(norm, flags), "--flags '%s' gave '%s'", o->flags,
		      flags);
	}
}

static void try_plan(const struct options *o, const char *flags)
{
	static struct interp_search search;
	struct plan_request rq = { 0 };
	struct bi_error err = { 0 };
	struct plan p;
	int r;

	if (interp_search_init(&search, "/nonexistent/binfmt-fuzz", "") < 0)
		return;
	rq = (struct plan_request){ .install = o->install, .uninstall = o->uninstall, .flags = flags, .prefix = "",
				    .force = o->force, .search = &search, .validate_only = true,
				    .policy = { .need_static = strchr(flags, 'F') != NULL } };
	r = plan_build(&rq, NULL, 0, &p, &err);
	CHECK(r == 0 || r == -EINVAL || r == -ENOENT, "plan_build returned %d: %s", r, err.msg);
	CHECK(r == 0 || err.msg[0], "plan_build failed without a message");
	if (r == 0) {
		for (size_t i = 0; i < p.n; i++)
			CHECK(p.items[i].label[0], "item without a label");
		plan_free(&p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2], *copy[MAX_ARGS + 2], flags[8];
	struct options o = { 0 };
	int argc = 0, rc, rc2;

	unsetenv("QEMU_PRESERVE_ARGV0");
	argc = fuzz_argv("binfmt", data, size, argv, MAX_ARGS);
	/* getopt permutes argv and Go-style rewriting replaces entries: keep the
	 * originals to free, and a pristine copy to parse a second time. */
	memcpy(copy, argv, sizeof(*argv) * (size_t)(argc + 1));
	char **again = malloc(sizeof(*again) * (size_t)(argc + 1) * 2), **again_orig = again + argc + 1;
	for (int i = 0; i < argc; i++)
		again[i] = again_orig[i] = strdup(argv[i]);
	again[argc] = NULL;

	rc = options_parse(argc, argv, &o);
	CHECK(rc == -1 || rc == EXIT_OK || rc == EXIT_USAGE || rc == EXIT_ENV, "options_parse returned %d", rc);
	CHECK(!o.help || rc == EXIT_OK, "--help with exit %d", rc);
	if (rc < 0) {
		CHECK(!(o.inspect && (o.install || o.uninstall)), "--inspect combined with changes");
		CHECK(!o.export_dir || (o.install && !o.uninstall && !o.dry_run), "--export combination let through");
		if (options_resolve_flags(&o, flags) < 0) {
			check_flags(&o, flags);
			if (o.install || o.uninstall)
				try_plan(&o, flags);
		}
	}

	/* The same argv again: the same answer (getopt state does not leak). */
	{
		struct options o2 = { 0 };
		rc2 = options_parse(argc, again, &o2);
		CHECK(rc2 == rc && o2.help == o.help && o2.force == o.force && o2.dry_run == o.dry_run &&
		      !!o2.install == !!o.install && (!o.install || !strcmp(o.install, o2.install)),
		      "second parse differs: %d vs %d", rc2, rc);
		options_free(&o2);
	}
	options_free(&o);
	for (int i = 0; i < argc; i++) {
		free(copy[i]);
		free(again_orig[i]);
	}
	free(again);
	return 0;
}

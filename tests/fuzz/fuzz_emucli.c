/* SPDX-License-Identifier: MIT */
/*
 * emu-run's command line (emu-runner/options.c): argv from the input split on
 * NUL bytes, with argv[0] = "emu-run". Parsing never crashes or leaks, returns
 * -1 (go on), 0 (--help, --version) or 125 (usage error); a configuration it
 * lets through has a resolved target, a command, --overlay only with --rootfs
 * or --image (which implies it), --shell as /bin/sh -c, and binds with both
 * paths; parsing the same argv
 * again gives the same answer. Inputs naming --env-file are skipped: it reads
 * the named file, which is env.c's business (fuzzed by fuzz_emu).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "fuzz.h"

#define MAX_ARGS 64

static void check_config(const struct emu_config *c)
{
	CHECK(c->arch && c->target, "accepted without a resolved --arch");
	CHECK(c->argv && c->argv[0], "accepted without a command");
	CHECK(!c->overlay || c->rootfs || c->image, "--overlay without --rootfs or --image");
	for (size_t i = 0; i < c->nbinds; i++)
		CHECK(c->binds[i].src[0] && c->binds[i].dst[0], "a bind with an empty path");
}

static int parse(int argc, char **argv, struct emu_config *c)
{
	int rc = emu_parse_args(argc, argv, c);

	CHECK(rc == -1 || rc == 0 || rc == EMU_EXIT_ERROR, "emu_parse_args returned %d", rc);
	if (rc == -1)
		check_config(c);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2], *orig[MAX_ARGS + 2], *again[MAX_ARGS + 2];
	struct emu_config c = { 0 }, c2 = { 0 };
	int argc = 0, rc, rc2;
	bool skip = false;

	argc = fuzz_argv("emu-run", data, size, argv, MAX_ARGS);
	for (int i = 1; i < argc; i++)
		skip |= !strncmp(argv[i], "--env-", 6);
	memcpy(orig, argv, sizeof(*argv) * (size_t)(argc + 1));
	memcpy(again, argv, sizeof(*argv) * (size_t)(argc + 1));
	if (!skip) {
		rc = parse(argc, argv, &c);
		const struct target *t = c.target;
		emu_config_free(&c, argv);
		/* getopt permutes nothing with "+", so the same array parses again. */
		rc2 = parse(argc, again, &c2);
		CHECK(rc2 == rc && c2.target == t, "second parse differs: %d vs %d", rc2, rc);
		emu_config_free(&c2, again);
	}
	for (int i = 0; i < argc; i++)
		free(orig[i]);
	return 0;
}

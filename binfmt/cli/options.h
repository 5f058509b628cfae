/* SPDX-License-Identifier: MIT */
/*
 * binfmt's command line: argv (including tonistiigi/binfmt's Go-style
 * -install) into struct options, and the flags new entries get. No I/O
 * besides the usage text and usage errors on stdout/stderr, and no exit(),
 * so the fuzzer (tests/fuzz/fuzz_cli.c) can call it in a loop.
 */
#ifndef BINFMT_CLI_OPTIONS_H
#define BINFMT_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

/* Exit codes (documented in README.md and binfmt(8)). */
enum {
	EXIT_OK = 0,       /* everything asked for is done */
	EXIT_FAILED = 1,   /* a registration failed; this run's changes were rolled back */
	EXIT_USAGE = 2,    /* bad option or name; nothing changed */
	EXIT_ENV = 3,      /* environment or permission problem; nothing changed */
	EXIT_PARTIAL = 4,  /* some items were left alone (conflicts); the rest is done */
};

struct options {
	char *install;
	char *uninstall;
	const char *mount;
	const char *qemu_path;
	const char *flags;
	const char *export_dir;
	bool credential, force, dry_run, verbose, quiet, inspect, version, help;
	char **owned;      /* argv strings rewritten from Go style, freed by options_free */
	size_t nowned;
};

extern const char *const cli_prog;

/* Print the --help text on stdout. */
void options_usage(void);

/* "binfmt: <message>" and the --help hint on stderr; returns EXIT_USAGE. */
int options_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Parse argv into a zeroed *o. Returns -1 to go on, or the exit code to end
 * with (EXIT_OK for -h/--help: o->help is set and the caller prints the
 * usage). May rewrite argv[i] (Go-style options). Call options_free after.
 */
int options_parse(int argc, char **argv, struct options *o);

/*
 * Flags for new entries from --flags, QEMU_PRESERVE_ARGV0 and --credential,
 * normalized ("POCF" order). Returns -1, or EXIT_USAGE after printing why.
 */
int options_resolve_flags(const struct options *o, char out[8]);

void options_free(struct options *o);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * What really runs here: the host's platform (amd64 levels from CPUID), then
 * every probe executed chrooted in an empty directory, in parallel, each with
 * a deadline. Only F registrations pass a chrooted probe, which is what
 * container builders need. A failure is classified so users learn why.
 */
#ifndef BINFMT_DETECT_H
#define BINFMT_DETECT_H

#include <stdbool.h>
#include <stddef.h>

#include "entry.h"
#include "error.h"
#include "probe.h"

enum detect_status {
	DETECT_NATIVE,        /* the host's own platform (not probed) */
	DETECT_OK,            /* the probe ran and exited as expected */
	DETECT_NO_HANDLER,    /* exec format error: nothing handles this ELF */
	DETECT_NOT_FOUND,     /* ENOENT in the chroot: a handler without F, or no interpreter */
	DETECT_SIGNAL,        /* killed by a signal (emulator crash) */
	DETECT_EXIT_CODE,     /* ran but exited with something unexpected */
	DETECT_TIMEOUT,       /* did not finish in time, killed */
	DETECT_EXEC_ERROR,    /* another exec errno (EACCES on a noexec fs, ...) */
	DETECT_NOT_RUN,       /* could not set up the probe at all */
};

struct detect_result {
	const struct probe *probe;
	enum detect_status status;
	int detail;           /* signal number, exit code or errno */
	int amd64_level;      /* amd64 probe: 1..4 when it ran */
	double ms;            /* wall time from fork to reap */
};

struct detect_options {
	unsigned timeout_ms;  /* per probe; 0: default (3000) */
	bool sequential;      /* one probe at a time (for comparison) */
	/* Indexed like probe_at(): run only these (others stay DETECT_NOT_RUN).
	 * NULL: every probe. */
	const bool *select;
};

/* x86-64 micro-architecture level of this CPU (1..4), 0 when not x86-64. */
int detect_amd64_level(void);

/*
 * Run every probe (results[i] for probe_at(i); results must have
 * probes_count() slots). Probes of the host's own platform are not run
 * (DETECT_NATIVE). Returns 0, or -errno when no probe could be set up.
 */
int detect_run(struct detect_result *results, const struct detect_options *o, struct bi_error *err);

bool detect_passed(const struct detect_result *r);

/*
 * Why a probe failed, in one line, using the registry to tell the ENOENT
 * cases apart (no F, interpreter missing, interpreter not static).
 */
void detect_explain(const struct detect_result *r, const struct binfmt_entry *entries, size_t n,
		    char *buf, size_t len);

const char *detect_status_name(enum detect_status s);

#endif

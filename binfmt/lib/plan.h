/* SPDX-License-Identifier: MIT */
/*
 * From what the user asked (names, flags) and what the kernel has (entries)
 * to a list of items, each with a decision: register, replace, keep, skip
 * (native / handled / no emulator), conflict, remove. Building the plan does
 * no I/O on binfmt_misc; applying it does, with rollback on failure.
 */
#ifndef BINFMT_PLAN_H
#define BINFMT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "binfmtfs.h"
#include "entry.h"
#include "error.h"
#include "interp.h"
#include "targets.h"

enum plan_state {
	PLAN_REGISTER,    /* not there yet: register */
	PLAN_REPLACE,     /* --force: remove the conflicting entries, then register */
	PLAN_KEEP,        /* an identical entry exists */
	PLAN_ENABLE,      /* an identical entry exists but is disabled: enable it */
	PLAN_NATIVE,      /* the host runs it natively */
	PLAN_HANDLED,     /* (all) another working F entry already serves it */
	PLAN_CONFLICT,    /* a different entry claims the name or the files (also: an
	                   * entry with C serves it, "all" included): left alone */
	PLAN_REMOVE,      /* uninstall */
	PLAN_ABSENT,      /* uninstall: nothing there */
};

struct plan_item {
	bool install;                  /* else uninstall */
	const struct target *target;   /* NULL: an exact non-QEMU entry name */
	char label[320];               /* "linux/arm64 (qemu-aarch64)" */
	enum plan_state state;
	struct binfmt_entry want;      /* install: what we register */
	struct binfmt_entry old[4];    /* entries removed by REPLACE/REMOVE (for undo) */
	size_t nold;
	char reason[600];              /* why skipped / conflicting / failed */
	int result;                    /* apply: 0 or -errno */
	bool applied;
};

struct plan {
	struct plan_item *items;
	size_t n;
	size_t skipped_no_emulator;    /* "all": targets without an interpreter */
	char rollback_error[700];      /* set when a rollback could not restore everything */
};

struct plan_request {
	const char *install;           /* "all", a comma list, or NULL */
	const char *uninstall;         /* same */
	const char *flags;             /* normalized flags for new entries */
	const char *prefix;            /* QEMU_BINARY_PREFIX ("" none) */
	bool force;
	const struct interp_search *search;
	struct interp_policy policy;
	const struct target *host;     /* the host's own target */
	/* Optional, indexed like target_at(): the platform already runs here
	 * (probe passed). NULL: fall back to QEMU's family heuristic. */
	const bool *runs;
	/* Checking names before the registry is read: an --uninstall name that
	 * is no architecture but could be an entry's name is accepted here. */
	bool validate_only;
};

/*
 * Build the plan. Usage problems (unknown or malformed names) return -EINVAL
 * with a message listing what is accepted; a missing or unsafe interpreter for
 * an explicitly named target returns -ENOENT/-EPERM/-ENOEXEC. Nothing is
 * changed in either case.
 */
int plan_build(const struct plan_request *rq, const struct binfmt_entry *existing, size_t nexisting,
	       struct plan *out, struct bi_error *err);
void plan_free(struct plan *p);

/*
 * Apply: removals first, then registrations, each checked by reading the
 * entry back. On the first kernel failure everything this run changed is
 * undone (removed entries are re-registered) and the error returned.
 */
int plan_apply(struct plan *p, struct binfmtfs *fs, struct bi_error *err);

/*
 * After plan_apply: could it have changed what the kernel does with t's
 * binaries? True when an item that registered, enabled, replaced or removed
 * an entry (or found the registry changed meanwhile by another process) had
 * an entry serving t; false when p left everything about t as it was, so a
 * probe of t made before applying still tells the truth.
 */
bool plan_touches(const struct plan *p, const struct target *t);

/* Is this entry a QEMU handler (ours to remove with "all")? */
bool plan_is_qemu_entry(const struct binfmt_entry *e, const char *prefix);

/* The binfmt_misc entry a target would get: name, magic, mask, interpreter, flags. */
int plan_entry_for(const struct target *t, const char *prefix, const char *interpreter, const char *flags,
		   struct binfmt_entry *e);

/* Which target does this entry serve? (its magic/mask match the target's ELF header) */
const struct target *plan_target_of_entry(const struct binfmt_entry *e);

/*
 * Does e have the C flag? Then buf gets one line naming the entry, what C does
 * (setuid foreign binaries run as their owner inside QEMU) and the fix: the
 * --install --force that replaces it with an entry without C.
 */
bool plan_credential_warning(const struct binfmt_entry *e, char *buf, size_t n);

#endif

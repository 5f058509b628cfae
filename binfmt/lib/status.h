/* SPDX-License-Identifier: MIT */
/*
 * The machine-readable views: the status JSON builders read (same shape as
 * tonistiigi/binfmt: {"supported": [...], "emulators": [...]}), and binfmt.d(5)
 * export files.
 */
#ifndef BINFMT_STATUS_H
#define BINFMT_STATUS_H

#include <jansson.h>
#include <stddef.h>

#include "detect.h"
#include "entry.h"
#include "error.h"
#include "plan.h"
#include "targets.h"

/*
 * supported: the host's platform first, then every platform that runs here in
 * BuildKit's order (platforms BuildKit does not probe after, in a stable
 * order); emulators: enabled QEMU handlers by name. Arrays, never null.
 * A platform runs when it is of the host's family or an enabled entry with the
 * F flag serves it with an interpreter that exists.
 */
json_t *status_json(const struct target *host, const struct binfmt_entry *entries, size_t n,
		    const char *prefix);

/*
 * The same JSON from probe results (detect_run): supported = the host's
 * platform (with its amd64 levels), then every probe that passed, in probe
 * order; a passing amd64 probe adds its levels, a passing arm probe adds
 * linux/arm/v7 and linux/arm/v6.
 */
json_t *status_json_detected(const struct detect_result *rs, size_t nrs, const struct binfmt_entry *entries,
			     size_t n, const char *prefix);

/*
 * binfmt --inspect: {"platforms": [{platform, supported, status, entry,
 * interpreter, flags, qemu_version, reason, ms}...]} per probe, plus
 * "warning" (after qemu_version) when the entry serving it has the C flag
 * (plan_credential_warning) and "amd64_level" for amd64.
 */
json_t *status_inspect_json(const struct detect_result *rs, size_t nrs, const struct binfmt_entry *entries,
			    size_t n);

/* The JSON as printed: 2-space indent, keys in order, trailing newline. Caller frees. */
char *status_dump(json_t *status);

/*
 * Write one binfmt.d(5) file per registration of the plan into dir
 * (<entry-name>.conf, replaced atomically). Returns the number written or -errno.
 */
int status_export_binfmt_d(const char *dir, const struct plan *p, struct bi_error *err);

#endif

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

/* The JSON as printed: 2-space indent, keys in order, trailing newline. Caller frees. */
char *status_dump(json_t *status);

/*
 * Write one binfmt.d(5) file per registration of the plan into dir
 * (<entry-name>.conf, replaced atomically). Returns the number written or -errno.
 */
int status_export_binfmt_d(const char *dir, const struct plan *p, struct bi_error *err);

#endif

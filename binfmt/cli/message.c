/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "entry.h"
#include "message.h"
#include "options.h"
#include "util.h"

void cli_vline(const char *prefix, const char *fmt, va_list ap)
{
	_cleanup_free_ char *raw = NULL, *esc = NULL;

	if (vasprintf(&raw, fmt, ap) < 0) {
		raw = NULL;
		fputs("out of memory\n", stderr);
		return;
	}
	esc = entry_escape(raw);
	fprintf(stderr, "%s%s\n", prefix, esc ? esc : "out of memory");
}

void cli_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vline("", fmt, ap);
	va_end(ap);
}

void cli_warnx(const char *fmt, ...)
{
	char prefix[64];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%s: ", cli_prog);
	va_start(ap, fmt);
	cli_vline(prefix, fmt, ap);
	va_end(ap);
}

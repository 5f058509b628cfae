/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "entry.h"
#include "message.h"
#include "options.h"
#include "util.h"

void cli_vline(const char *prefix, const char *fmt, va_list ap)
{
	_cleanup_free_ char *esc = entry_vformat_escaped(fmt, ap);

	fprintf(stderr, "%s%s\n", prefix, esc ? esc : "out of memory");
}

void cli_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vline("", fmt, ap);
	va_end(ap);
}

void cli_vwarnx(const char *fmt, va_list ap)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "%s: ", cli_prog);
	cli_vline(prefix, fmt, ap);
}

void cli_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vwarnx(fmt, ap);
	va_end(ap);
}

/* SPDX-License-Identifier: MIT */
/*
 * For unit tests that compile an emu-runner module into themselves: emu_note
 * (options.c's --verbose printer) collected into notes, one line per call,
 * for the test to look at. notes[0] = '\0' starts afresh.
 */
#ifndef TEST_EMU_NOTES_H
#define TEST_EMU_NOTES_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char notes[16384];

void emu_note(const struct emu_config *c, const char *fmt, ...)
{
	size_t l = strlen(notes);
	va_list ap;

	(void)c;
	va_start(ap, fmt);
	vsnprintf(notes + l, sizeof(notes) - l - 1, fmt, ap);
	va_end(ap);
	l = strlen(notes);
	notes[l] = '\n';
	notes[l + 1] = '\0';
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * binfmt's one printer for what it tells the user on stderr: report lines and
 * "binfmt: message" lines, each escaped (entry_escape) because names, paths and
 * reasons carry other tools' entry names, whose control bytes must not reach
 * the terminal. The library never prints; this is the CLI's only way to.
 */
#ifndef BINFMT_CLI_MESSAGE_H
#define BINFMT_CLI_MESSAGE_H

#include <stdarg.h>

/* prefix + the formatted text, escaped, + newline, on stderr. */
void cli_vline(const char *prefix, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* A report line ("installing: linux/arm64 (qemu-aarch64) OK"). */
void cli_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "binfmt: <message>". */
void cli_vwarnx(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
void cli_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

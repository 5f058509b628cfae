/* SPDX-License-Identifier: MIT */
/*
 * The library's error object. Functions return -errno and, when given a
 * struct bi_error, fill it with one line a user can act on (what is wrong and
 * how to fix it). The library never prints and never exits: the CLIs do.
 */
#ifndef BINFMT_ERROR_H
#define BINFMT_ERROR_H

#include <stddef.h>

struct bi_error {
	int code;        /* negative errno, 0 when unset */
	char msg[1024];  /* one line, no trailing newline */
};

/* Set err (if non-NULL) and return code (a negative errno). */
int bi_error_set(struct bi_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif

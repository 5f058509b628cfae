/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz targets: the libFuzzer entry points, and CHECK(), which
 * aborts with a message when a property fails, so libFuzzer (and the replay
 * driver in make check) reports the input as a crash.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                          \
			fputc('\n', stderr);                                                   \
			abort();                                                               \
		}                                                                          \
	} while (0)

/* A NUL-terminated heap copy of the input (inputs are not strings). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	for (size_t i = 0; i < size; i++)
		s[i] = (char)data[i];
	s[size] = '\0';
	return s;
}

/* argv for a command-line target: argv[0] = prog, then the input split on NUL
 * bytes, at most max arguments after it; argv[argc] = NULL. Returns argc.
 * Every element is heap-allocated (the caller frees them). */
static inline int fuzz_argv(const char *prog, const uint8_t *data, size_t size, char **argv, int max)
{
	size_t start = 0;
	int argc = 0;

	argv[argc++] = fuzz_strndup((const uint8_t *)prog, strlen(prog));
	for (size_t i = 0; i <= size && argc <= max; i++) {
		if (i < size && data[i])
			continue;
		if (i == size && start == size && size)
			break;
		argv[argc++] = fuzz_strndup(data + start, i - start);
		start = i + 1;
	}
	argv[argc] = NULL;
	return argc;
}

#endif

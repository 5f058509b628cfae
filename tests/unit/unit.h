/* SPDX-License-Identifier: MIT */
/* Common includes for cmocka unit tests. Run with CMOCKA_MESSAGE_OUTPUT=TAP. */
#ifndef UNIT_H
#define UNIT_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * What tests/helpers/cpu-view (beside the test binaries in $BUILD/tests) prints
 * for KEY ("levels", "vendor", "i386"), run as a child of this test: the machine
 * as a natively running child sees it, which is what probes executed by the code
 * under test see, also when this test itself runs under valgrind (whose CPUID is
 * its own; --trace-children=no). Issue 11: expectations come from the program's
 * environment, not from /proc/cpuinfo or sysctls. Returns 0, or -1 when the helper
 * is missing or failed (make unit builds it).
 */
static inline int unit_cpu_view(const char *key, char *out, size_t n)
{
	char self[PATH_MAX], cmd[PATH_MAX + 32], line[256];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	size_t klen = strlen(key);
	int found = -1;
	FILE *p;

	if (len <= 0 || n == 0)
		return -1;
	self[len] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "'%s/cpu-view'", self);
	if (!(p = popen(cmd, "re")))
		return -1;
	while (fgets(line, sizeof(line), p)) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(out, n, "%s", line + klen + 1 + (line[klen + 1] == ' '));
		found = 0;
	}
	return pclose(p) == 0 ? found : -1;
}
#endif

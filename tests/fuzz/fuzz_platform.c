/* SPDX-License-Identifier: MIT */
/*
 * platform_parse/platform_format and target_resolve on arbitrary names:
 * parse -> format -> parse is a fixed point (normalization is idempotent),
 * format never overruns a small buffer, target_resolve answers one of its
 * documented codes, and every target answers to its own names (cpu, entry
 * name, platform, aliases) in any letter case.
 *
 * Input: the name. Its bytes also pick a target and a case pattern.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "platform.h"
#include "targets.h"

static bool in_table(const struct target *t)
{
	for (size_t i = 0; i < targets_count(); i++)
		if (target_at(i) == t)
			return true;
	return false;
}

/* Names a target must answer to. */
static size_t names_of(const struct target *t, char out[16][300])
{
	size_t n = 0;

	snprintf(out[n++], 300, "%s", t->cpu);
	snprintf(out[n++], 300, "qemu-%s", t->cpu);
	if (t->platform)
		snprintf(out[n++], 300, "%s", t->platform);
	for (const char *const *a = t->aliases; a && *a && n < 16; a++)
		snprintf(out[n++], 300, "%s", *a);
	return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char names[16][300];

	(void)argc, (void)argv;
	for (size_t i = 0; i < targets_count(); i++) {
		const struct target *t = target_at(i), *got = NULL;
		size_t n = names_of(t, names);
		for (size_t j = 0; j < n; j++) {
			int r = target_resolve(names[j], &got);
			CHECK(r == 0 && got == t, "'%s' resolves to %s (%d), not %s", names[j], r == 0 ? got->cpu : "-",
			      r, t->cpu);
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size), buf[200], *small;
	static char names[16][300];
	struct platform p, p2;
	const struct target *t = NULL;
	size_t small_n;
	int r;

	r = platform_parse(s, &p);
	CHECK(r == 0 || r == -EINVAL, "platform_parse returned %d", r);
	if (r == 0) {
		CHECK(memchr(p.os, 0, sizeof(p.os)) && memchr(p.arch, 0, sizeof(p.arch)) &&
		      memchr(p.variant, 0, sizeof(p.variant)), "unterminated field");
		CHECK(platform_format(&p, buf, sizeof(buf)) == 0, "cannot format");
		CHECK(platform_parse(buf, &p2) == 0, "'%s' formats as '%s', which does not parse", s, buf);
		CHECK(!memcmp(&p, &p2, sizeof(p)), "'%s' -> '%s' is not a fixed point", s, buf);
		/* A buffer of any size: fits or -ENAMETOOLONG, never an overrun. */
		small_n = size ? data[0] % 40 : 0;
		small = malloc(small_n ? small_n : 1);
		r = platform_format(&p, small_n ? small : NULL, small_n);
		CHECK(r == 0 ? strlen(small) == strlen(buf) : r == -ENAMETOOLONG, "format into %zu bytes: %d", small_n, r);
		free(small);
	}

	r = target_resolve(s, &t);
	CHECK(r == 0 || r == -EINVAL || r == -ENOENT || r == -EOPNOTSUPP, "target_resolve returned %d", r);
	CHECK(r != 0 || in_table(t), "target_resolve gave a pointer outside the table");
	(void)target_for_machine(s);

	/* A target's own names, in a case pattern taken from the input. */
	if (size >= 2) {
		const struct target *want = target_at(data[0] % targets_count()), *got = NULL;
		size_t n = names_of(want, names), j = data[1] % n;
		for (size_t i = 0; names[j][i]; i++)
			if (data[(i + 2) % size] & 1)
				names[j][i] = (char)toupper((unsigned char)names[j][i]);
		r = target_resolve(names[j], &got);
		CHECK(r == 0 && got == want, "'%s' does not resolve to %s (%d)", names[j], want->cpu, r);
	}
	free(s);
	return 0;
}

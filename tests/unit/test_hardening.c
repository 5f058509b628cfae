/* SPDX-License-Identifier: MIT */
/*
 * Regression tests for what fuzzing and the fault tests found (issue 7; see
 * docs/security.md). Each test names the finding; the fuzzer's own
 * reproducers live in tests/fuzz/corpus/<target>/regress-* and are replayed
 * by tests/integration/90-fuzz-corpus.sh.
 */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "entry.h"
#include "platform.h"

static void plain_entry(struct binfmt_entry *e)
{
	memset(e, 0, sizeof(*e));
	strcpy(e->name, "x");
	strcpy(e->interpreter, "/bin/x");
	e->type = 'M';
	e->magic_len = 4;
	memcpy(e->magic, "\x7f" "ELF", 4);
}

/* fuzz_register: magic_len above the 128 bytes the struct holds passed
 * entry_valid (offset + len <= 256 is the kernel's limit) and put_hex wrote
 * 4 * magic_len bytes into a 513-byte stack buffer. */
static void format_refuses_lengths_beyond_the_struct(void **state)
{
	struct binfmt_entry e;
	char buf[ENTRY_REGISTER_MAX + 2];

	(void)state;
	plain_entry(&e);
	assert_true(entry_format_register(&e, buf, sizeof(buf)) > 0);
	e.magic_len = ENTRY_MAGIC_MAX;
	assert_true(entry_format_register(&e, buf, sizeof(buf)) > 0);
	e.magic_len = ENTRY_MAGIC_MAX + 1;
	assert_int_equal(entry_format_register(&e, buf, sizeof(buf)), -EINVAL);
	e.magic_len = 2 * ENTRY_MAGIC_MAX;
	assert_int_equal(entry_format_register(&e, buf, sizeof(buf)), -EINVAL);
	e.magic_len = 4;
	e.mask_len = 2 * ENTRY_MAGIC_MAX;
	assert_int_equal(entry_format_register(&e, buf, sizeof(buf)), -EINVAL);
}

/* fuzz_platform: platform_parse promises a zero-filled struct comparable with
 * memcmp, but a shorter value written over a longer one ("zos" over the
 * host's "linux", "arm64" over "aarch64", "" over "v8.0") left the old bytes
 * after the NUL, so equal platforms compared unequal. */
static void platform_equal_spellings_compare_equal(void **state)
{
	static const char *const pairs[][2] = {
		{ "linux/aarch64", "linux/arm64" },  { "linux/arm64/v8.0", "linux/arm64" },
		{ "linux/amd64/v1", "linux/amd64" }, { "linux/i386/v9", "linux/386" },
		{ "aarch64", "linux/arm64" },        { "AIX/ppc64", "aix/ppc64" },
		{ "linux/arm64/9", "linux/arm64/v9" },
	};
	struct platform a, b, host;
	char zos[128];

	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		assert_int_equal(platform_parse(pairs[i][0], &a), 0);
		assert_int_equal(platform_parse(pairs[i][1], &b), 0);
		if (memcmp(&a, &b, sizeof(a)) != 0)
			fail_msg("'%s' and '%s' parse to structs that differ past a NUL", pairs[i][0], pairs[i][1]);
	}
	assert_int_equal(platform_host(&host), 0);
	snprintf(zos, sizeof(zos), "zos/%s%s%s", host.arch, host.variant[0] ? "/" : "", host.variant);
	assert_int_equal(platform_parse("zos", &a), 0);
	assert_int_equal(platform_parse(zos, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
}

/* Review of the export path: with ':' and '|' in a field (a QEMU_BINARY_PREFIX
 * like "ci:a|"), the delimiter was '#', and --export wrote a line that
 * systemd-binfmt reads as a comment: the entry silently vanished at boot. */
static void delimiter_is_never_a_binfmt_d_comment(void **state)
{
	struct binfmt_entry e;
	char buf[ENTRY_REGISTER_MAX + 2];

	(void)state;
	plain_entry(&e);
	strcpy(e.name, "ci:a|qemu-aarch64");
	assert_true(entry_format_register(&e, buf, sizeof(buf)) > 0);
	assert_true(buf[0] != '#' && buf[0] != ';');
	strcpy(e.interpreter, "/opt/x!y@z%w,v=u+t~s^r/qemu");
	assert_true(entry_format_register(&e, buf, sizeof(buf)) > 0);
	assert_int_equal(buf[0], '#'); /* only when nothing else is left */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(format_refuses_lengths_beyond_the_struct),
		cmocka_unit_test(platform_equal_spellings_compare_equal),
		cmocka_unit_test(delimiter_is_never_a_binfmt_d_comment),
	};
	return cmocka_run_group_tests_name("hardening", tests, NULL, NULL);
}

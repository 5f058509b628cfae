/* SPDX-License-Identifier: MIT */
/* entry.c: parsing the kernel's entry files, building register strings. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"

/* Real text of /proc/sys/fs/binfmt_misc/qemu-aarch64 on Linux 6.18. */
static const char qemu_aarch64[] = "enabled\n"
				   "interpreter /usr/bin/qemu-aarch64-static\n"
				   "flags: PF\n"
				   "offset 0\n"
				   "magic 7f454c460201010000000000000000000200b700\n"
				   "mask ffffffffffffff00fffffffffffffffffeffffff\n";

static void parse_qemu_entry(void **state)
{
	struct binfmt_entry e;
	(void)state;

	assert_int_equal(entry_parse("qemu-aarch64", qemu_aarch64, &e), 0);
	assert_string_equal(e.name, "qemu-aarch64");
	assert_true(e.enabled);
	assert_int_equal(e.type, 'M');
	assert_int_equal(e.offset, 0);
	assert_string_equal(e.interpreter, "/usr/bin/qemu-aarch64-static");
	assert_string_equal(e.flags, "PF");
	assert_int_equal(e.magic_len, 20);
	assert_int_equal(e.mask_len, 20);
	assert_int_equal(e.magic[18], 0xb7);
	assert_int_equal(e.mask[16], 0xfe);
}

static void parse_disabled_no_mask_offset(void **state)
{
	struct binfmt_entry e;
	(void)state;

	assert_int_equal(entry_parse("x", "disabled\ninterpreter /bin/x\nflags: \noffset 2\nmagic 4142\n", &e), 0);
	assert_false(e.enabled);
	assert_int_equal(e.offset, 2);
	assert_int_equal(e.magic_len, 2);
	assert_int_equal(e.mask_len, 0);
	assert_string_equal(e.flags, "");
}

static void parse_extension_entry(void **state)
{
	struct binfmt_entry e;
	(void)state;

	/* What Debian's jarwrapper / python entries look like. */
	assert_int_equal(entry_parse("jar", "enabled\ninterpreter /usr/bin/jarwrapper\nflags: \nextension .jar\n", &e), 0);
	assert_int_equal(e.type, 'E');
	assert_string_equal(e.extension, "jar");
}

static void parse_tolerates_unknown_lines_and_flags(void **state)
{
	struct binfmt_entry e;
	(void)state;

	/* A newer kernel may add lines and flag letters: keep what we know. */
	assert_int_equal(entry_parse("n", "enabled\ninterpreter /i\nflags: POCFZ\nfuture-line 12\noffset 0\n"
				     "magic 00\nmask ff\n", &e), 0);
	assert_string_equal(e.flags, "POCF");
}

static void parse_rejects_garbage(void **state)
{
	struct binfmt_entry e;
	(void)state;

	assert_int_equal(entry_parse("g", "", &e), -EINVAL);
	assert_int_equal(entry_parse("g", "enabled\n", &e), -EINVAL);                           /* no interpreter */
	assert_int_equal(entry_parse("g", "enabled\ninterpreter /i\nmagic 0g\n", &e), -EINVAL); /* bad hex */
	assert_int_equal(entry_parse("g", "enabled\ninterpreter /i\nmagic 001\n", &e), -EINVAL); /* odd hex */
	assert_int_equal(entry_parse("g", "enabled\ninterpreter /i\noffset 0\nmagic 0011\nmask ff\n", &e),
			 -EINVAL); /* mask length differs */
	assert_int_equal(entry_parse("g", "interpreter /i\noffset 0\nmagic 00\n", &e), -EINVAL); /* no state */
}

static void flags_normalize(void **state)
{
	char out[8];
	(void)state;

	assert_int_equal(entry_flags_normalize("FP", out), 0);
	assert_string_equal(out, "PF");
	assert_int_equal(entry_flags_normalize("C", out), 0);
	assert_string_equal(out, "OC"); /* the kernel makes C imply O */
	assert_int_equal(entry_flags_normalize("", out), 0);
	assert_string_equal(out, "");
	assert_int_equal(entry_flags_normalize("FF", out), -EINVAL);
	assert_int_equal(entry_flags_normalize("X", out), -EINVAL);
	assert_int_equal(entry_flags_normalize("f", out), -EINVAL);
	assert_int_equal(entry_flags_normalize("F\n", out), -EINVAL);
}

static struct binfmt_entry sample(void)
{
	struct binfmt_entry e;

	assert_int_equal(entry_parse("qemu-aarch64", qemu_aarch64, &e), 0);
	return e;
}

static void format_register_string(void **state)
{
	struct binfmt_entry e = sample();
	char buf[2048];
	(void)state;

	int len = entry_format_register(&e, buf, sizeof(buf));

	assert_int_equal(len, (int)strlen(buf));
	assert_string_equal(buf, ":qemu-aarch64:M::"
				 "\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
				 "\\x02\\x00\\xb7\\x00:"
				 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff"
				 "\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:PF");
}

static void format_escapes_delimiter_and_nul(void **state)
{
	struct binfmt_entry e = sample();
	char buf[2048];
	(void)state;

	/* ':' (0x3a) and NUL must never appear raw: the kernel splits on the
	 * first byte and stops unescaping at a raw NUL. */
	e.magic[0] = ':';
	e.magic[1] = 0;
	e.magic_len = e.mask_len = 2;
	e.offset = 7;
	assert_true(entry_format_register(&e, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, ":qemu-aarch64:M:7:\\x3a\\x00:\\xff\\xff:/usr/bin/qemu-aarch64-static:PF");
	assert_null(memchr(buf + 1, ':', strlen("qemu-aarch64")));
}

static void format_other_delimiter(void **state)
{
	struct binfmt_entry e = sample();
	char buf[2048];
	(void)state;

	/* Another tool registered this with '|' as delimiter; restoring it must
	 * not split the interpreter path at its ':'. */
	strcpy(e.name, "odd:name");
	strcpy(e.interpreter, "/opt/a:b/qemu");
	e.magic_len = e.mask_len = 1;
	e.offset = 200; /* fine since Linux 5.1 (offset + size <= 256) */
	assert_true(entry_format_register(&e, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "|odd:name|M|200|\\x7f|\\xff|/opt/a:b/qemu|PF");
}

static void format_extension(void **state)
{
	struct binfmt_entry e = { .name = "jar", .type = 'E', .extension = "jar", .interpreter = "/usr/bin/jarwrapper" };
	char buf[256];
	(void)state;

	assert_true(entry_format_register(&e, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, ":jar:E::jar::/usr/bin/jarwrapper:");
}

/* Names other tools gave entries: listed and restored under the kernel's
 * rule, not ours for new names. */
static void kernel_names(void **state)
{
	const char *ok[] = { "qemu-aarch64\t", "qemu-\x9b\xff", ".hidden", "a:b", "\x1b[31m" };
	const char *bad[] = { "", ".", "..", "a/b", "register", "status" };
	char buf[4096];
	(void)state;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct binfmt_entry e = sample();
		assert_true(entry_name_kernel_valid(ok[i]));
		snprintf(e.name, sizeof(e.name), "%s", ok[i]);
		assert_true(entry_format_register(&e, buf, sizeof(buf)) > 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(entry_name_kernel_valid(bad[i]));
}

static void escape_for_terminal_and_json(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "qemu-aarch64", "qemu-aarch64" },
		{ "a\tb\x7f", "a\\x09b\\x7f" },
		{ "back\\slash", "back\\x5cslash" },
		{ "\x9b\xff", "\\x9b\\xff" },                 /* lone bytes: not UTF-8 */
		{ "\xc2\x9b", "\\xc2\\x9b" },                 /* U+009B CSI, a C1 control */
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "\xc0\xaf", "\\xc0\\xaf" },                 /* overlong '/' */
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },        /* surrogate */
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" }, /* beyond U+10FFFF */
		{ "\xe2\x82", "\\xe2\\x82" },                 /* truncated */
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = entry_escape(cases[i].in);
		assert_non_null(got);
		assert_string_equal(got, cases[i].out);
		free(got);
	}
}

static void format_rejects_what_the_kernel_would(void **state)
{
	char buf[4096];
	(void)state;
	const char *bad_names[] = { "", ".", "..", "a/b", "register", "status", "a\nb" };

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		struct binfmt_entry e = sample();
		snprintf(e.name, sizeof(e.name), "%s", bad_names[i]);
		assert_int_equal(entry_format_register(&e, buf, sizeof(buf)), -EINVAL);
	}
	struct binfmt_entry e = sample();
	strcpy(e.interpreter, "/usr/bin/qemu\nx");
	assert_int_equal(entry_format_register(&e, buf, sizeof(buf)), -EINVAL);
	e = sample();
	strcpy(e.flags, "FX");
	assert_int_equal(entry_format_register(&e, buf, sizeof(buf)), -EINVAL);
	e = sample();
	e.offset = 240; /* 240 + 20 > 256: beyond what any kernel accepts */
	assert_int_equal(entry_format_register(&e, buf, sizeof(buf)), -EINVAL);
	e = sample();
	e.mask_len = 3;
	assert_int_equal(entry_format_register(&e, buf, sizeof(buf)), -EINVAL);
	e = sample();
	assert_int_equal(entry_format_register(&e, buf, 20), -ENAMETOOLONG);
}

static void format_stays_within_kernel_limit(void **state)
{
	struct binfmt_entry e = sample();
	char buf[8192];
	(void)state;

	/* 128 bytes of magic and mask, 4 characters each, a long name and a long
	 * interpreter path: over the kernel's 1920-byte register limit even
	 * though the buffer is large enough. */
	memset(e.magic, 0x41, 128);
	memset(e.mask, 0xff, 128);
	e.magic_len = e.mask_len = 128;
	e.offset = 0;
	memset(e.name, 'n', 255);
	e.name[255] = '\0';
	e.interpreter[0] = '/';
	memset(e.interpreter + 1, 'i', 700);
	e.interpreter[701] = '\0';
	assert_int_equal(entry_format_register(&e, buf, sizeof(buf)), -ENAMETOOLONG);
	e.interpreter[600] = '\0'; /* 1 + 255 + 6 + 1024 + 600 + 3 < 1920 */
	assert_true(entry_format_register(&e, buf, sizeof(buf)) > 1800);
}

static void same_and_same_match(void **state)
{
	struct binfmt_entry a = sample(), b = sample();
	(void)state;

	assert_true(entry_same(&a, &b));
	/* Bytes the mask ignores do not matter: QEMU's i386 magic has bits
	 * outside its mask, and the kernel never requires magic & mask == magic. */
	b.magic[7] = 0x03;
	assert_true(entry_same(&a, &b));
	b.magic[18] = 0x28;
	assert_false(entry_same_match(&a, &b));
	b = sample();
	strcpy(b.flags, "F");
	assert_true(entry_same_match(&a, &b));
	assert_false(entry_same(&a, &b));
	b = sample();
	strcpy(b.flags, "FP"); /* order does not matter */
	assert_true(entry_same(&a, &b));
	b = sample();
	strcpy(b.interpreter, "/other");
	assert_false(entry_same(&a, &b));
	b = sample();
	b.mask_len = 0; /* no mask = all 0xff: differs where ours masks */
	assert_false(entry_same_match(&a, &b));
}

static void describe_difference(void **state)
{
	struct binfmt_entry a = sample(), b = sample();
	char buf[700];
	(void)state;

	strcpy(b.interpreter, "/x");
	entry_describe_difference(&a, &b, buf, sizeof(buf));
	assert_string_equal(buf, "interpreter /usr/bin/qemu-aarch64-static, wanted /x");
	b = sample();
	strcpy(b.flags, "OCF");
	entry_describe_difference(&a, &b, buf, sizeof(buf));
	assert_string_equal(buf, "flags 'PF', wanted 'OCF'");
}

/* The one masked-magic match (entries, targets, probes): the kernel's rule. */
static void masked_match(void **state)
{
	const uint8_t magic[] = { 0x7f, 'E', 'L', 'F', 0x02 }, mask[] = { 0xff, 0xff, 0xff, 0xff, 0xfe };
	uint8_t file[8] = { 0x7f, 'E', 'L', 'F', 0x03, 0, 0, 0 };
	struct binfmt_entry e = sample();

	(void)state;
	assert_true(magic_match(file, magic, mask, 5));   /* bit 0 of byte 4 masked off */
	assert_false(magic_match(file, magic, NULL, 5));  /* NULL: all ones */
	file[4] = 0x00;
	assert_false(magic_match(file, magic, mask, 5));
	assert_true(magic_match(file, magic, mask, 0));
	/* An entry at an offset, and a file too short for it. */
	e.type = 'M';
	e.offset = 3;
	memcpy(e.magic, "ab", 2);
	e.magic_len = 2;
	e.mask_len = 0;
	assert_true(entry_matches(&e, (const uint8_t *)"xyzab", 5));
	assert_false(entry_matches(&e, (const uint8_t *)"xyzab", 4));
	assert_false(entry_matches(&e, (const uint8_t *)"xyzaB", 5));
	e.offset = 9;
	assert_false(entry_matches(&e, (const uint8_t *)"xyzab", 5));
	e.offset = 3;
	e.type = 'E';
	assert_false(entry_matches(&e, (const uint8_t *)"xyzab", 5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_qemu_entry),
		cmocka_unit_test(parse_disabled_no_mask_offset),
		cmocka_unit_test(parse_extension_entry),
		cmocka_unit_test(parse_tolerates_unknown_lines_and_flags),
		cmocka_unit_test(parse_rejects_garbage),
		cmocka_unit_test(flags_normalize),
		cmocka_unit_test(format_register_string),
		cmocka_unit_test(format_escapes_delimiter_and_nul),
		cmocka_unit_test(format_extension),
		cmocka_unit_test(format_other_delimiter),
		cmocka_unit_test(kernel_names),
		cmocka_unit_test(escape_for_terminal_and_json),
		cmocka_unit_test(format_rejects_what_the_kernel_would),
		cmocka_unit_test(format_stays_within_kernel_limit),
		cmocka_unit_test(same_and_same_match),
		cmocka_unit_test(describe_difference),
		cmocka_unit_test(masked_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * platform_parse/format/host against containerd's rules. The cases live in
 * tests/data/platform-cases.tsv (input, normalized or ERROR, note), taken
 * from containerd's own tests, so the rules are checked against data the C
 * code was not written from.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "unit.h"
#include "platform.h"
#include "util.h"

#define CASES_FILE TEST_DATA_DIR "/platform-cases.tsv"
#define MIN_CASES 40

static void check_case(const char *input, const char *want, const char *note)
{
	struct platform p;
	char got[128];
	int r = platform_parse(input, &p);

	if (strcmp(want, "ERROR") == 0) {
		if (r != -EINVAL)
			fail_msg("'%s' (%s): want -EINVAL, got %d", input, note, r);
		return;
	}
	if (r != 0)
		fail_msg("'%s' (%s): want %s, got error %d", input, note, want, r);
	assert_int_equal(platform_format(&p, got, sizeof(got)), 0);
	if (strcmp(got, want) != 0)
		fail_msg("'%s' (%s): want %s, got %s", input, note, want, got);
}

/* One TSV row: input<TAB>normalized<TAB>note; "<empty>" is "". */
static void run_row(char *line)
{
	char *input = strtok(line, "\t\n");
	char *want = strtok(NULL, "\t\n");
	char *note = strtok(NULL, "\n");

	assert_non_null(input);
	assert_non_null(want);
	check_case(strcmp(input, "<empty>") == 0 ? "" : input, want, note ? note : "");
}

static void test_cases_file(void **state)
{
	_cleanup_fclose_ FILE *f = fopen(CASES_FILE, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, rows = 0;

	(void)state;
	if (!f)
		fail_msg("cannot open %s: %s", CASES_FILE, strerror(errno));
	assert_true(getline(&line, &cap, f) > 0);  /* header */
	assert_int_equal(strncmp(line, "input\tnormalized", 16), 0);
	while (getline(&line, &cap, f) > 0) {
		if (line[0] == '\n' || line[0] == '#')
			continue;
		run_row(line);
		rows++;
	}
	/* A truncated data file must not pass silently. */
	if (rows < MIN_CASES)
		fail_msg("%s: %zu cases, want at least %d", CASES_FILE, rows, MIN_CASES);
}

/* Cases beyond the TSV: case folding, limits, and the single-OS form. */
static void test_extra_cases(void **state)
{
	(void)state;
	check_case("LINUX/ARM64/V8", "linux/arm64", "uppercase folded");
	check_case("Linux/AMD64/V1", "linux/amd64", "uppercase v1 dropped");
	check_case("linux/arm/5", "linux/arm/v5", "bare digit");
	check_case("linux/arm/v9", "linux/arm/v9", "unknown arm variant kept");
	check_case("linux/armel/v7", "linux/arm/v6", "armel ignores variant");
	check_case("linux/i386/v2", "linux/386", "i386 clears variant");
	check_case("linux/arm64/9.0", "linux/arm64/v9", "9.0");
	check_case("linux/arm64/8", "linux/arm64", "bare 8");
	check_case("macos/arm64", "darwin/arm64", "macos alias");
	check_case("windows/amd64", "windows/amd64", "other OS parsed");
	check_case("aarch64", "linux/arm64", "single alias");
	check_case("x86-64", "linux/amd64", "single alias");
	check_case("mips64le", "linux/mips64le", "single known arch");
	check_case("loong64", "linux/loong64", "single known arch");
	check_case("ppc64el", "ERROR", "Debian name is not a containerd alias");
	check_case("linux/arm/v7/x", "ERROR", "four components");
	check_case("linux//arm", "ERROR", "empty component");
	check_case("/", "ERROR", "only a slash");
	check_case("linux/arm:v7", "ERROR", "colon");
	check_case("linux/arm\tv7", "ERROR", "tab");
	check_case("linux/arm64/v8.*", "ERROR", "wildcard in variant");
	check_case("linux/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ERROR", "component too long");
	assert_int_equal(platform_parse(NULL, &(struct platform){ 0 }), -EINVAL);
}

/* A known OS alone gets the host's arch, like containerd's runtime.GOARCH. */
static void test_single_os(void **state)
{
	struct platform host, p;

	(void)state;
	assert_int_equal(platform_host(&host), 0);
	assert_int_equal(platform_parse("linux", &p), 0);
	assert_string_equal(p.os, "linux");
	assert_string_equal(p.arch, host.arch);
	assert_string_equal(p.variant, host.variant);
	assert_int_equal(platform_parse("FreeBSD", &p), 0);
	assert_string_equal(p.os, "freebsd");
	assert_string_equal(p.arch, host.arch);
}

/* Normalized output parses back to itself: what we print, others accept. */
static void test_format_roundtrip(void **state)
{
	static const char *const in[] = {
		"linux/amd64", "linux/amd64/v3", "linux/386", "linux/arm64", "linux/arm64/v8.2",
		"linux/arm64/v9", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5", "linux/arm/v8",
		"linux/ppc64le", "linux/ppc64", "linux/s390x", "linux/riscv64", "linux/mips64le",
		"linux/mips64", "linux/mipsle", "linux/mips", "linux/loong64", "linux/i686",
		"windows/arm64", "arm", "armel", "i386", "x86_64", "linux/armhf/v6",
	};
	struct platform p, q;
	char a[128], b[128];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		assert_int_equal(platform_parse(in[i], &p), 0);
		assert_int_equal(platform_format(&p, a, sizeof(a)), 0);
		assert_int_equal(platform_parse(a, &q), 0);
		assert_int_equal(platform_format(&q, b, sizeof(b)), 0);
		assert_string_equal(a, b);
		assert_memory_equal(&p, &q, sizeof(p));
		if (strchr(in[i], '/') && strncmp(in[i], "linux/armhf", 11) != 0)
			assert_string_equal(a, in[i]);
	}
}

static void test_format_limits(void **state)
{
	struct platform p = { .os = "linux", .arch = "arm64", .variant = "" };
	struct platform v = { .os = "linux", .arch = "arm", .variant = "v7" };
	char buf[32];

	(void)state;
	/* Exactly fits ("linux/arm64" + NUL = 12), one byte short, none. */
	assert_int_equal(platform_format(&p, buf, 12), 0);
	assert_string_equal(buf, "linux/arm64");
	assert_int_equal(platform_format(&p, buf, 11), -ENAMETOOLONG);
	assert_int_equal(platform_format(&p, buf, 0), -ENAMETOOLONG);
	assert_int_equal(platform_format(&v, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "linux/arm/v7");
	assert_int_equal(platform_format(&v, buf, 12), -ENAMETOOLONG);
}

static void test_host(void **state)
{
	struct platform p;
	struct utsname u;
	char buf[128];

	(void)state;
	assert_int_equal(platform_host(&p), 0);
	assert_string_equal(p.os, "linux");
	assert_int_equal(platform_format(&p, buf, sizeof(buf)), 0);
	assert_int_equal(uname(&u), 0);
	if (strcmp(u.machine, "x86_64") != 0) {
		print_message("# host is %s (%s): linux/amd64 check skipped\n", u.machine, buf);
		skip();
	}
	assert_string_equal(buf, "linux/amd64");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases_file),
		cmocka_unit_test(test_extra_cases),
		cmocka_unit_test(test_single_os),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_format_limits),
		cmocka_unit_test(test_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

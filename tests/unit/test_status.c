/* SPDX-License-Identifier: MIT */
/* status.c: the JSON builders read, compared with golden files byte for byte. */
#include "unit.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "plan.h"
#include "status.h"

static char *slurp(const char *name)
{
	char path[PATH_MAX];
	static char buf[65536];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/golden/%s", TEST_DATA_DIR, name);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static const struct target *x86_64_host(void)
{
	struct utsname u;

	uname(&u);
	if (strcmp(u.machine, "x86_64"))
		skip(); /* the goldens describe an x86_64 host */
	return target_for_machine(u.machine);
}

static struct binfmt_entry entry(const char *cpu, const char *name, const char *interp, const char *flags)
{
	struct binfmt_entry e;

	assert_int_equal(plan_entry_for(target_by_cpu(cpu), "", interp, flags, &e), 0);
	snprintf(e.name, sizeof(e.name), "%s", name);
	return e;
}

static void check_golden(const struct target *host, const struct binfmt_entry *e, size_t n, const char *golden)
{
	json_t *j = status_json(host, e, n, "");
	char *text;

	assert_non_null(j);
	text = status_dump(j);
	assert_string_equal(text, slurp(golden));
	free(text);
	json_decref(j);
}

static void empty_registry(void **state)
{
	(void)state;
	/* Arrays, never null: setup-qemu-action joins them. */
	check_golden(x86_64_host(), NULL, 0, "status-empty.json");
}

static void registered_platforms_in_buildkit_order(void **state)
{
	struct binfmt_entry e[] = {
		/* Listed by name; BuildKit's order decides "supported". */
		entry("arm", "qemu-arm", "/bin/true", "PF"),
		entry("riscv64", "qemu-riscv64", "/bin/true", "PF"),
		entry("mipsel", "qemu-mipsel", "/bin/true", "F"),
		entry("aarch64", "qemu-aarch64", "/bin/true", "PF"),
		entry("s390x", "qemu-s390x", "/bin/true", "PF"),
		entry("loongarch64", "qemu-loongarch64", "/bin/true", "PF"),
	};
	(void)state;
	check_golden(x86_64_host(), e, sizeof(e) / sizeof(e[0]), "status-registered.json");
}

static void only_working_entries_count_as_supported(void **state)
{
	struct binfmt_entry e[] = {
		entry("aarch64", "qemu-aarch64", "/bin/true", "PF"),
		/* Without F a builder's chrooted step cannot find the emulator. */
		entry("riscv64", "qemu-riscv64", "/bin/true", "P"),
		/* A vanished interpreter runs nothing. */
		entry("s390x", "qemu-s390x", "/nonexistent/qemu-s390x", "F"),
		/* Disabled: neither supported nor an emulator. */
		entry("ppc64le", "qemu-ppc64le", "/bin/true", "F"),
		/* Not QEMU: runs things, but is no emulator (tonistiigi leaks these). */
		entry("mips64el", "python3.11", "/usr/bin/python3.11", ""),
	};
	(void)state;
	e[3].enabled = false;
	e[4].type = 'E';
	strcpy(e[4].extension, "pyc");
	check_golden(x86_64_host(), e, sizeof(e) / sizeof(e[0]), "status-partial.json");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_registry),
		cmocka_unit_test(registered_platforms_in_buildkit_order),
		cmocka_unit_test(only_working_entries_count_as_supported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

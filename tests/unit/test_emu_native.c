/* SPDX-License-Identifier: MIT */
/*
 * emu-run's native probing (emu-runner/native.c, compiled into this test):
 * which probe answers for a target, which registry entry would take a probe
 * before the kernel's own loader (the kernel's masked magic compare), and the
 * probes executed natively - on x86-64, 386's and amd64's must run, arm64's
 * must fail with "exec format error" (it runs only through an emulator; this
 * test has no binfmt_misc instance of its own, so each is skipped when the
 * visible registry has an entry that would take it; all under valgrind).
 */
#include "../../emu-runner/native.c"

#include <stdbool.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "binfmtfs.h"
#include "plan.h"
#include "unit.h"

static const struct target *t(const char *name)
{
	const struct target *x = NULL;

	assert_int_equal(target_resolve(name, &x), 0);
	return x;
}

static void test_probe_for(void **state)
{
	(void)state;
	assert_string_equal(native_probe_for(t("386"))->cpu, "i386");
	assert_string_equal(native_probe_for(t("i486"))->cpu, "i386");
	assert_string_equal(native_probe_for(t("amd64"))->cpu, "x86_64");
	assert_string_equal(native_probe_for(t("armhf"))->cpu, "arm");
	assert_string_equal(native_probe_for(t("armel"))->cpu, "arm");
	assert_string_equal(native_probe_for(t("linux/arm/v6"))->cpu, "arm");
	assert_string_equal(native_probe_for(t("arm64"))->cpu, "aarch64");
	assert_null(native_probe_for(t("riscv32")));
	assert_null(native_probe_for(t("sparc")));
}

/* The entry QEMU's script registers for a target, with an interpreter. */
static struct binfmt_entry entry_for(const char *name)
{
	struct binfmt_entry e;

	assert_int_equal(plan_entry_for(t(name), "", "/usr/bin/qemu-x", "FP", &e), 0);
	return e;
}

static void test_taken_by(void **state)
{
	const struct probe *p386 = native_probe_for(t("386")), *parm = native_probe_for(t("armhf"));
	struct binfmt_entry e[4];

	(void)state;
	e[0] = entry_for("arm64");
	e[1] = entry_for("amd64");
	assert_null(native_probe_taken_by(p386, e, 2));
	e[2] = entry_for("386");
	assert_ptr_equal(native_probe_taken_by(p386, e, 3), &e[2]);
	assert_null(native_probe_taken_by(parm, e, 3));
	/* i486's entry does not take i386's header (e_machine 3 vs 6). */
	e[2] = entry_for("i486");
	assert_null(native_probe_taken_by(p386, e, 3));
	/* Disabled entries and extension entries take nothing. */
	e[2] = entry_for("386");
	e[2].enabled = false;
	assert_null(native_probe_taken_by(p386, e, 3));
	e[2].enabled = true;
	e[2].type = 'E';
	assert_null(native_probe_taken_by(p386, e, 3));
	/* Without a mask the magic is compared exactly; one bit off misses. */
	e[3] = entry_for("386");
	e[3].mask_len = 0;
	memcpy(e[3].magic, "\x7f" "ELF\x01\x01\x01", 7);
	e[3].magic_len = 7;
	assert_ptr_equal(native_probe_taken_by(p386, e + 3, 1), &e[3]);
	e[3].magic[6] = 0;
	assert_null(native_probe_taken_by(p386, e + 3, 1));
	/* A magic beyond the image takes nothing (and reads nothing past it). */
	e[3] = entry_for("386");
	e[3].offset = PROBE_MAX_SIZE;
	assert_null(native_probe_taken_by(p386, e + 3, 1));
	assert_null(native_probe_taken_by(p386, NULL, 0));
}

/* Could an entry of the visible registry take this probe? Then running it
 * here proves nothing (other tests mount the host's registry at times). */
static bool visible_entry_takes(const struct probe *p)
{
	struct binfmt_entry *entries = NULL;
	struct binfmtfs fs;
	size_t n = 0;
	bool taken;

	if (bfs_open_mounted(&fs, NULL, NULL) < 0)
		return true;
	if (fs.dirfd >= 0 && bfs_list(&fs, &entries, &n, NULL) < 0)
		n = 0;
	taken = native_probe_taken_by(p, entries, n) != NULL;
	free(entries);
	bfs_close(&fs);
	return taken;
}

static void test_run(void **state)
{
	(void)state;
	/* Valgrind 3.19 ends a child whose execve fails with status 101. */
	if (RUNNING_ON_VALGRIND)
		skip();
#if defined(__x86_64__)
	char i386[128], why[300];

	assert_int_equal(native_probe_run(native_probe_for(t("amd64")), why, sizeof(why)), 0);
	assert_string_equal(why, "probe ran");
	/* Whether 32-bit code runs here is the machine's (IA32 emulation can be
	 * configured and still refused): cpu-view's real i386 exec decides. */
	assert_int_equal(unit_cpu_view("i386", i386, sizeof(i386)), 0);
	if (!visible_entry_takes(native_probe_for(t("386")))) {
		const bool native = !strcmp(i386, "native");

		assert_int_equal(native_probe_run(native_probe_for(t("386")), why, sizeof(why)), native ? 0 : -ENOEXEC);
		assert_string_equal(why, native ? "probe ran" : "exec format error");
	}
	if (visible_entry_takes(native_probe_for(t("arm64"))))
		skip();
	assert_int_equal(native_probe_run(native_probe_for(t("arm64")), why, sizeof(why)), -ENOEXEC);
	assert_string_equal(why, "exec format error");
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_for),
		cmocka_unit_test(test_taken_by),
		cmocka_unit_test(test_run),
	};

	return cmocka_run_group_tests_name("emu-run native probes", tests, NULL, NULL);
}

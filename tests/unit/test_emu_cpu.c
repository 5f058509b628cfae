/* SPDX-License-Identifier: MIT */
/*
 * emu-run's CPU model choice (emu-runner/cpu.c, compiled into this test;
 * emu_note collects the --verbose lines): the default per target, --cpu
 * checked against what "QEMU" lists, and which of them reaches the step's
 * environment. The QEMU here is a script printing a -cpu help listing in
 * QEMU's shape and exiting 1, as linux-user QEMU does; that the model really
 * reaches QEMU, and the step's environment then, is
 * tests/integration/80-emu-run-cpu.sh.
 */
#include "../../emu-runner/cpu.c"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "unit.h"

/* The --verbose lines, one per line. */
#include "emu-notes.h"

static char dir[] = "/tmp/test-emu-cpu.XXXXXX";
static char with_n1[64], without_n1[64];

static void fake_qemu(const char *path, const char *models)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n[ \"$1 $2\" = \"-cpu help\" ] || exit 2\nprintf 'Available CPUs:\\n");
	for (const char *m = models; *m;) {
		size_t l = strcspn(m, " ");

		fprintf(f, "  %.*s\\n", (int)l, m);
		m += l + (m[l] == ' ');
	}
	fprintf(f, "'\nexit 1\n");
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(with_n1, sizeof(with_n1), "%s/with", dir);
	snprintf(without_n1, sizeof(without_n1), "%s/without", dir);
	fake_qemu(with_n1, "a64fx cortex-a53 cortex-a76 max neoverse-n1");
	fake_qemu(without_n1, "cortex-a53 cortex-a57 max");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(with_n1);
	unlink(without_n1);
	rmdir(dir);
	return 0;
}

static struct emu_config config(const char *cpu, const char *rootfs)
{
	struct emu_config c = { .target = target_by_cpu(cpu), .rootfs = rootfs, .verbose = true };

	return c;
}

static struct emulation emulation(const char *qemu)
{
	struct emulation em = { .path = EMU_PATH_PRIVATE, .instance_fd = -1 };

	snprintf(em.qemu, sizeof(em.qemu), "%s", qemu);
	return em;
}

static void test_defaults(void **state)
{
	(void)state;
	assert_string_equal(cpu_default_model(target_by_cpu("aarch64")), "neoverse-n1");
	assert_string_equal(cpu_default_model(target_by_cpu("riscv64")), "rva23u64");
	assert_null(cpu_default_model(target_by_cpu("arm")));
	assert_null(cpu_default_model(target_by_cpu("x86_64")));
	assert_null(cpu_default_model(NULL));
}

static void test_default_used_where_listed(void **state)
{
	struct emu_config c = config("aarch64", "/root");
	struct emulation em = emulation(with_n1);
	struct bi_error err = { 0 };

	(void)state;
	assert_int_equal(cpu_choose(&c, &em, &err), 0);
	assert_string_equal(em.cpu, "neoverse-n1");
	assert_true(em.cpu_is_default);
	/* A default never goes into the environment, launcher or not. */
	assert_null(cpu_env_value(&em));
	em.cpu_by_launcher = true;
	notes[0] = '\0';
	cpu_report(&c, &em);
	assert_non_null(strstr(notes, "cpu: neoverse-n1 (emu-run's default for this target; --cpu max for QEMU's own), "
				      "passed by the launcher"));
	em.cpu_by_launcher = false;
	notes[0] = '\0';
	cpu_report(&c, &em);
	assert_non_null(strstr(notes, "cpu: QEMU's default: emu-run's default neoverse-n1 needs the launcher"));
}

static void test_default_not_listed(void **state)
{
	struct emu_config c = config("aarch64", "/root");
	struct emulation em = emulation(without_n1);
	struct bi_error err = { 0 };

	(void)state;
	assert_int_equal(cpu_choose(&c, &em, &err), 0);
	assert_null(em.cpu);
	assert_non_null(strstr(em.cpu_note, "this QEMU does not list it"));
	/* No QEMU of ours: the host's registration runs its own. */
	em = emulation("");
	assert_int_equal(cpu_choose(&c, &em, &err), 0);
	assert_null(em.cpu);
	assert_non_null(strstr(em.cpu_note, "no QEMU of emu-run's own"));
}

static void test_default_needs_rootfs(void **state)
{
	struct emu_config c = config("aarch64", NULL);
	struct emulation em = emulation(with_n1);
	struct bi_error err = { 0 };

	(void)state;
	assert_int_equal(cpu_choose(&c, &em, &err), 0);
	assert_null(em.cpu);
	assert_non_null(strstr(em.cpu_note, "for --rootfs and --image steps"));
	/* Native: no QEMU, no model, --cpu or not. */
	c = config("aarch64", "/root");
	c.cpu = "max";
	em = emulation(with_n1);
	em.path = EMU_PATH_NATIVE;
	assert_int_equal(cpu_choose(&c, &em, &err), 0);
	assert_null(em.cpu);
	assert_null(cpu_env_value(&em));
}

static void test_explicit(void **state)
{
	struct emu_config c = config("aarch64", "/root");
	struct emulation em = emulation(without_n1);
	struct bi_error err = { 0 };
	char want[sizeof(err.msg)];

	(void)state;
	c.cpu = "cortex-a57,pmu=off";
	assert_int_equal(cpu_choose(&c, &em, &err), 0);
	assert_string_equal(em.cpu, "cortex-a57,pmu=off");
	assert_false(em.cpu_is_default);
	/* Without the launcher (path 2, no --rootfs): QEMU_CPU; with it, nothing. */
	assert_string_equal(cpu_env_value(&em), "cortex-a57,pmu=off");
	em.cpu_by_launcher = true;
	assert_null(cpu_env_value(&em));

	c.cpu = "neoverse-n1";
	assert_int_equal(cpu_choose(&c, &em, &err), -EINVAL);
	snprintf(want, sizeof(want), "--cpu neoverse-n1: %s has no CPU model 'neoverse-n1'; it accepts: cortex-a53, "
		 "cortex-a57, max", without_n1);
	assert_string_equal(err.msg, want);
}

static void test_bad_models(void **state)
{
	struct emu_config c = config("aarch64", "/root");
	struct emulation em = emulation(with_n1);
	struct bi_error err = { 0 };
	char longer[CPU_MODEL_MAX + 2];

	(void)state;
	c.cpu = "max\tsve=off";
	assert_int_equal(cpu_choose(&c, &em, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "without control characters"));
	c.cpu = "";
	assert_int_equal(cpu_choose(&c, &em, &err), -EINVAL);
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	c.cpu = longer;
	assert_int_equal(cpu_choose(&c, &em, &err), -EINVAL);
	assert_null(em.cpu);
}

static void test_step_sets_cpu(void **state)
{
	struct emu_config c = config("aarch64", "/root");
	struct emulation em = emulation(with_n1);
	char *env[] = { (char *)"A=1", (char *)"QEMU_CPU=cortex-a53", NULL };
	struct bi_error err = { 0 };

	(void)state;
	c.env = env;
	c.nenv = 2;
	assert_int_equal(cpu_choose(&c, &em, &err), 0);
	notes[0] = '\0';
	cpu_report(&c, &em);
	assert_string_equal(notes, "cpu: the step's own QEMU_CPU (-e, --env-file) chooses the model\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_default_used_where_listed),
		cmocka_unit_test(test_default_not_listed),
		cmocka_unit_test(test_default_needs_rootfs),
		cmocka_unit_test(test_explicit),
		cmocka_unit_test(test_bad_models),
		cmocka_unit_test(test_step_sets_cpu),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

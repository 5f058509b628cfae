/* SPDX-License-Identifier: MIT */
/* plan.c: from names and existing entries to decisions. No kernel involved:
 * existing entries are built here, emulators are copies of this test binary
 * in a temporary directory (dynamic, so the static check is off here; the
 * integration tests check it with real QEMU). */
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

static char dir[PATH_MAX];
static struct interp_search search;

static void make_emulator(const char *name)
{
	char cmd[PATH_MAX * 2 + 64];

	snprintf(cmd, sizeof(cmd), "cp /proc/%d/exe %s/%s", (int)getpid(), dir, name);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/binfmt-plan-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	make_emulator("qemu-aarch64");
	make_emulator("qemu-riscv64-static");
	make_emulator("qemu-arm");
	make_emulator("buildkit-qemu-s390x");
	make_emulator("qemu-i386");
	return interp_search_init(&search, dir, "");
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static const struct target *host(void)
{
	struct utsname u;
	uname(&u);
	return target_for_machine(u.machine);
}

static struct plan_request request(const char *install, const char *uninstall)
{
	return (struct plan_request){ .install = install, .uninstall = uninstall, .flags = "PF", .prefix = "",
				      .search = &search, .host = host(),
				      .policy = { .need_static = false, .require_root_owner = false } };
}

static struct binfmt_entry entry_for(const char *cpu, const char *interp, const char *flags)
{
	struct binfmt_entry e;
	assert_int_equal(plan_entry_for(target_by_cpu(cpu), "", interp, flags, &e), 0);
	return e;
}

static const struct plan_item *item(const struct plan *p, const char *entry_name)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->items[i].want.name, entry_name) || !strcmp(p->items[i].old[0].name, entry_name))
			return &p->items[i];
	fail_msg("no plan item for %s", entry_name);
	return NULL;
}

static void install_on_empty_registry(void **state)
{
	struct plan_request rq = request("arm64,riscv64", NULL);
	struct bi_error err = { 0 };
	struct plan p;
	char path[PATH_MAX + 32];
	(void)state;

	assert_int_equal(plan_build(&rq, NULL, 0, &p, &err), 0);
	assert_int_equal(p.n, 2);
	const struct plan_item *a = item(&p, "qemu-aarch64"), *r = item(&p, "qemu-riscv64");
	assert_int_equal(a->state, PLAN_REGISTER);
	assert_string_equal(a->label, "linux/arm64 (qemu-aarch64)");
	assert_string_equal(a->want.flags, "PF");
	snprintf(path, sizeof(path), "%s/qemu-aarch64", dir);
	assert_string_equal(a->want.interpreter, path);
	/* The -static name is found too (Debian's qemu-user-static). */
	snprintf(path, sizeof(path), "%s/qemu-riscv64-static", dir);
	assert_string_equal(r->want.interpreter, path);
	assert_true(target_matches(target_by_cpu("aarch64"), a->want.magic, a->want.magic_len));
	plan_free(&p);
}

static void aliases_collapse_to_one_item(void **state)
{
	struct plan_request rq = request("arm64,aarch64,linux/arm64,qemu-aarch64,linux/arm64/v8", NULL);
	struct bi_error err = { 0 };
	struct plan p;
	(void)state;

	assert_int_equal(plan_build(&rq, NULL, 0, &p, &err), 0);
	assert_int_equal(p.n, 1);
	plan_free(&p);
}

static void identical_entry_is_kept(void **state)
{
	struct plan_request rq = request("arm64", NULL);
	struct bi_error err = { 0 };
	struct plan p;
	char path[PATH_MAX + 32];
	(void)state;

	snprintf(path, sizeof(path), "%s/qemu-aarch64", dir);
	struct binfmt_entry existing = entry_for("aarch64", path, "FP");
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	assert_int_equal(p.items[0].state, PLAN_KEEP);
	plan_free(&p);
	/* Ours but switched off: installing switches it on. */
	existing.enabled = false;
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	assert_int_equal(p.items[0].state, PLAN_ENABLE);
	assert_non_null(strstr(p.items[0].reason, "disabled"));
	plan_free(&p);
	/* Switched off and different: a conflict like any other. */
	strcpy(existing.flags, "F");
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	assert_int_equal(p.items[0].state, PLAN_CONFLICT);
	plan_free(&p);
}

static void conflict_then_force(void **state)
{
	struct plan_request rq = request("arm64", NULL);
	struct bi_error err = { 0 };
	struct plan p;
	(void)state;

	struct binfmt_entry existing = entry_for("aarch64", "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "OCF");
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	assert_int_equal(p.items[0].state, PLAN_CONFLICT);
	assert_non_null(strstr(p.items[0].reason, "aarch64-binfmt-P"));
	assert_non_null(strstr(p.items[0].reason, "--force"));
	assert_int_equal(p.items[0].nold, 0);
	plan_free(&p);

	rq.force = true;
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	assert_int_equal(p.items[0].state, PLAN_REPLACE);
	assert_int_equal(p.items[0].nold, 1);
	assert_string_equal(p.items[0].old[0].interpreter, "/usr/libexec/qemu-binfmt/aarch64-binfmt-P");
	plan_free(&p);
}

static void other_name_same_magic_conflicts(void **state)
{
	struct plan_request rq = request("arm64", NULL);
	struct bi_error err = { 0 };
	struct plan p;
	(void)state;

	struct binfmt_entry existing = entry_for("aarch64", "/opt/emu/aarch64", "F");
	strcpy(existing.name, "arm64-handler");
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	assert_int_equal(p.items[0].state, PLAN_CONFLICT);
	assert_non_null(strstr(p.items[0].reason, "arm64-handler"));
	plan_free(&p);
}

static void all_skips_working_handlers_and_native(void **state)
{
	struct plan_request rq = request("all", NULL);
	struct bi_error err = { 0 };
	struct plan p;
	(void)state;

	if (!host() || strcmp(host()->cpu, "x86_64"))
		skip();
	struct binfmt_entry existing = entry_for("aarch64", "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "OPF");
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	assert_int_equal(item(&p, "qemu-aarch64")->state, PLAN_HANDLED);
	assert_int_equal(item(&p, "qemu-riscv64")->state, PLAN_REGISTER);
	assert_int_equal(item(&p, "qemu-arm")->state, PLAN_REGISTER);
	assert_int_equal(item(&p, "qemu-x86_64")->state, PLAN_NATIVE);
	assert_int_equal(item(&p, "qemu-i386")->state, PLAN_NATIVE);
	/* Targets without an emulator are counted, not listed. */
	assert_int_equal(p.n + p.skipped_no_emulator, targets_count());
	assert_int_equal(p.n, 6); /* aarch64 riscv64 arm + three native x86 */
	plan_free(&p);
}

static void explicit_native_is_success(void **state)
{
	struct plan_request rq = request("amd64,386", NULL);
	struct bi_error err = { 0 };
	struct plan p;
	(void)state;

	if (!host() || strcmp(host()->cpu, "x86_64"))
		skip();
	assert_int_equal(plan_build(&rq, NULL, 0, &p, &err), 0);
	assert_int_equal(p.items[0].state, PLAN_NATIVE);
	assert_int_equal(p.items[1].state, PLAN_NATIVE);
	assert_non_null(strstr(p.items[0].reason, "natively"));
	plan_free(&p);
}

/* A probe of i386 that ran while an enabled entry takes i386 files proves the
 * entry works, not that the host runs 32-bit code (kernels without IA32
 * emulation): then the entry is what serves it, never "native". */
static void probe_through_an_entry_is_not_native(void **state)
{
	struct plan_request rq = request("386", NULL);
	struct bi_error err = { 0 };
	bool runs[64] = { false };
	struct plan p;
	(void)state;

	if (!host() || strcmp(host()->cpu, "x86_64") || targets_count() > 64)
		skip();
	for (size_t i = 0; i < targets_count(); i++)
		runs[i] = !strcmp(target_at(i)->cpu, "i386") || !strcmp(target_at(i)->cpu, "i486");
	rq.runs = runs;
	assert_int_equal(plan_build(&rq, NULL, 0, &p, &err), 0);
	assert_int_equal(p.items[0].state, PLAN_NATIVE); /* the probe ran, nothing else could run it */
	plan_free(&p);

	struct binfmt_entry existing = entry_for("i386", "/usr/bin/qemu-i386-static", "PF");
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	assert_int_not_equal(p.items[0].state, PLAN_NATIVE);
	assert_null(strstr(p.items[0].reason, "natively"));
	plan_free(&p);

	existing.enabled = false; /* a disabled entry runs nothing: the probe ran natively */
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	assert_int_equal(p.items[0].state, PLAN_NATIVE);
	plan_free(&p);
}

static void bad_names_are_usage_errors(void **state)
{
	static const char *const bad[] = { "", "foo", "arm64,,", ",arm64", "arm64 ", "a:b", "linux/foo",
					   "windows/arm64", "arm64,bogus" };
	char longname[5001];
	struct bi_error err;
	struct plan p;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct plan_request rq = request(bad[i], NULL);
		memset(&err, 0, sizeof(err));
		assert_int_equal(plan_build(&rq, NULL, 0, &p, &err), -EINVAL);
		assert_true(strlen(err.msg) > 10);
		assert_null(strchr(err.msg, '\n'));
		assert_null(p.items);
	}
	memset(longname, 'a', 5000);
	longname[5000] = '\0';
	struct plan_request rq = request(longname, NULL);
	assert_int_equal(plan_build(&rq, NULL, 0, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "too long"));
	rq = request("foo", NULL);
	plan_build(&rq, NULL, 0, &p, &err);
	/* The message lists what is accepted. */
	assert_non_null(strstr(err.msg, "linux/arm64"));
	assert_non_null(strstr(err.msg, "ppc64el"));
}

static void missing_emulator(void **state)
{
	struct plan_request rq = request("s390x", NULL);
	struct bi_error err = { 0 };
	struct plan p;
	(void)state;

	assert_int_equal(plan_build(&rq, NULL, 0, &p, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "qemu-s390x"));
	assert_non_null(strstr(err.msg, dir));
}

static void prefix_names_entry_and_binary(void **state)
{
	struct plan_request rq = request("s390x", NULL);
	struct interp_search s2;
	struct bi_error err = { 0 };
	struct plan p;
	(void)state;

	assert_int_equal(interp_search_init(&s2, dir, "buildkit-"), 0);
	rq.search = &s2;
	rq.prefix = "buildkit-";
	assert_int_equal(plan_build(&rq, NULL, 0, &p, &err), 0);
	assert_string_equal(p.items[0].want.name, "buildkit-qemu-s390x");
	assert_non_null(strstr(p.items[0].want.interpreter, "/buildkit-qemu-s390x"));
	plan_free(&p);
}

static void uninstall_all_spares_foreign_entries(void **state)
{
	struct binfmt_entry e[5];
	struct plan_request rq = request(NULL, "all");
	struct bi_error err = { 0 };
	struct plan p;
	(void)state;

	e[0] = entry_for("aarch64", "/usr/bin/qemu-aarch64-static", "F");
	e[1] = entry_for("riscv64", "/usr/bin/qemu-riscv64-static", "F");
	strcpy(e[1].name, "buildkit-qemu-riscv64");
	e[2] = entry_for("s390x", "/usr/bin/qemu-s390x-static", "F");
	strcpy(e[2].name, "WSLInterop");
	strcpy(e[2].interpreter, "/init");
	e[3] = e[2];
	strcpy(e[3].name, "python3.11");
	strcpy(e[3].interpreter, "/usr/bin/python3.11");
	e[4] = e[2];
	strcpy(e[4].name, "rosetta");
	strcpy(e[4].interpreter, "/mnt/lima-rosetta/rosetta");
	assert_int_equal(plan_build(&rq, e, 5, &p, &err), 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(item(&p, "qemu-aarch64")->label, "linux/arm64 (qemu-aarch64)");
	assert_int_equal(item(&p, "buildkit-qemu-riscv64")->state, PLAN_REMOVE);
	plan_free(&p);

	/* By exact name only. */
	rq = request(NULL, "WSLInterop");
	assert_int_equal(plan_build(&rq, e, 5, &p, &err), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.items[0].state, PLAN_REMOVE);
	assert_null(p.items[0].target);
	plan_free(&p);
	rq = request(NULL, "python3");
	assert_int_equal(plan_build(&rq, e, 5, &p, &err), -EINVAL);
	rq = request(NULL, "wslinterop");
	assert_int_equal(plan_build(&rq, e, 5, &p, &err), -EINVAL);
}

static void uninstall_uses_install_names(void **state)
{
	struct binfmt_entry e = entry_for("arm", "/usr/bin/qemu-arm-static", "F");
	struct bi_error err = { 0 };
	struct plan p;
	(void)state;

	static const char *const names[] = { "armhf", "linux/arm/v7", "arm", "qemu-arm", "armel", "linux/arm/v6" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct plan_request rq = request(NULL, names[i]);
		assert_int_equal(plan_build(&rq, &e, 1, &p, &err), 0);
		assert_int_equal(p.items[0].state, PLAN_REMOVE);
		assert_string_equal(p.items[0].old[0].name, "qemu-arm");
		plan_free(&p);
	}
	struct plan_request rq = request(NULL, "arm64");
	assert_int_equal(plan_build(&rq, &e, 1, &p, &err), 0);
	assert_int_equal(p.items[0].state, PLAN_ABSENT);
	plan_free(&p);
}

static void target_of_foreign_masks(void **state)
{
	struct binfmt_entry e = entry_for("ppc64", "/x", "F");
	(void)state;

	/* Debian masks OSABI with 0xfc for ppc/s390x: still the same target. */
	e.mask[7] = 0xfc;
	assert_ptr_equal(plan_target_of_entry(&e), target_by_cpu("ppc64"));
	e.magic[18] = 0x99;
	e.magic[19] = 0x99;
	assert_null(plan_target_of_entry(&e));
	assert_true(plan_is_qemu_entry(&e, ""));
	strcpy(e.name, "custom");
	assert_false(plan_is_qemu_entry(&e, ""));
	strcpy(e.interpreter, "/usr/bin/qemu-ppc64-static");
	assert_true(plan_is_qemu_entry(&e, ""));
}

/* What a status after applying must probe again: targets the plan changed. */
static void touches_only_what_changes(void **state)
{
	struct plan_request rq = request("arm64,riscv64,amd64", NULL);
	const struct target *a64 = target_by_cpu("aarch64"), *rv = target_by_cpu("riscv64");
	const struct target *i386 = target_by_cpu("i386"), *arm = target_by_cpu("arm");
	struct bi_error err = { 0 };
	struct plan p;
	char path[PATH_MAX + 32];
	(void)state;

	snprintf(path, sizeof(path), "%s/qemu-aarch64", dir);
	struct binfmt_entry e[2] = { entry_for("aarch64", path, "FP"),
				     entry_for("arm", "/usr/bin/qemu-arm-static", "F") };
	assert_int_equal(plan_build(&rq, e, 2, &p, &err), 0);
	assert_int_equal(item(&p, "qemu-aarch64")->state, PLAN_KEEP);
	assert_int_equal(item(&p, "qemu-riscv64")->state, PLAN_REGISTER);
	assert_false(plan_touches(&p, a64)); /* kept as it was */
	assert_true(plan_touches(&p, rv));   /* registered */
	assert_false(plan_touches(&p, i386));
	assert_false(plan_touches(&p, arm));
	/* Kept, yet settled while applying (someone else registered it meanwhile). */
	p.items[0].applied = true;
	assert_true(plan_touches(&p, a64));
	plan_free(&p);

	rq = request(NULL, "armhf");
	assert_int_equal(plan_build(&rq, e, 2, &p, &err), 0);
	assert_true(plan_touches(&p, arm)); /* removed */
	assert_false(plan_touches(&p, a64));
	plan_free(&p);
}

/* tonistiigi/binfmt registers every emulator with C ("POCF"): such an entry
 * runs the platform, but never counts as serving it unless C was asked for. */
static void credential_entry_is_never_served(void **state)
{
	struct plan_request rq = request("all", NULL);
	struct bi_error err = { 0 };
	struct plan p;
	char path[PATH_MAX + 32];
	const struct plan_item *it;
	(void)state;

	if (!host() || strcmp(host()->cpu, "x86_64"))
		skip();
	struct binfmt_entry existing = entry_for("aarch64", "/usr/bin/qemu-aarch64", "POCF");
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	it = item(&p, "qemu-aarch64");
	assert_int_equal(it->state, PLAN_CONFLICT);
	assert_int_equal(it->nold, 0);
	assert_non_null(strstr(it->reason, "entry qemu-aarch64 (/usr/bin/qemu-aarch64) has the C flag"));
	assert_non_null(strstr(it->reason, "setuid"));
	assert_non_null(strstr(it->reason, "'binfmt --install qemu-aarch64 --force' replaces it with one without C"));
	assert_int_equal(item(&p, "qemu-riscv64")->state, PLAN_REGISTER); /* the rest goes on */
	plan_free(&p);

	/* Named explicitly, the same reason (not "interpreter ..., wanted ..."). */
	rq = request("arm64", NULL);
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	assert_int_equal(p.items[0].state, PLAN_CONFLICT);
	assert_non_null(strstr(p.items[0].reason, "has the C flag"));
	plan_free(&p);

	/* --force replaces it with our own flags, under "all" too. */
	rq = request("all", NULL);
	rq.force = true;
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	it = item(&p, "qemu-aarch64");
	assert_int_equal(it->state, PLAN_REPLACE);
	assert_int_equal(it->nold, 1);
	assert_string_equal(it->old[0].flags, "POCF");
	assert_string_equal(it->want.flags, "PF");
	plan_free(&p);

	/* Under another name, beside a working entry without C: still not served. */
	struct binfmt_entry two[2] = { entry_for("aarch64", "/usr/bin/qemu-aarch64-static", "PF"), existing };
	strcpy(two[0].name, "aarch64-other");
	strcpy(two[1].name, "tonistiigi-aarch64");
	rq = request("all", NULL);
	assert_int_equal(plan_build(&rq, two, 2, &p, &err), 0);
	it = item(&p, "qemu-aarch64");
	assert_int_equal(it->state, PLAN_CONFLICT);
	assert_non_null(strstr(it->reason, "entry tonistiigi-aarch64"));
	plan_free(&p);

	/* Asked for (--credential): an identical C entry is ours, kept silently. */
	snprintf(path, sizeof(path), "%s/qemu-aarch64", dir);
	existing = entry_for("aarch64", path, "POCF");
	rq = request("arm64", NULL);
	rq.flags = "POCF";
	assert_int_equal(plan_build(&rq, &existing, 1, &p, &err), 0);
	assert_int_equal(p.items[0].state, PLAN_KEEP);
	plan_free(&p);
}

static void credential_warning_names_entry_and_fix(void **state)
{
	struct binfmt_entry e = entry_for("riscv64", "/usr/bin/qemu-riscv64", "OCF");
	char buf[700];
	(void)state;

	assert_true(plan_credential_warning(&e, buf, sizeof(buf)));
	assert_non_null(strstr(buf, "entry qemu-riscv64 (/usr/bin/qemu-riscv64) has the C flag"));
	assert_non_null(strstr(buf, "'binfmt --install qemu-riscv64 --force' replaces it with one without C"));
	assert_null(strchr(buf, '\n'));
	/* An entry of no known platform cannot be re-installed, only removed. */
	e.magic[18] = 0x99;
	strcpy(e.name, "odd");
	assert_true(plan_credential_warning(&e, buf, sizeof(buf)));
	assert_non_null(strstr(buf, "'binfmt --uninstall odd' removes it"));
	strcpy(e.flags, "PF");
	assert_false(plan_credential_warning(&e, buf, sizeof(buf)));
}

/* An entry whose register string cannot be formatted fails the plan itself, so
 * the dry run fails as the real run would, before anything is written. */
static void unregistrable_entry_fails_the_plan(void **state)
{
	static const char delims[] = ":|!@%,=+~^#;";
	char d2[PATH_MAX + 16], cmd[3 * PATH_MAX];
	struct interp_search s2;
	struct bi_error err = { 0 };
	struct plan p;
	(void)state;

	/* A newline in the emulators' directory: the kernel's register write ends there. */
	snprintf(d2, sizeof(d2), "%s/a\nb", dir);
	snprintf(cmd, sizeof(cmd), "mkdir '%s' && cp /proc/%d/exe '%s/qemu-aarch64'", d2, (int)getpid(), d2);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(interp_search_init(&s2, d2, ""), 0);
	struct plan_request rq = request("arm64", NULL);
	rq.search = &s2;
	assert_int_equal(plan_build(&rq, NULL, 0, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "entry qemu-aarch64 cannot be registered"));
	/* The raw path: the CLI escapes the whole line once (33-dry-run-truth.sh
	 * checks that it prints one line with "\x0a"). */
	assert_non_null(strstr(err.msg, "a\nb/qemu-aarch64"));
	assert_non_null(strstr(err.msg, "control character"));
	assert_null(p.items);
	rq.install = "all";
	assert_int_equal(plan_build(&rq, NULL, 0, &p, &err), -EINVAL);
	assert_null(p.items);

	/* A prefix with every delimiter but the one the path holds: none is left. */
	snprintf(d2, sizeof(d2), "%s/semi;colon", dir);
	snprintf(cmd, sizeof(cmd), "mkdir '%s' && cp /proc/%d/exe '%s/:|!@%%,=+~^#qemu-aarch64'", d2, (int)getpid(),
		 d2);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(interp_search_init(&s2, d2, ":|!@%,=+~^#"), 0);
	rq = request("arm64", NULL);
	rq.search = &s2;
	rq.prefix = ":|!@%,=+~^#";
	memset(&err, 0, sizeof(err));
	assert_int_equal(plan_build(&rq, NULL, 0, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "every delimiter"));
	assert_non_null(strstr(err.msg, delims));
	assert_null(p.items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(install_on_empty_registry),
		cmocka_unit_test(aliases_collapse_to_one_item),
		cmocka_unit_test(identical_entry_is_kept),
		cmocka_unit_test(conflict_then_force),
		cmocka_unit_test(other_name_same_magic_conflicts),
		cmocka_unit_test(all_skips_working_handlers_and_native),
		cmocka_unit_test(explicit_native_is_success),
		cmocka_unit_test(probe_through_an_entry_is_not_native),
		cmocka_unit_test(bad_names_are_usage_errors),
		cmocka_unit_test(missing_emulator),
		cmocka_unit_test(prefix_names_entry_and_binary),
		cmocka_unit_test(uninstall_all_spares_foreign_entries),
		cmocka_unit_test(uninstall_uses_install_names),
		cmocka_unit_test(target_of_foreign_masks),
		cmocka_unit_test(touches_only_what_changes),
		cmocka_unit_test(credential_entry_is_never_served),
		cmocka_unit_test(credential_warning_names_entry_and_fix),
		cmocka_unit_test(unregistrable_entry_fails_the_plan),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

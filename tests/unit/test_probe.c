/* SPDX-License-Identifier: MIT */
/*
 * The probe programs, checked three ways:
 *  - the table: order, platforms, cpus, lookups, -ENOSPC;
 *  - each image as an ELF, against facts written here: header bytes read
 *    directly, then libelf's view (one PT_LOAD R+X mapping the file, entry
 *    inside it, no PT_INTERP, ppc64's entry a descriptor pointing at code);
 *  - each image executed: written to a 0755 temp file and run directly (not
 *    through binfmt_misc) under each of the two QEMUs binfmt registers: the
 *    staged payload (<this binary's dir>/../qemu/qemu-<cpu>, what
 *    `binfmt --install` uses by default; make check stages it first) and
 *    Debian's /usr/bin/qemu-<cpu>-static, where it must exit 0. The amd64
 *    probe also runs natively, where its exit status must be 64 + the x86-64
 *    level computed here from <cpuid.h>, and under QEMU CPU models of known
 *    level, under both QEMUs.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "unit.h"
#include "probe.h"
#include "util.h"

#ifndef EM_LOONGARCH
#define EM_LOONGARCH 258
#endif
#define RUN_TIMEOUT 20 /* seconds; the alarm survives execve */

/* Independent facts: BuildKit's order, then mipsle and mips. */
static struct fact {
	const char *platform, *cpu;
	uint8_t cls, data;
	uint16_t machine;
	uint32_t flags;
	int expect_exit;
} facts[] = {
	{ "linux/amd64", "x86_64", ELFCLASS64, ELFDATA2LSB, EM_X86_64, 0, -1 },
	{ "linux/arm64", "aarch64", ELFCLASS64, ELFDATA2LSB, EM_AARCH64, 0, 0 },
	{ "linux/riscv64", "riscv64", ELFCLASS64, ELFDATA2LSB, EM_RISCV, 0x4, 0 },
	{ "linux/ppc64", "ppc64", ELFCLASS64, ELFDATA2MSB, EM_PPC64, 1, 0 },
	{ "linux/ppc64le", "ppc64le", ELFCLASS64, ELFDATA2LSB, EM_PPC64, 2, 0 },
	{ "linux/s390x", "s390x", ELFCLASS64, ELFDATA2MSB, EM_S390, 0, 0 },
	{ "linux/386", "i386", ELFCLASS32, ELFDATA2LSB, EM_386, 0, 0 },
	{ "linux/mips64le", "mips64el", ELFCLASS64, ELFDATA2LSB, EM_MIPS, 0x80000000, 0 },
	{ "linux/mips64", "mips64", ELFCLASS64, ELFDATA2MSB, EM_MIPS, 0x80000000, 0 },
	{ "linux/loong64", "loongarch64", ELFCLASS64, ELFDATA2LSB, EM_LOONGARCH, 0x43, 0 },
	{ "linux/arm/v7", "arm", ELFCLASS32, ELFDATA2LSB, EM_ARM, 0x05000000, 0 },
	{ "linux/mipsle", "mipsel", ELFCLASS32, ELFDATA2LSB, EM_MIPS, 0x70001000, 0 },
	{ "linux/mips", "mips", ELFCLASS32, ELFDATA2MSB, EM_MIPS, 0x70001000, 0 },
};

/* ---- the table ---------------------------------------------------------- */

static void test_table(void **state)
{
	(void)state;
	assert_int_equal(probes_count(), ARRAY_SIZE(facts));
	for (size_t i = 0; i < ARRAY_SIZE(facts); i++) {
		const struct probe *p = probe_at(i);

		assert_non_null(p);
		assert_string_equal(p->platform, facts[i].platform);
		assert_string_equal(p->cpu, facts[i].cpu);
		assert_int_equal(p->expect_exit, facts[i].expect_exit);
		assert_ptr_equal(probe_for_platform(facts[i].platform), p);
	}
	assert_null(probe_at(ARRAY_SIZE(facts)));
}

static void test_for_platform(void **state)
{
	const struct probe *p = probe_for_platform("linux/arm64");

	(void)state;
	assert_non_null(p);
	assert_string_equal(p->cpu, "aarch64");
	assert_int_equal(p->expect_exit, 0);
	assert_null(probe_for_platform("linux/sparc64"));
	assert_null(probe_for_platform("linux/arm/v6")); /* proved by arm/v7's probe */
	assert_null(probe_for_platform("arm64"));
	assert_null(probe_for_platform(""));
	assert_null(probe_for_platform(NULL));
}

static void test_too_small(void **state)
{
	uint8_t buf[PROBE_MAX_SIZE];
	struct probe unknown = { "linux/vax", "vax", 0 };

	(void)state;
	for (size_t i = 0; i < probes_count(); i++) {
		const struct probe *p = probe_at(i);
		int len = probe_image(p, buf, sizeof(buf));

		assert_in_range(len, 52 + 32, PROBE_MAX_SIZE);
		memset(buf, 0xa5, sizeof(buf));
		assert_int_equal(probe_image(p, buf, (size_t)len - 1), -ENOSPC);
		assert_int_equal(probe_image(p, buf, 16), -ENOSPC);
		assert_int_equal(probe_image(p, buf, 0), -ENOSPC);
		assert_int_equal(buf[0], 0xa5); /* nothing written on failure */
		assert_int_equal(probe_image(p, buf, (size_t)len), len);
	}
	assert_int_equal(probe_image(&unknown, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(probe_image(NULL, buf, sizeof(buf)), -EINVAL);
}

/* ---- each image as an ELF ------------------------------------------------ */

static uint64_t read_be_or_le(const uint8_t *b, size_t width, bool be)
{
	uint64_t v = 0;

	for (size_t i = 0; i < width; i++)
		v |= (uint64_t)b[i] << 8 * (be ? width - 1 - i : i);
	return v;
}

/* The bytes a loader looks at first, without trusting any ELF library. */
static void check_raw_header(const struct fact *f, const uint8_t *img, int len)
{
	bool be = f->data == ELFDATA2MSB;
	size_t flags_at = f->cls == ELFCLASS64 ? 48 : 36;

	assert_true(len >= 52);
	assert_memory_equal(img, ELFMAG, SELFMAG);
	assert_int_equal(img[EI_CLASS], f->cls);
	assert_int_equal(img[EI_DATA], f->data);
	assert_int_equal(img[EI_VERSION], EV_CURRENT);
	assert_int_equal(img[EI_OSABI], ELFOSABI_SYSV);
	assert_int_equal(read_be_or_le(img + 16, 2, be), ET_EXEC);
	assert_int_equal(read_be_or_le(img + 18, 2, be), f->machine);
	assert_int_equal(read_be_or_le(img + flags_at, 4, be), f->flags);
}

static void check_segments(Elf *e, const GElf_Ehdr *eh, size_t len)
{
	size_t n = 0;
	int loads = 0;

	assert_int_equal(elf_getphdrnum(e, &n), 0);
	assert_int_equal(n, 1);
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		assert_non_null(gelf_getphdr(e, (int)i, &ph));
		assert_int_not_equal(ph.p_type, PT_INTERP);
		if (ph.p_type != PT_LOAD)
			continue;
		loads++;
		assert_int_equal(ph.p_flags, PF_R | PF_X);
		assert_int_equal(ph.p_offset, 0);
		assert_int_equal(ph.p_filesz, len);
		assert_int_equal(ph.p_memsz, len);
		assert_true(ph.p_align >= 4096 && ph.p_vaddr % ph.p_align == 0);
		assert_in_range(eh->e_entry, ph.p_vaddr + eh->e_ehsize + eh->e_phentsize,
				ph.p_vaddr + len - 1);
	}
	assert_int_equal(loads, 1);
}

/* ELFv1: e_entry is a function descriptor {code, TOC, env}; code follows the headers. */
static void check_descriptor(Elf *e, const GElf_Ehdr *eh, const uint8_t *img, size_t len)
{
	GElf_Phdr ph;
	uint64_t off;

	assert_non_null(gelf_getphdr(e, 0, &ph));
	off = eh->e_entry - ph.p_vaddr;
	assert_true(off % 8 == 0 && off + 24 <= len);
	assert_int_equal(read_be_or_le(img + off, 8, true),
			 ph.p_vaddr + eh->e_ehsize + eh->e_phentsize);
}

static void test_image(void **state)
{
	const struct fact *f = *state;
	const struct probe *p = probe_for_platform(f->platform);
	uint8_t img[PROBE_MAX_SIZE];
	int len;
	Elf *e;
	GElf_Ehdr eh;
	size_t shnum = 1;

	assert_non_null(p);
	len = probe_image(p, img, sizeof(img));
	assert_in_range(len, 52, PROBE_MAX_SIZE);
	check_raw_header(f, img, len);

	assert_int_not_equal(elf_version(EV_CURRENT), EV_NONE);
	e = elf_memory((char *)img, (size_t)len);
	assert_non_null(e);
	assert_int_equal(elf_kind(e), ELF_K_ELF);
	assert_int_equal(gelf_getclass(e), f->cls);
	assert_non_null(gelf_getehdr(e, &eh));
	assert_int_equal(eh.e_ident[EI_DATA], f->data);
	assert_int_equal(eh.e_type, ET_EXEC);
	assert_int_equal(eh.e_machine, f->machine);
	assert_int_equal(eh.e_flags, f->flags);
	assert_int_equal(eh.e_version, EV_CURRENT);
	assert_int_equal(eh.e_ehsize, f->cls == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr));
	assert_int_equal(eh.e_phentsize, f->cls == ELFCLASS64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr));
	assert_int_equal(elf_getshdrnum(e, &shnum), 0);
	assert_int_equal(shnum, 0);
	check_segments(e, &eh, (size_t)len);
	if (f->machine == EM_PPC64 && f->flags == 1)
		check_descriptor(e, &eh, img, (size_t)len);
	elf_end(e);
}

/* ---- running them --------------------------------------------------------- */

static void write_temp(char *path, size_t n, const uint8_t *img, int len)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	snprintf(path, n, "%s/binfmt-probe-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, img, (size_t)len), len);
	assert_int_equal(fchmod(fd, 0755), 0);
	/* Closed before the fork: a writer still open makes execve ETXTBSY. */
	assert_int_equal(close(fd), 0);
}

/* Collect the child's stderr on one line (up to n - 1 bytes, the rest drained). */
static void slurp(int fd, char *buf, size_t n)
{
	size_t used = 0;
	char sink[256];

	for (;;) {
		size_t room = n - 1 - used;
		ssize_t r = room ? read(fd, buf + used, room) : read(fd, sink, sizeof(sink));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (room)
			used += (size_t)r;
	}
	buf[used] = '\0';
	for (char *nl = strchr(buf, '\n'); nl; nl = strchr(nl, '\n'))
		*nl = ' ';
}

static _Noreturn void child(const char *const argv[], int errfd)
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (null < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(errfd, STDERR_FILENO) < 0)
		_exit(126);
	alarm(RUN_TIMEOUT);
	execv(argv[0], (char *const *)argv);
	dprintf(STDERR_FILENO, "execv %s: %s", argv[0], strerror(errno));
	_exit(127);
}

/* Fork/exec argv; returns the wait status, stderr in err. */
static int spawn(const char *const argv[], char *err, size_t n)
{
	int pfd[2], ws = 0;
	pid_t pid;

	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child(argv, pfd[1]);
	close(pfd[1]);
	slurp(pfd[0], err, n);
	close(pfd[0]);
	while (waitpid(pid, &ws, 0) < 0)
		assert_int_equal(errno, EINTR);
	return ws;
}

struct run {
	int code;         /* exit status */
	char err[2048];   /* what the emulator said on stderr */
};

/* The QEMUs probes run under: the staged payload, then Debian's. */
enum qemu_set { PAYLOAD, DEBIAN, NSETS };
static const char *const set_name[NSETS] = { "payload", "debian" };

/* The payload leaves out the build host's own emulator (qemu-static/build.sh),
 * which binfmt never registers there: no payload case for it. */
#if defined(__x86_64__)
#define OWN_CPU "x86_64"
#elif defined(__aarch64__)
#define OWN_CPU "aarch64"
#else
#define OWN_CPU ""
#endif

static bool in_set(enum qemu_set set, const char *cpu)
{
	return set != PAYLOAD || strcmp(cpu, OWN_CPU) != 0;
}

/* set's emulator for cpu: $BUILD/qemu/qemu-CPU next to this test's
 * $BUILD/tests, or /usr/bin/qemu-CPU-static. */
static void qemu_path(char *out, size_t cap, enum qemu_set set, const char *cpu)
{
	char self[PATH_MAX];
	ssize_t n;

	if (set == DEBIAN) {
		snprintf(out, cap, "/usr/bin/qemu-%s-static", cpu);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	if ((size_t)snprintf(out, cap, "%s/../qemu/qemu-%s", self, cpu) >= cap)
		fail_msg("the payload's path is too long: %s", self);
}

/*
 * Run the probe for platform under set's QEMU (skipping the test when that is
 * missing: tests/must-run makes that a failure on CI), or natively when native
 * is set; model, if given, goes to QEMU's -cpu. Fails on a signal.
 */
static void run_probe(struct run *r, const char *platform, enum qemu_set set, bool native, const char *model)
{
	const struct probe *p = probe_for_platform(platform);
	uint8_t img[PROBE_MAX_SIZE];
	char qemu[PATH_MAX], path[PATH_MAX];
	const char *argv[5];
	size_t a = 0;
	int len, ws;

	assert_non_null(p);
	qemu_path(qemu, sizeof(qemu), set, p->cpu);
	if (!native && access(qemu, X_OK) < 0) {
		print_message("# %s missing: skipping %s\n", qemu, platform);
		skip();
	}
	len = probe_image(p, img, sizeof(img));
	assert_true(len > 0);
	write_temp(path, sizeof(path), img, len);
	if (!native)
		argv[a++] = qemu;
	if (!native && model) {
		argv[a++] = "-cpu";
		argv[a++] = model;
	}
	argv[a++] = path;
	argv[a] = NULL;
	ws = spawn(argv, r->err, sizeof(r->err));
	unlink(path);
	if (WIFSIGNALED(ws))
		fail_msg("%s %s: signal %d%s; stderr: %s", platform, native ? "native" : qemu,
			 WTERMSIG(ws), WTERMSIG(ws) == SIGALRM ? " (timed out)" : "", r->err);
	assert_true(WIFEXITED(ws));
	r->code = WEXITSTATUS(ws);
}

/* A test's state: a fact and the QEMU set to run it under. */
struct run_case {
	const struct fact *f;
	enum qemu_set set;
};

static void test_run(void **state)
{
	const struct run_case *rc = *state;
	const struct fact *f = rc->f;
	struct run r;

	run_probe(&r, f->platform, rc->set, false, NULL);
	print_message("# %s under %s qemu-%s: exit %d\n", f->platform, set_name[rc->set], f->cpu, r.code);
	/* amd64 reports its level: QEMU's linux-user default x86-64 CPU is "max",
	 * so exactly what the same QEMU says with -cpu max (it accepted any of
	 * 65..68 before; seen: 67 with Debian's 7.2). */
	if (f->expect_exit < 0) {
		struct run m;
		run_probe(&m, f->platform, rc->set, false, "max");
		if (r.code != m.code || m.code < 65 || m.code > 68)
			fail_msg("%s: exit %d by default, %d with -cpu max; stderr: %s", f->platform, r.code, m.code, r.err);
		return;
	}
	if (r.code != f->expect_exit)
		fail_msg("%s: exit %d; stderr: %s", f->platform, r.code, r.err);
}

/* ---- the amd64 level ------------------------------------------------------ */

#if defined(__x86_64__)
static bool has_all(unsigned reg, unsigned bits)
{
	return (reg & bits) == bits;
}

static uint64_t xcr0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

/* 64 + the x86-64 psABI micro-architecture level of this CPU. */
static int host_level(void)
{
	unsigned a, b, c1 = 0, d, c81 = 0, b7 = 0, c;
	uint64_t x = 0;
	bool v2, v3, v4;

	__get_cpuid(1, &a, &b, &c1, &d);
	__get_cpuid(0x80000001, &a, &b, &c81, &d);
	if (__get_cpuid_max(0, NULL) >= 7)
		__cpuid_count(7, 0, a, b7, c, d);
	if (c1 & bit_OSXSAVE)
		x = xcr0();
	v2 = has_all(c1, bit_SSE3 | bit_SSSE3 | bit_CMPXCHG16B | bit_SSE4_1 | bit_SSE4_2 |
			 bit_POPCNT) && (c81 & bit_LAHF_LM);
	/* LZCNT is 0x80000001 ECX bit 5, which <cpuid.h> calls bit_ABM. */
	v3 = v2 && has_all(c1, bit_AVX | bit_F16C | bit_FMA | bit_MOVBE | bit_OSXSAVE) &&
	     has_all(b7, bit_AVX2 | bit_BMI | bit_BMI2) && (c81 & bit_ABM) && (x & 6) == 6;
	v4 = v3 && has_all(b7, bit_AVX512F | bit_AVX512BW | bit_AVX512CD | bit_AVX512DQ |
			       bit_AVX512VL) && (x & 0xe0) == 0xe0;
	return 65 + v2 + v3 + v4;
}

/* 64 + the level that tests/helpers/cpu-view (libgcc's CPUID code) reports for
 * a child of this test (unit.h). Under valgrind this test's own CPUID is
 * valgrind's synthetic one, but its children run natively, as the probe does: so
 * the helper's answer is the probe's expectation. Not /proc/cpuinfo: a kernel may
 * hide features that CPUID shows to programs (seen: a VM kernel without "abm"
 * while CPUID has LZCNT). -1 on failure. */
static int child_level(void)
{
	char levels[256];
	int level = 65;

	if (unit_cpu_view("levels", levels, sizeof(levels)) < 0)
		return -1;
	for (const char *c = levels; (c = strstr(c, "linux/amd64/v")); c++)
		level++;
	return level;
}
#endif

static void test_amd64_native(void **state)
{
	(void)state;
#if defined(__x86_64__)
	/* The probe runs natively: its expectation is the native CPU's, which is
	 * this test's own CPUID natively, and a child's under valgrind (whose CPUID
	 * for this process is its own narrower one). Natively the two must agree. */
	const int cpuid = host_level(), child = child_level();
	const int want = RUNNING_ON_VALGRIND ? child : cpuid;
	struct run r;

	if (child < 0)
		fail_msg("cpu-view (next to this test; make unit builds it) did not answer");
	if (!RUNNING_ON_VALGRIND && child != cpuid)
		fail_msg("this test's CPUID says %d, cpu-view's (libgcc's) %d", cpuid, child);
	run_probe(&r, "linux/amd64", PAYLOAD, true, NULL);
	print_message("# amd64 probe natively: exit %d (x86-64-v%d); CPUID here says %d, cpu-view %d\n",
		      r.code, r.code - 64, cpuid, child);
	if (r.code != want)
		fail_msg("native amd64 probe: exit %d, want %d; stderr: %s", r.code, want, r.err);
#else
	skip();
#endif
}

/* QEMU's CPU models pin a level on any host: each branch of the probe taken. */
static void test_amd64_qemu_models(void **state)
{
	static const struct { const char *model; int level; } models[] = {
		{ "qemu64", 65 },  /* SSE3 and CX16, but no SSSE3/SSE4/POPCNT */
		{ "Nehalem", 66 }, /* v2, no AVX */
		{ "Haswell", 67 }, /* v3 (TCG has AVX2/FMA/F16C since QEMU 7.2) */
	};

	const enum qemu_set *set = *state;

	for (size_t i = 0; i < ARRAY_SIZE(models); i++) {
		struct run r;

		run_probe(&r, "linux/amd64", *set, false, models[i].model);
		print_message("# amd64 probe under %s qemu-x86_64 -cpu %s: exit %d\n", set_name[*set],
			      models[i].model, r.code);
		if (r.code != models[i].level)
			fail_msg("%s qemu-x86_64 -cpu %s: exit %d, want %d; stderr: %s", set_name[*set],
				 models[i].model, r.code, models[i].level, r.err);
	}
}

static void test_amd64_qemu_max(void **state)
{
	struct run r;

	const enum qemu_set *set = *state;

	run_probe(&r, "linux/amd64", *set, false, "max");
	print_message("# amd64 probe under %s qemu-x86_64 -cpu max: exit %d (x86-64-v%d)\n", set_name[*set],
		      r.code, r.code - 64);
	if (r.code < 65 || r.code > 68)
		fail_msg("%s qemu-x86_64 -cpu max: exit %d; stderr: %s", set_name[*set], r.code, r.err);
}

int main(void)
{
	static const enum qemu_set sets[NSETS] = { PAYLOAD, DEBIAN };
	enum { FIXED = 4 + 2 * NSETS, PER_FACT = 1 + NSETS };
	static char names[PER_FACT * ARRAY_SIZE(facts) + 2 * NSETS][64];
	static struct run_case cases[NSETS * ARRAY_SIZE(facts)];
	struct CMUnitTest tests[FIXED + PER_FACT * ARRAY_SIZE(facts)] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_for_platform),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test(test_amd64_native),
	};
	size_t t = 4, nm = 0;

	for (size_t k = 0; k < NSETS; k++) {
		if (!in_set(sets[k], "x86_64"))
			continue;
		snprintf(names[nm], sizeof(names[0]), "amd64 qemu models (%s)", set_name[k]);
		tests[t++] = (struct CMUnitTest){ names[nm++], test_amd64_qemu_models, NULL, NULL, (void *)&sets[k] };
		snprintf(names[nm], sizeof(names[0]), "amd64 qemu max (%s)", set_name[k]);
		tests[t++] = (struct CMUnitTest){ names[nm++], test_amd64_qemu_max, NULL, NULL, (void *)&sets[k] };
	}
	for (size_t i = 0; i < ARRAY_SIZE(facts); i++) {
		snprintf(names[nm], sizeof(names[0]), "image %s", facts[i].platform);
		tests[t++] = (struct CMUnitTest){ names[nm++], test_image, NULL, NULL, &facts[i] };
		for (size_t k = 0; k < NSETS; k++) {
			if (!in_set(sets[k], facts[i].cpu))
				continue;
			cases[NSETS * i + k] = (struct run_case){ &facts[i], sets[k] };
			snprintf(names[nm], sizeof(names[0]), "run %s (%s)", facts[i].platform, set_name[k]);
			tests[t++] = (struct CMUnitTest){ names[nm++], test_run, NULL, NULL, &cases[NSETS * i + k] };
		}
	}
	return _cmocka_run_group_tests("test_probe", tests, t, NULL, NULL);
}

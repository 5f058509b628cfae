/* SPDX-License-Identifier: MIT */
/*
 * The target table, checked two independent ways:
 *  - semantically: ELF headers built from ELF facts written here (class,
 *    data, e_machine from <elf.h>, mips ABI flags) must select exactly their
 *    own target and no other, with ET_EXEC and ET_DYN, OSABI SYSV and GNU;
 *  - textually: every row against upstream's bytes in
 *    tests/data/qemu-binfmt-table.tsv, where the only differences allowed
 *    are the documented ones (microblaze bytes 16-19, loongarch64's OSABI
 *    mask).
 * Plus name resolution: aliases, platforms, errors.
 */
#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "unit.h"
#include "targets.h"
#include "platform.h"
#include "util.h"

#define TABLE_FILE TEST_DATA_DIR "/qemu-binfmt-table.tsv"
#define EM_486 6                 /* kernel name; glibc calls 6 EM_IAMCU */
#define EM_MICROBLAZE_OLD 0xbaab /* kernel/binutils name, not in glibc */
#define HDR_LEN 64

enum abi { ABI_ANY, ABI_O32, ABI_N32 };

/* Independent facts about each QEMU target: what its executables look like. */
static const struct fact {
	const char *cpu;
	uint8_t cls, data;
	uint16_t machine;
	enum abi abi;        /* mips ELF32: which EF_MIPS_ABI2 state */
	bool any_abiversion; /* toolchain sets EI_ABIVERSION (mips, loongarch) */
	const char *platform;
} facts[] = {
	{ "i386", ELFCLASS32, ELFDATA2LSB, EM_386, ABI_ANY, false, "linux/386" },
	{ "i486", ELFCLASS32, ELFDATA2LSB, EM_486, ABI_ANY, false, NULL },
	{ "x86_64", ELFCLASS64, ELFDATA2LSB, EM_X86_64, ABI_ANY, false, "linux/amd64" },
	{ "alpha", ELFCLASS64, ELFDATA2LSB, EM_ALPHA, ABI_ANY, false, NULL },
	{ "arm", ELFCLASS32, ELFDATA2LSB, EM_ARM, ABI_ANY, false, "linux/arm/v7" },
	{ "armeb", ELFCLASS32, ELFDATA2MSB, EM_ARM, ABI_ANY, false, NULL },
	{ "sparc", ELFCLASS32, ELFDATA2MSB, EM_SPARC, ABI_ANY, false, NULL },
	{ "sparc32plus", ELFCLASS32, ELFDATA2MSB, EM_SPARC32PLUS, ABI_ANY, false, NULL },
	{ "sparc64", ELFCLASS64, ELFDATA2MSB, EM_SPARCV9, ABI_ANY, false, NULL },
	{ "ppc", ELFCLASS32, ELFDATA2MSB, EM_PPC, ABI_ANY, false, NULL },
	{ "ppc64", ELFCLASS64, ELFDATA2MSB, EM_PPC64, ABI_ANY, false, "linux/ppc64" },
	{ "ppc64le", ELFCLASS64, ELFDATA2LSB, EM_PPC64, ABI_ANY, false, "linux/ppc64le" },
	{ "m68k", ELFCLASS32, ELFDATA2MSB, EM_68K, ABI_ANY, false, NULL },
	{ "mips", ELFCLASS32, ELFDATA2MSB, EM_MIPS, ABI_O32, true, "linux/mips" },
	{ "mipsel", ELFCLASS32, ELFDATA2LSB, EM_MIPS, ABI_O32, true, "linux/mipsle" },
	{ "mipsn32", ELFCLASS32, ELFDATA2MSB, EM_MIPS, ABI_N32, true, NULL },
	{ "mipsn32el", ELFCLASS32, ELFDATA2LSB, EM_MIPS, ABI_N32, true, NULL },
	{ "mips64", ELFCLASS64, ELFDATA2MSB, EM_MIPS, ABI_ANY, true, "linux/mips64" },
	{ "mips64el", ELFCLASS64, ELFDATA2LSB, EM_MIPS, ABI_ANY, true, "linux/mips64le" },
	{ "sh4", ELFCLASS32, ELFDATA2LSB, EM_SH, ABI_ANY, false, NULL },
	{ "sh4eb", ELFCLASS32, ELFDATA2MSB, EM_SH, ABI_ANY, false, NULL },
	{ "s390x", ELFCLASS64, ELFDATA2MSB, EM_S390, ABI_ANY, false, "linux/s390x" },
	{ "aarch64", ELFCLASS64, ELFDATA2LSB, EM_AARCH64, ABI_ANY, false, "linux/arm64" },
	{ "aarch64_be", ELFCLASS64, ELFDATA2MSB, EM_AARCH64, ABI_ANY, false, NULL },
	{ "hppa", ELFCLASS32, ELFDATA2MSB, EM_PARISC, ABI_ANY, false, NULL },
	{ "riscv32", ELFCLASS32, ELFDATA2LSB, EM_RISCV, ABI_ANY, false, NULL },
	{ "riscv64", ELFCLASS64, ELFDATA2LSB, EM_RISCV, ABI_ANY, false, "linux/riscv64" },
	{ "xtensa", ELFCLASS32, ELFDATA2LSB, EM_XTENSA, ABI_ANY, false, NULL },
	{ "xtensaeb", ELFCLASS32, ELFDATA2MSB, EM_XTENSA, ABI_ANY, false, NULL },
	{ "microblaze", ELFCLASS32, ELFDATA2MSB, EM_MICROBLAZE_OLD, ABI_ANY, false, NULL },
	{ "microblazeel", ELFCLASS32, ELFDATA2LSB, EM_MICROBLAZE_OLD, ABI_ANY, false, NULL },
	{ "or1k", ELFCLASS32, ELFDATA2MSB, EM_OPENRISC, ABI_ANY, false, NULL },
	{ "hexagon", ELFCLASS32, ELFDATA2LSB, EM_QDSP6, ABI_ANY, false, NULL },
	{ "loongarch64", ELFCLASS64, ELFDATA2LSB, EM_LOONGARCH, ABI_ANY, true, "linux/loong64" },
};

/* ---- synthetic ELF headers ------------------------------------------- */

static void put(uint8_t *p, uint64_t v, size_t n, uint8_t data)
{
	for (size_t i = 0; i < n; i++) {
		size_t shift = data == ELFDATA2LSB ? i : n - 1 - i;
		p[i] = (uint8_t)(v >> (8 * shift));
	}
}

struct hdr_opts {
	uint16_t type;
	uint8_t osabi, abiversion;
	uint32_t flags;
};

/* A plausible executable header: entry point, phdrs right after the ehdr. */
static void build_hdr(uint8_t h[HDR_LEN], const struct fact *f, const struct hdr_opts *o)
{
	uint8_t d = f->data;

	memset(h, 0, HDR_LEN);
	memcpy(h, ELFMAG, SELFMAG); // NOLINT(bugprone-not-null-terminated-result): 4 magic bytes, not a string
	h[EI_CLASS] = f->cls;
	h[EI_DATA] = d;
	h[EI_VERSION] = EV_CURRENT;
	h[EI_OSABI] = o->osabi;
	h[EI_ABIVERSION] = o->abiversion;
	if (f->cls == ELFCLASS32) {
		put(h + offsetof(Elf32_Ehdr, e_type), o->type, 2, d);
		put(h + offsetof(Elf32_Ehdr, e_machine), f->machine, 2, d);
		put(h + offsetof(Elf32_Ehdr, e_version), EV_CURRENT, 4, d);
		put(h + offsetof(Elf32_Ehdr, e_entry), 0x00401000, 4, d);
		put(h + offsetof(Elf32_Ehdr, e_phoff), sizeof(Elf32_Ehdr), 4, d);
		put(h + offsetof(Elf32_Ehdr, e_flags), o->flags, 4, d);
		put(h + offsetof(Elf32_Ehdr, e_ehsize), sizeof(Elf32_Ehdr), 2, d);
		put(h + offsetof(Elf32_Ehdr, e_phentsize), sizeof(Elf32_Phdr), 2, d);
		put(h + offsetof(Elf32_Ehdr, e_phnum), 1, 2, d);
	} else {
		put(h + offsetof(Elf64_Ehdr, e_type), o->type, 2, d);
		put(h + offsetof(Elf64_Ehdr, e_machine), f->machine, 2, d);
		put(h + offsetof(Elf64_Ehdr, e_version), EV_CURRENT, 4, d);
		put(h + offsetof(Elf64_Ehdr, e_entry), 0x0000000000401000ull, 8, d);
		put(h + offsetof(Elf64_Ehdr, e_phoff), sizeof(Elf64_Ehdr), 8, d);
		put(h + offsetof(Elf64_Ehdr, e_flags), o->flags, 4, d);
		put(h + offsetof(Elf64_Ehdr, e_ehsize), sizeof(Elf64_Ehdr), 2, d);
		put(h + offsetof(Elf64_Ehdr, e_phentsize), sizeof(Elf64_Phdr), 2, d);
		put(h + offsetof(Elf64_Ehdr, e_phnum), 1, 2, d);
	}
}

/* e_flags to try: plain, plus realistic bits (mips32r2 PIC, EABI5 hard-float). */
static size_t flag_variants(const struct fact *f, uint32_t out[2])
{
	uint32_t abi2 = f->abi == ABI_N32 ? EF_MIPS_ABI2 : 0;

	out[0] = abi2;
	if (f->machine == EM_MIPS)
		out[1] = abi2 | EF_MIPS_ARCH_32R2 | EF_MIPS_NOREORDER | EF_MIPS_PIC | EF_MIPS_CPIC;
	else
		out[1] = 0x05000400;
	return 2;
}

/* The target, if any, whose entry selects h; fails on two matches. */
static const struct target *only_match(const uint8_t *h, const char *what)
{
	const struct target *found = NULL;

	for (size_t i = 0; i < targets_count(); i++) {
		const struct target *t = target_at(i);
		if (!target_matches(t, h, HDR_LEN))
			continue;
		if (found)
			fail_msg("%s: matched by both %s and %s", what, found->cpu, t->cpu);
		found = t;
	}
	return found;
}

static void check_own_headers(const struct fact *f)
{
	static const uint16_t types[] = { ET_EXEC, ET_DYN };
	static const uint8_t osabis[] = { ELFOSABI_SYSV, ELFOSABI_GNU };
	const struct target *t = target_by_cpu(f->cpu);
	uint8_t abivers = f->any_abiversion ? 2 : 1, h[HDR_LEN];
	uint32_t flags[2];
	size_t nflags = flag_variants(f, flags);
	char what[160];

	assert_non_null(t);
	for (size_t ti = 0; ti < ARRAY_SIZE(types); ti++)
	for (size_t oi = 0; oi < ARRAY_SIZE(osabis); oi++)
	for (uint8_t av = 0; av < abivers; av++)
	for (size_t fi = 0; fi < nflags; fi++) {
		struct hdr_opts o = { types[ti], osabis[oi], av, flags[fi] };
		const struct target *m;

		build_hdr(h, f, &o);
		snprintf(what, sizeof(what), "%s header (type %u osabi %u abiver %u flags %#x)",
			 f->cpu, o.type, o.osabi, o.abiversion, o.flags);
		m = only_match(h, what);
		if (m != t)
			fail_msg("%s: selected %s", what, m ? m->cpu : "nothing");
		/* Kernel reads at most what the file has: one byte short never matches. */
		assert_false(target_matches(t, h, t->len - 1));
	}
}

static void test_own_headers_only(void **state)
{
	(void)state;
	assert_int_equal(targets_count(), ARRAY_SIZE(facts));
	for (size_t i = 0; i < ARRAY_SIZE(facts); i++)
		check_own_headers(&facts[i]);
}

/* Relocatable objects, core dumps and non-ELF files must run natively. */
static void test_non_executables(void **state)
{
	static const uint16_t types[] = { ET_NONE, ET_REL, ET_CORE };
	uint8_t h[HDR_LEN];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(facts); i++) {
		for (size_t ti = 0; ti < ARRAY_SIZE(types); ti++) {
			build_hdr(h, &facts[i], &(struct hdr_opts){ .type = types[ti] });
			assert_null(only_match(h, facts[i].cpu));
		}
		build_hdr(h, &facts[i], &(struct hdr_opts){ .type = ET_EXEC });
		h[3] = 'G';
		assert_null(only_match(h, facts[i].cpu));
	}
	assert_false(target_matches(target_at(0), NULL, 64));
	assert_false(target_matches(NULL, h, sizeof(h)));
}

/* The descriptive fields agree with the facts (and so with the bytes). */
static void test_fields(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(facts); i++) {
		const struct fact *f = &facts[i];
		const struct target *t = target_at(i);

		assert_non_null(t);
		assert_string_equal(t->cpu, f->cpu);  /* same order as QEMU */
		assert_int_equal(t->elf_class, f->cls);
		assert_int_equal(t->elf_data, f->data);
		assert_int_equal(t->e_machine, f->machine);
		assert_int_equal(t->e_flags, f->abi == ABI_N32 ? EF_MIPS_ABI2 : 0);
		assert_true(t->len == 20 || t->len == 40);
		assert_int_equal(t->len == 40, f->abi != ABI_ANY);
		assert_int_equal(t->mask[EI_OSABI], 0);  /* OSABI policy */
		if (f->platform)
			assert_string_equal(t->platform, f->platform);
		else
			assert_null(t->platform);
		assert_string_equal(target_display_name(t), f->platform ? f->platform : f->cpu);
		assert_non_null(t->aliases);
	}
	assert_null(target_at(targets_count()));
	assert_null(target_by_cpu("AARCH64"));  /* exact */
	assert_null(target_by_cpu(NULL));
}

/* ---- upstream bytes --------------------------------------------------- */

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (s[0] == '\\' && s[1] == 'x') {
		unsigned v = 0;
		if (n == max || sscanf(s + 2, "%2x", &v) != 1)
			fail_msg("bad escape in %s", s);
		out[n++] = (uint8_t)v;
		s += 4;
	}
	return n;
}

/* The documented deviations from QEMU 10.0 (see targets.c). */
static bool allowed_diff(const char *cpu, bool is_mask, size_t byte)
{
	if (strcmp(cpu, "microblaze") == 0)
		return byte >= 16 && byte <= 19;
	if (strcmp(cpu, "loongarch64") == 0)
		return is_mask && byte == EI_OSABI;
	return false;
}

static size_t diff_row(const struct target *t, const uint8_t *m, const uint8_t *k)
{
	size_t diffs = 0;

	for (size_t b = 0; b < t->len; b++) {
		if (t->magic[b] != m[b] && !allowed_diff(t->cpu, false, b))
			fail_msg("%s: magic byte %zu is %#x, upstream %#x", t->cpu, b, t->magic[b], m[b]);
		if (t->mask[b] != k[b] && !allowed_diff(t->cpu, true, b))
			fail_msg("%s: mask byte %zu is %#x, upstream %#x", t->cpu, b, t->mask[b], k[b]);
		diffs += (t->magic[b] != m[b]) + (t->mask[b] != k[b]);
	}
	return diffs;
}

static void test_upstream_bytes(void **state)
{
	_cleanup_fclose_ FILE *f = fopen(TABLE_FILE, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, row = 0, mb_diffs = 0, la_diffs = 0;

	(void)state;
	if (!f)
		fail_msg("cannot open %s", TABLE_FILE);
	assert_true(getline(&line, &cap, f) > 0);  /* header */
	while (getline(&line, &cap, f) > 0) {
		char *name = strtok(line, "\t"), *magic = strtok(NULL, "\t");
		char *mask = strtok(NULL, "\t"), *family = strtok(NULL, "\t\n");
		uint8_t m[TARGET_MAGIC_MAX] = { 0 }, k[TARGET_MAGIC_MAX] = { 0 };
		const struct target *t = target_at(row++);
		size_t diffs;

		assert_non_null(family);
		assert_non_null(t);
		assert_string_equal(t->cpu, name);
		assert_string_equal(t->family, family);
		assert_int_equal(unhex(magic, m, sizeof(m)), t->len);
		assert_int_equal(unhex(mask, k, sizeof(k)), t->len);
		diffs = diff_row(t, m, k);
		if (!strcmp(name, "microblaze"))
			mb_diffs = diffs;
		else if (!strcmp(name, "loongarch64"))
			la_diffs = diffs;
	}
	assert_int_equal(row, 34);
	assert_int_equal(targets_count(), 34);
	/* The fixes are really applied: e_type swapped in magic and mask, one mask byte. */
	assert_int_equal(mb_diffs, 4);
	assert_int_equal(la_diffs, 1);
}

/* Same-family targets are skipped on a host of that family (QEMU's rule). */
static void test_families(void **state)
{
	(void)state;
	assert_true(target_same_family(target_by_cpu("i386"), target_by_cpu("x86_64")));
	assert_true(target_same_family(target_by_cpu("arm"), target_by_cpu("aarch64")));
	assert_true(target_same_family(target_by_cpu("mipsn32el"), target_by_cpu("mips64")));
	assert_false(target_same_family(target_by_cpu("ppc64"), target_by_cpu("ppc64le")));
	assert_false(target_same_family(target_by_cpu("armeb"), target_by_cpu("arm")));
	assert_false(target_same_family(target_by_cpu("arm"), NULL));
}

/* ---- names ------------------------------------------------------------ */

static void expect(const char *name, const char *cpu)
{
	const struct target *t = NULL;
	int r = target_resolve(name, &t);

	if (r != 0)
		fail_msg("'%s': want %s, got error %d", name, cpu, r);
	if (strcmp(t->cpu, cpu) != 0)
		fail_msg("'%s': want %s, got %s", name, cpu, t->cpu);
}

static void expect_err(const char *name, int err)
{
	const struct target *t = NULL;
	int r = target_resolve(name, &t);

	if (r != err)
		fail_msg("'%.40s': want %d, got %d (%s)", name, err, r, t ? t->cpu : "-");
	assert_null(t);
}

/* Every name a row answers to, including its OCI arch ("arm" of "linux/arm/v7"). */
static size_t names_of(const struct target *t, const char *out[16], char arch[32])
{
	size_t n = 0;

	out[n++] = t->cpu;
	for (const char *const *a = t->aliases; *a; a++)
		out[n++] = *a;
	if (t->platform) {
		const char *s = strchr(t->platform, '/') + 1;
		snprintf(arch, 32, "%.*s", (int)strcspn(s, "/"), s);
		out[n++] = arch;
	}
	return n;
}

static size_t claimants(const char *name)
{
	size_t count = 0;

	for (size_t i = 0; i < targets_count(); i++) {
		const char *names[16];
		char arch[32];
		size_t n = names_of(target_at(i), names, arch);
		bool hit = false;

		for (size_t j = 0; j < n; j++)
			hit |= strcasecmp(names[j], name) == 0;
		count += hit;
	}
	return count;
}

/* name appears in the accepted-names text as a whole word. */
static bool listed(const char *name)
{
	const char *all = targets_accepted_names(), *s = all;
	size_t n = strlen(name);

	while ((s = strstr(s, name))) {
		bool starts = s == all || strchr(" (", s[-1]);
		bool ends = strchr(",)", s[n]) != NULL;
		if (starts && ends)
			return true;
		s++;
	}
	return false;
}

static void test_names_unique(void **state)
{
	(void)state;
	for (size_t i = 0; i < targets_count(); i++) {
		const struct target *t = target_at(i);
		const char *names[16];
		char arch[32], upper[64], entry[64];
		size_t n = names_of(t, names, arch);

		for (size_t j = 0; j < n; j++) {
			if (claimants(names[j]) != 1)
				fail_msg("'%s' is claimed by %zu targets", names[j], claimants(names[j]));
			expect(names[j], t->cpu);
			for (size_t c = 0; c <= strlen(names[j]); c++)
				upper[c] = (char)toupper((unsigned char)names[j][c]);
			expect(upper, t->cpu);
			/* Error messages must list what is accepted. */
			if (!listed(names[j]))
				fail_msg("'%s' missing from targets_accepted_names()", names[j]);
		}
		snprintf(entry, sizeof(entry), "qemu-%s", t->cpu);
		expect(entry, t->cpu);
		if (t->platform) {
			expect(t->platform, t->cpu);
			if (!listed(t->platform))
				fail_msg("'%s' missing from targets_accepted_names()", t->platform);
		}
	}
}

/* Every platform the table names is already normalized, as builders print it. */
static void test_platforms_normalized(void **state)
{
	(void)state;
	for (size_t i = 0; i < targets_count(); i++) {
		const struct target *t = target_at(i);
		struct platform p;
		char buf[128];

		if (!t->platform)
			continue;
		assert_int_equal(platform_parse(t->platform, &p), 0);
		assert_int_equal(platform_format(&p, buf, sizeof(buf)), 0);
		assert_string_equal(buf, t->platform);
	}
}

static void test_resolve(void **state)
{
	static const char *const cases[][2] = {
		{ "arm64", "aarch64" }, { "aarch64", "aarch64" }, { "linux/arm64", "aarch64" },
		{ "linux/arm64/v8", "aarch64" }, { "qemu-aarch64", "aarch64" },
		{ "AARCH64", "aarch64" }, { "linux/arm64/v8.2", "aarch64" },
		{ "linux/arm64/v9", "aarch64" }, { "linux/aarch64", "aarch64" },
		{ "armhf", "arm" }, { "armel", "arm" }, { "linux/arm/v7", "arm" },
		{ "linux/arm/v6", "arm" }, { "arm/v7", "arm" }, { "linux/arm", "arm" },
		{ "linux/arm/v5", "arm" }, { "linux/arm/8", "arm" }, { "armv7l", "arm" },
		{ "linux/armv7l", "arm" }, { "ARM/V6", "arm" },
		{ "ppc64el", "ppc64le" }, { "ppc64le", "ppc64le" }, { "linux/ppc64le", "ppc64le" },
		{ "linux/ppc64el", "ppc64le" },
		{ "mips64el", "mips64el" }, { "mips64le", "mips64el" },
		{ "linux/mips64le", "mips64el" }, { "linux/mipsle", "mipsel" },
		{ "loong64", "loongarch64" }, { "loongarch64", "loongarch64" },
		{ "linux/loong64", "loongarch64" },
		{ "amd64", "x86_64" }, { "x86_64", "x86_64" }, { "linux/amd64/v3", "x86_64" },
		{ "linux/amd64/v1", "x86_64" }, { "linux/x86_64", "x86_64" }, { "amd64/v2", "x86_64" },
		{ "386", "i386" }, { "i386", "i386" }, { "i686", "i386" }, { "linux/386", "i386" },
		{ "linux/i686", "i386" }, { "linux/i386/v2", "i386" }, { "QEMU-I386", "i386" },
		{ "linux/riscv64", "riscv64" }, { "linux/s390x", "s390x" },
		{ "qemu-mipsn32el", "mipsn32el" }, { "linux/riscv32", "riscv32" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		expect(cases[i][0], cases[i][1]);
	assert_int_equal(target_resolve("arm64", NULL), 0);
}

static void test_resolve_errors(void **state)
{
	char huge[5001];

	(void)state;
	memset(huge, 'a', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	expect_err("", -EINVAL);
	expect_err(NULL, -EINVAL);
	expect_err("arm64 ", -EINVAL);
	expect_err(" arm64", -EINVAL);
	expect_err("a:b", -EINVAL);
	expect_err("arm64\n", -EINVAL);
	expect_err("linux/*", -EINVAL);
	expect_err("/linux/arm", -EINVAL);
	expect_err("linux/arm/", -EINVAL);
	expect_err("linux/arm/v7/x", -EINVAL);
	expect_err(huge, -EINVAL);
	huge[256] = '\0';
	expect_err(huge, -EINVAL);   /* 256: one over the limit */
	huge[255] = '\0';
	expect_err(huge, -ENOENT);   /* 255: well-formed, unknown */
	expect_err("foo", -ENOENT);
	expect_err("all", -ENOENT);  /* a CLI keyword, not a target */
	expect_err("linux/foo", -ENOENT);
	expect_err("linux/riscv64/v2", -ENOENT);
	expect_err("linux/386/v2", -ENOENT);
	expect_err("linux/amd64/v5", -ENOENT);
	expect_err("linux/arm/v4", -ENOENT);
	expect_err("linux/arm64/foo", -ENOENT);
	expect_err("qemu-foo", -ENOENT);
	expect_err("qemu-", -ENOENT);
	expect_err("qemu-arm64", -ENOENT);  /* entry names use cpu names only */
	expect_err("windows/arm64", -EOPNOTSUPP);
	expect_err("darwin/amd64", -EOPNOTSUPP);
	expect_err("foo/bar", -EOPNOTSUPP);  /* os "foo" is not linux */
	expect_err("windows", -ENOENT);      /* bare names are arches */
}

static void test_for_machine(void **state)
{
	static const char *const cases[][2] = {
		{ "x86_64", "x86_64" }, { "i386", "i386" }, { "i586", "i386" }, { "i686", "i386" },
		{ "aarch64", "aarch64" }, { "aarch64_be", "aarch64_be" }, { "armv7l", "arm" },
		{ "armv6l", "arm" }, { "armv5tel", "arm" }, { "armv8l", "arm" }, { "armv7b", "armeb" },
		{ "ppc64le", "ppc64le" }, { "ppc64", "ppc64" }, { "ppc", "ppc" },
		{ "s390x", "s390x" }, { "riscv64", "riscv64" }, { "loongarch64", "loongarch64" },
		{ "sparc64", "sparc64" }, { "parisc64", "hppa" }, { "parisc", "hppa" },
		{ "m68k", "m68k" }, { "alpha", "alpha" }, { "sh4", "sh4" }, { "sh4a", "sh4" },
	};
	const char *mips64;

	(void)state;
	assert_non_null(target_for_machine("mips64"));
	mips64 = target_for_machine("mips64")->cpu;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct target *t = target_for_machine(cases[i][0]);
		if (!t || strcmp(t->cpu, cases[i][1]) != 0)
			fail_msg("uname -m %s: want %s, got %s", cases[i][0], cases[i][1],
				 t ? t->cpu : "NULL");
	}
	/* Kernels say "mips64" for both byte orders; either is family mips. */
	assert_true(!strcmp(mips64, "mips64") || !strcmp(mips64, "mips64el"));
	assert_string_equal(target_for_machine("mips")->family, "mips");
	assert_null(target_for_machine("vax"));
	assert_null(target_for_machine(""));
	assert_null(target_for_machine(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_headers_only),
		cmocka_unit_test(test_non_executables),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_upstream_bytes),
		cmocka_unit_test(test_families),
		cmocka_unit_test(test_names_unique),
		cmocka_unit_test(test_platforms_normalized),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_resolve_errors),
		cmocka_unit_test(test_for_machine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * The QEMU linux-user target table and every name that selects a row.
 *
 * Bytes are QEMU 10.0's scripts/qemu-binfmt-conf.sh (tests/data/
 * qemu-binfmt-table.tsv) with two deliberate changes, both checked by
 * tests/unit/test_targets.c against that file:
 *
 *  1. microblaze: upstream puts e_type/e_machine in little-endian order
 *     (\x02\x00\xba\xab, mask \xfe\xff\xff\xff) in a big-endian entry, so it
 *     never matches a real BE executable, whose bytes 16-17 are 00 02. We use
 *     Debian's BE-correct \x00\x02\xba\xab / \xff\xfe\xff\xff.
 *  2. OSABI: byte 7 (EI_OSABI) is masked with 0x00 for every target. The
 *     kernel's ELF loader ignores EI_OSABI, and toolchains emit 0 (SYSV) or
 *     3 (GNU, whenever IFUNC or unique symbols are used) at will. Upstream
 *     already does this everywhere except loongarch64 (0xfc), which we align.
 *
 * Everything else is byte-identical to upstream, including its quirks:
 *  - i386/i486/x86_64/alpha mask EI_DATA and EI_VERSION with 0xfe and m68k
 *    masks EI_VERSION with 0xfe, so for them magic & mask != magic. The
 *    kernel compares ((file ^ magic) & mask), so that is harmless.
 *  - ppc64le masks the high byte of e_machine with 0x00.
 *  - mips/mipsel/mipsn32/mipsn32el use 40 bytes to reach ELF32 e_flags
 *    (bytes 36-39) and tell o32 from n32 by EF_MIPS_ABI2 (0x20); without it
 *    mips and mipsn32 would share a magic and the one registered last would
 *    shadow the other. All mips targets and loongarch64 ignore EI_ABIVERSION
 *    (byte 8): glibc's MIPS/LoongArch linkers set it (PLT, unique, xhash).
 *  - e_type masks the low bit: ET_EXEC (2) and ET_DYN (3, PIE) both match.
 *  - microblaze's e_machine is 0xbaab (EM_MICROBLAZE_OLD, binutils'
 *    historical value). The kernel and QEMU also accept 189 (EM_MICROBLAZE),
 *    but no entry, upstream's or ours, matches that.
 */
#include <elf.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "entry.h"
#include "platform.h"
#include "targets.h"
#include "util.h"

/* Neither is in glibc's <elf.h>: EM_486 is the kernel's name (glibc reuses 6
 * as EM_IAMCU), EM_MICROBLAZE_OLD the kernel's and binutils'. */
#define EM_486 6
#define EM_MICROBLAZE_OLD 0xbaab

#define NAME_MAX_LEN 255

/* e_ident (bytes 0-15): \x7fELF, class, data, EI_VERSION 1, OSABI 0, pad. */
#define ID32LE "\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"
#define ID32BE "\x7f\x45\x4c\x46\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"
#define ID64LE "\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"
#define ID64BE "\x7f\x45\x4c\x46\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"

/* e_ident masks; byte 7 (EI_OSABI) is 0x00 in all of them (policy above). */
#define IDMASK      "\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff"
#define IDMASK_X86  "\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff"
#define IDMASK_M68K "\xff\xff\xff\xff\xff\xff\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff"
#define IDMASK_ABIV "\xff\xff\xff\xff\xff\xff\xff\x00\x00\xff\xff\xff\xff\xff\xff\xff"

/* e_type ET_EXEC with the low bit masked, so ET_DYN (PIE) matches too. */
#define TYPE_LE "\x02\x00"
#define TYPE_BE "\x00\x02"
#define TYPEMASK_LE "\xfe\xff"
#define TYPEMASK_BE "\xff\xfe"

/* mips o32/n32: e_version 1, then nothing but EF_MIPS_ABI2 in e_flags. */
#define MIPS_TAIL_BE(abi2) "\x00\x00\x00\x01" "\x00\x00\x00\x00\x00\x00\x00\x00" \
	"\x00\x00\x00\x00" "\x00\x00\x00" abi2
#define MIPS_TAIL_LE(abi2) "\x01\x00\x00\x00" "\x00\x00\x00\x00\x00\x00\x00\x00" \
	"\x00\x00\x00\x00" abi2 "\x00\x00\x00"
#define MIPS_TAILMASK_BE "\xff\xff\xff\xff" "\x00\x00\x00\x00\x00\x00\x00\x00" \
	"\x00\x00\x00\x00" "\x00\x00\x00\x20"
#define MIPS_TAILMASK_LE "\xff\xff\xff\xff" "\x00\x00\x00\x00\x00\x00\x00\x00" \
	"\x00\x00\x00\x00" "\x20\x00\x00\x00"

/* Magic and mask must have the same length: a mismatch fails to compile. */
#define MAGIC(m, k) \
	.len = sizeof(m) - 1 + 0 * sizeof(char[sizeof(m) == sizeof(k) ? 1 : -1]), \
	.magic = m, .mask = k

#define ALIASES(...) (const char *const[]){ __VA_ARGS__, NULL }
#define NO_ALIASES (const char *const[]){ NULL }

#define ELF(c, d, m) .elf_class = ELFCLASS##c, .elf_data = ELFDATA2##d, .e_machine = m

/* Order is QEMU's (stable: "all" and listings follow it). */
static const struct target table[] = {
	{ .cpu = "i386", .family = "i386", .platform = "linux/386",
	  .aliases = ALIASES("386", "i586", "i686"), ELF(32, LSB, EM_386),
	  MAGIC(ID32LE TYPE_LE "\x03\x00", IDMASK_X86 TYPEMASK_LE "\xff\xff") },
	{ .cpu = "i486", .family = "i386", .aliases = NO_ALIASES, ELF(32, LSB, EM_486),
	  MAGIC(ID32LE TYPE_LE "\x06\x00", IDMASK_X86 TYPEMASK_LE "\xff\xff") },
	{ .cpu = "x86_64", .family = "i386", .platform = "linux/amd64",
	  .aliases = ALIASES("amd64", "x86-64"), ELF(64, LSB, EM_X86_64),
	  MAGIC(ID64LE TYPE_LE "\x3e\x00", IDMASK_X86 TYPEMASK_LE "\xff\xff") },
	{ .cpu = "alpha", .family = "alpha", .aliases = NO_ALIASES, ELF(64, LSB, EM_ALPHA),
	  MAGIC(ID64LE TYPE_LE "\x26\x90", IDMASK_X86 TYPEMASK_LE "\xff\xff") },
	{ .cpu = "arm", .family = "arm", .platform = "linux/arm/v7",
	  .aliases = ALIASES("armhf", "armel", "armv7l", "armv6l", "armv5l", "armv5tel",
			     "armv7", "armv6", "armv8l"),
	  ELF(32, LSB, EM_ARM), MAGIC(ID32LE TYPE_LE "\x28\x00", IDMASK TYPEMASK_LE "\xff\xff") },
	{ .cpu = "armeb", .family = "armeb", .aliases = NO_ALIASES, ELF(32, MSB, EM_ARM),
	  MAGIC(ID32BE TYPE_BE "\x00\x28", IDMASK TYPEMASK_BE "\xff\xff") },
	{ .cpu = "sparc", .family = "sparc", .aliases = NO_ALIASES, ELF(32, MSB, EM_SPARC),
	  MAGIC(ID32BE TYPE_BE "\x00\x02", IDMASK TYPEMASK_BE "\xff\xff") },
	{ .cpu = "sparc32plus", .family = "sparc", .aliases = NO_ALIASES,
	  ELF(32, MSB, EM_SPARC32PLUS),
	  MAGIC(ID32BE TYPE_BE "\x00\x12", IDMASK TYPEMASK_BE "\xff\xff") },
	{ .cpu = "sparc64", .family = "sparc", .aliases = NO_ALIASES, ELF(64, MSB, EM_SPARCV9),
	  MAGIC(ID64BE TYPE_BE "\x00\x2b", IDMASK TYPEMASK_BE "\xff\xff") },
	{ .cpu = "ppc", .family = "ppc", .aliases = ALIASES("powerpc"), ELF(32, MSB, EM_PPC),
	  MAGIC(ID32BE TYPE_BE "\x00\x14", IDMASK TYPEMASK_BE "\xff\xff") },
	{ .cpu = "ppc64", .family = "ppc", .platform = "linux/ppc64",
	  .aliases = ALIASES("powerpc64"), ELF(64, MSB, EM_PPC64),
	  MAGIC(ID64BE TYPE_BE "\x00\x15", IDMASK TYPEMASK_BE "\xff\xff") },
	/* Upstream ignores the high byte of e_machine here (mask \x00). */
	{ .cpu = "ppc64le", .family = "ppcle", .platform = "linux/ppc64le",
	  .aliases = ALIASES("ppc64el", "powerpc64le"), ELF(64, LSB, EM_PPC64),
	  MAGIC(ID64LE TYPE_LE "\x15\x00", IDMASK TYPEMASK_LE "\xff\x00") },
	{ .cpu = "m68k", .family = "m68k", .aliases = NO_ALIASES, ELF(32, MSB, EM_68K),
	  MAGIC(ID32BE TYPE_BE "\x00\x04", IDMASK_M68K TYPEMASK_BE "\xff\xff") },
	/* o32: EF_MIPS_ABI2 must be clear; n32: set. Anything else in e_flags goes. */
	{ .cpu = "mips", .family = "mips", .platform = "linux/mips", .aliases = NO_ALIASES,
	  ELF(32, MSB, EM_MIPS),
	  MAGIC(ID32BE TYPE_BE "\x00\x08" MIPS_TAIL_BE("\x00"),
		IDMASK_ABIV TYPEMASK_BE "\xff\xff" MIPS_TAILMASK_BE) },
	{ .cpu = "mipsel", .family = "mips", .platform = "linux/mipsle",
	  .aliases = ALIASES("mipsle"), ELF(32, LSB, EM_MIPS),
	  MAGIC(ID32LE TYPE_LE "\x08\x00" MIPS_TAIL_LE("\x00"),
		IDMASK_ABIV TYPEMASK_LE "\xff\xff" MIPS_TAILMASK_LE) },
	{ .cpu = "mipsn32", .family = "mips", .aliases = NO_ALIASES,
	  ELF(32, MSB, EM_MIPS), .e_flags = EF_MIPS_ABI2,
	  MAGIC(ID32BE TYPE_BE "\x00\x08" MIPS_TAIL_BE("\x20"),
		IDMASK_ABIV TYPEMASK_BE "\xff\xff" MIPS_TAILMASK_BE) },
	{ .cpu = "mipsn32el", .family = "mips", .aliases = NO_ALIASES,
	  ELF(32, LSB, EM_MIPS), .e_flags = EF_MIPS_ABI2,
	  MAGIC(ID32LE TYPE_LE "\x08\x00" MIPS_TAIL_LE("\x20"),
		IDMASK_ABIV TYPEMASK_LE "\xff\xff" MIPS_TAILMASK_LE) },
	{ .cpu = "mips64", .family = "mips", .platform = "linux/mips64", .aliases = NO_ALIASES,
	  ELF(64, MSB, EM_MIPS),
	  MAGIC(ID64BE TYPE_BE "\x00\x08", IDMASK_ABIV TYPEMASK_BE "\xff\xff") },
	{ .cpu = "mips64el", .family = "mips", .platform = "linux/mips64le",
	  .aliases = ALIASES("mips64le"), ELF(64, LSB, EM_MIPS),
	  MAGIC(ID64LE TYPE_LE "\x08\x00", IDMASK_ABIV TYPEMASK_LE "\xff\xff") },
	{ .cpu = "sh4", .family = "sh4", .aliases = NO_ALIASES, ELF(32, LSB, EM_SH),
	  MAGIC(ID32LE TYPE_LE "\x2a\x00", IDMASK TYPEMASK_LE "\xff\xff") },
	{ .cpu = "sh4eb", .family = "sh4", .aliases = NO_ALIASES, ELF(32, MSB, EM_SH),
	  MAGIC(ID32BE TYPE_BE "\x00\x2a", IDMASK TYPEMASK_BE "\xff\xff") },
	{ .cpu = "s390x", .family = "s390x", .platform = "linux/s390x", .aliases = NO_ALIASES,
	  ELF(64, MSB, EM_S390),
	  MAGIC(ID64BE TYPE_BE "\x00\x16", IDMASK TYPEMASK_BE "\xff\xff") },
	{ .cpu = "aarch64", .family = "arm", .platform = "linux/arm64",
	  .aliases = ALIASES("arm64"), ELF(64, LSB, EM_AARCH64),
	  MAGIC(ID64LE TYPE_LE "\xb7\x00", IDMASK TYPEMASK_LE "\xff\xff") },
	{ .cpu = "aarch64_be", .family = "armeb", .aliases = ALIASES("arm64be"),
	  ELF(64, MSB, EM_AARCH64),
	  MAGIC(ID64BE TYPE_BE "\x00\xb7", IDMASK TYPEMASK_BE "\xff\xff") },
	{ .cpu = "hppa", .family = "hppa", .aliases = ALIASES("parisc"), ELF(32, MSB, EM_PARISC),
	  MAGIC(ID32BE TYPE_BE "\x00\x0f", IDMASK TYPEMASK_BE "\xff\xff") },
	{ .cpu = "riscv32", .family = "riscv", .aliases = NO_ALIASES, ELF(32, LSB, EM_RISCV),
	  MAGIC(ID32LE TYPE_LE "\xf3\x00", IDMASK TYPEMASK_LE "\xff\xff") },
	{ .cpu = "riscv64", .family = "riscv", .platform = "linux/riscv64",
	  .aliases = NO_ALIASES, ELF(64, LSB, EM_RISCV),
	  MAGIC(ID64LE TYPE_LE "\xf3\x00", IDMASK TYPEMASK_LE "\xff\xff") },
	{ .cpu = "xtensa", .family = "xtensa", .aliases = NO_ALIASES, ELF(32, LSB, EM_XTENSA),
	  MAGIC(ID32LE TYPE_LE "\x5e\x00", IDMASK TYPEMASK_LE "\xff\xff") },
	{ .cpu = "xtensaeb", .family = "xtensaeb", .aliases = NO_ALIASES,
	  ELF(32, MSB, EM_XTENSA),
	  MAGIC(ID32BE TYPE_BE "\x00\x5e", IDMASK TYPEMASK_BE "\xff\xff") },
	/* Upstream: TYPE_LE/TYPEMASK_LE here, i.e. never matches (see top). */
	{ .cpu = "microblaze", .family = "microblaze", .aliases = NO_ALIASES,
	  ELF(32, MSB, EM_MICROBLAZE_OLD),
	  MAGIC(ID32BE TYPE_BE "\xba\xab", IDMASK TYPEMASK_BE "\xff\xff") },
	{ .cpu = "microblazeel", .family = "microblazeel", .aliases = NO_ALIASES,
	  ELF(32, LSB, EM_MICROBLAZE_OLD),
	  MAGIC(ID32LE TYPE_LE "\xab\xba", IDMASK TYPEMASK_LE "\xff\xff") },
	{ .cpu = "or1k", .family = "or1k", .aliases = ALIASES("openrisc"),
	  ELF(32, MSB, EM_OPENRISC),
	  MAGIC(ID32BE TYPE_BE "\x00\x5c", IDMASK TYPEMASK_BE "\xff\xff") },
	{ .cpu = "hexagon", .family = "hexagon", .aliases = NO_ALIASES, ELF(32, LSB, EM_QDSP6),
	  MAGIC(ID32LE TYPE_LE "\xa4\x00", IDMASK TYPEMASK_LE "\xff\xff") },
	/* Upstream masks EI_OSABI with 0xfc here; 0x00 by our policy. */
	{ .cpu = "loongarch64", .family = "loongarch", .platform = "linux/loong64",
	  .aliases = ALIASES("loong64"), ELF(64, LSB, EM_LOONGARCH),
	  MAGIC(ID64LE TYPE_LE "\x02\x01", IDMASK_ABIV TYPEMASK_LE "\xff\xff") },
};

size_t targets_count(void)
{
	return ARRAY_SIZE(table);
}

const struct target *target_at(size_t i)
{
	return i < ARRAY_SIZE(table) ? &table[i] : NULL;
}

const struct target *target_by_cpu(const char *cpu)
{
	if (!cpu)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (strcmp(table[i].cpu, cpu) == 0)
			return &table[i];
	return NULL;
}

static const struct target *by_cpu_ci(const char *cpu)
{
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (strcasecmp(table[i].cpu, cpu) == 0)
			return &table[i];
	return NULL;
}

/* The arch part of a target's platform ("linux/arm/v7" → "arm"), or NULL. */
static const char *platform_arch(const struct target *t, char *buf, size_t n)
{
	const char *a, *end;

	if (!t->platform)
		return NULL;
	a = strchr(t->platform, '/') + 1;
	end = strchr(a, '/');
	snprintf(buf, n, "%.*s", (int)(end ? (size_t)(end - a) : strlen(a)), a);
	return buf;
}

static bool answers_to(const struct target *t, const char *name)
{
	char arch[32];
	const char *oci = platform_arch(t, arch, sizeof(arch));

	if (strcasecmp(t->cpu, name) == 0)
		return true;
	if (oci && strcasecmp(oci, name) == 0)
		return true;
	for (const char *const *a = t->aliases; a && *a; a++)
		if (strcasecmp(*a, name) == 0)
			return true;
	return false;
}

/* A bare name: cpu name, alias or OCI arch, case-insensitive. */
static const struct target *by_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (answers_to(&table[i], name))
			return &table[i];
	return NULL;
}

static const struct target *by_platform_arch(const char *arch)
{
	char buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		const char *oci = platform_arch(&table[i], buf, sizeof(buf));
		if (oci && strcmp(oci, arch) == 0)
			return &table[i];
	}
	return NULL;
}

/* arm64 variants are ISA levels v8.x/v9.x: any of them runs on qemu-aarch64. */
static bool arm64_variant_ok(const char *v)
{
	return v[0] == '\0' || fnmatch("v[89]", v, 0) == 0 ||
	       fnmatch("v[89].[0-9]", v, 0) == 0;
}

static bool in_variants(const char *v, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(v, *list) == 0)
			return true;
	return false;
}

static const struct target *by_platform(const struct platform *p)
{
	static const char *const amd64_v[] = { "", "v2", "v3", "v4", NULL };
	static const char *const arm_v[] = { "v5", "v6", "v7", "v8", NULL };

	if (!strcmp(p->arch, "amd64"))
		return in_variants(p->variant, amd64_v) ? target_by_cpu("x86_64") : NULL;
	if (!strcmp(p->arch, "arm"))
		return in_variants(p->variant, arm_v) ? target_by_cpu("arm") : NULL;
	if (!strcmp(p->arch, "arm64"))
		return arm64_variant_ok(p->variant) ? target_by_cpu("aarch64") : NULL;
	/* Nothing else has variants QEMU could honour (riscv64/v2 is not a thing). */
	if (p->variant[0])
		return NULL;
	/* containerd leaves unknown arches alone, so linux/i686 or linux/ppc64el
	 * arrive here verbatim: fall back to the names people type. */
	return by_platform_arch(p->arch) ?: by_name(p->arch);
}

/*
 * "os/arch[/variant]", plus the "arch/variant" shorthand ("arm/v7"), which
 * containerd would read as os "arm": when the first of two components is a
 * name a target answers to, it is an arch (no OS is also an arch name).
 */
static int resolve_platform(const char *name, const struct target **out)
{
	char buf[NAME_MAX_LEN + sizeof("linux/")];
	const char *slash = strchr(name, '/');
	struct platform p;

	snprintf(buf, sizeof(buf), "%.*s", (int)(slash - name), name);
	if (!strchr(slash + 1, '/') && by_name(buf))
		snprintf(buf, sizeof(buf), "linux/%s", name);
	else
		snprintf(buf, sizeof(buf), "%s", name);
	if (platform_parse(buf, &p) < 0)
		return -EINVAL;
	if (strcmp(p.os, "linux") != 0)
		return -EOPNOTSUPP;
	*out = by_platform(&p);
	return *out ? 0 : -ENOENT;
}

/* Names are used in messages and entry names: keep them plain and short. */
static bool name_ok(const char *name)
{
	size_t len;

	if (!name)
		return false;
	len = strlen(name);
	return len > 0 && len <= NAME_MAX_LEN &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789_./-") == len;
}

int target_resolve(const char *name, const struct target **out)
{
	const struct target *t;
	int r = 0;

	if (!name_ok(name))
		return -EINVAL;
	if (strchr(name, '/'))
		r = resolve_platform(name, &t);
	else if (strncasecmp(name, "qemu-", 5) == 0)
		t = by_cpu_ci(name + 5);  /* entry names carry the exact cpu */
	else
		t = by_name(name);
	if (r < 0)
		return r;
	if (!t)
		return -ENOENT;
	if (out)
		*out = t;
	return 0;
}

/*
 * uname -m → target, first match wins. The kernel reports "mips"/"mips64"
 * for both byte orders, so there our own (native) byte order decides;
 * 64-bit kernels report i686/armv8l for 32-bit personalities (linux32).
 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define MIPS_CPU "mipsel"
#define MIPS64_CPU "mips64el"
#else
#define MIPS_CPU "mips"
#define MIPS64_CPU "mips64"
#endif

static const struct {
	const char *glob;
	const char *cpu;
} machines[] = {
	{ "x86_64", "x86_64" }, { "amd64", "x86_64" }, { "i[3-6]86", "i386" },
	{ "aarch64_be", "aarch64_be" }, { "aarch64", "aarch64" }, { "arm64", "aarch64" },
	{ "armv*b", "armeb" }, { "armeb", "armeb" }, { "armv*l", "arm" }, { "arm", "arm" },
	{ "ppc64le", "ppc64le" }, { "ppc64", "ppc64" }, { "ppc", "ppc" },
	{ "s390x", "s390x" }, { "riscv64", "riscv64" }, { "riscv32", "riscv32" },
	{ "mips64el", "mips64el" }, { "mips64", MIPS64_CPU },
	{ "mipsel", "mipsel" }, { "mips", MIPS_CPU },
	{ "loongarch64", "loongarch64" }, { "sparc64", "sparc64" }, { "sparc", "sparc" },
	{ "alpha", "alpha" }, { "m68k", "m68k" }, { "sh4*eb", "sh4eb" }, { "sh4*", "sh4" },
	{ "parisc*", "hppa" }, { "xtensa", "xtensa" }, { "microblazeel", "microblazeel" },
	{ "microblaze", "microblaze" }, { "or1k", "or1k" }, { "openrisc", "or1k" },
	{ "hexagon", "hexagon" },
};

const struct target *target_for_machine(const char *uname_machine)
{
	if (!uname_machine)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(machines); i++)
		if (fnmatch(machines[i].glob, uname_machine, 0) == 0)
			return target_by_cpu(machines[i].cpu);
	return NULL;
}

bool target_same_family(const struct target *a, const struct target *b)
{
	return a && b && strcmp(a->family, b->family) == 0;
}

/* The kernel's test, fs/binfmt_misc.c check_file(): ((file ^ magic) & mask). */
bool target_matches(const struct target *t, const uint8_t *hdr, size_t len)
{
	return t && hdr && len >= t->len && magic_match(hdr, t->magic, t->mask, t->len);
}

const char *target_display_name(const struct target *t)
{
	if (!t)
		return NULL;
	return t->platform ? t->platform : t->cpu;
}

const char *targets_accepted_names(void)
{
	return "platforms (linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/amd64/v4, "
	       "linux/386, linux/arm64, linux/arm/v7, linux/arm/v6, linux/arm/v5, "
	       "linux/ppc64le, linux/ppc64, linux/s390x, linux/riscv64, linux/mips64le, "
	       "linux/mips64, linux/mipsle, linux/mips, linux/loong64), "
	       "QEMU names, optionally prefixed qemu- (i386, i486, x86_64, alpha, arm, "
	       "armeb, sparc, sparc32plus, sparc64, ppc, ppc64, ppc64le, m68k, mips, mipsel, "
	       "mipsn32, mipsn32el, mips64, mips64el, sh4, sh4eb, s390x, aarch64, "
	       "aarch64_be, hppa, riscv32, riscv64, xtensa, xtensaeb, microblaze, "
	       "microblazeel, or1k, hexagon, loongarch64), "
	       "Debian/uname/OCI names (amd64, x86-64, 386, i586, i686, arm64, armhf, armel, "
	       "armv7l, armv6l, armv5l, armv5tel, armv7, armv6, armv8l, arm64be, ppc64el, "
	       "powerpc64le, powerpc64, powerpc, mipsle, mips64le, loong64, parisc, "
	       "openrisc), or 'all'";
}

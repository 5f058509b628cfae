/* SPDX-License-Identifier: MIT */
/*
 * Probe programs: one minimal static ELF per platform, built here from
 * hand-encoded instructions so no cross toolchain is needed.
 *
 * Every image has the same shape (docs/probes.md has the tables):
 *
 *   offset 0   ELF header (52 or 64 bytes)
 *          ..  one PT_LOAD program header, R+X, mapping the whole file
 *          ..  the code, right after the headers
 *          ..  ppc64 only: an 8-aligned ELFv1 function descriptor
 *
 * loaded at PROBE_VADDR. No section headers, no PT_INTERP, no libc: the entry
 * point makes the exit system call directly. Instruction bytes are stored in
 * the target's memory order; each comment gives the assembly and the
 * instruction as the architecture manual writes it (one 32-bit word for the
 * fixed-width ISAs, the byte sequence for x86 and s390x).
 */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "probe.h"
#include "util.h"

#ifndef EM_LOONGARCH
#define EM_LOONGARCH 258
#endif
#ifndef EF_MIPS_ABI_O32
#define EF_MIPS_ABI_O32 0x00001000 /* binutils' name; glibc's elf.h lacks it */
#endif

/* 4 MiB: above any mmap_min_addr, and a multiple of the largest page size a
 * kernel of these architectures uses (64 KiB), so file offset 0 maps there. */
#define PROBE_VADDR 0x400000u
#define PROBE_ALIGN 0x10000u

/*
 * linux/amd64: CPUID decides the x86-64 micro-architecture level, which is
 * the exit status (64 + level), like BuildKit's amd64 probe. Registers:
 * edi = exit status, r8d = max basic leaf, r9d = leaf 1 ECX, r10d = leaf
 * 0x80000001 ECX, r11d = XCR0. Every x86-64 CPU has leaf 0x80000001 (it
 * holds the long-mode bit), so only leaf 7 needs the max-leaf check.
 * All jumps are short, to the exit at offset 0x9b.
 */
static const uint8_t code_amd64[] = {
	0xbf, 0x41, 0x00, 0x00, 0x00,       /* mov  edi, 65            bf 41 00 00 00: v1 */
	0x31, 0xc0,                         /* xor  eax, eax           31 c0 */
	0x0f, 0xa2,                         /* cpuid                   0f a2: leaf 0 */
	0x41, 0x89, 0xc0,                   /* mov  r8d, eax           41 89 c0 */
	0xb8, 0x01, 0x00, 0x00, 0x00,       /* mov  eax, 1             b8 01 00 00 00 */
	0x0f, 0xa2,                         /* cpuid                   0f a2: leaf 1 */
	0x41, 0x89, 0xc9,                   /* mov  r9d, ecx           41 89 c9 */
	0xb8, 0x01, 0x00, 0x00, 0x80,       /* mov  eax, 0x80000001    b8 01 00 00 80 */
	0x0f, 0xa2,                         /* cpuid                   0f a2 */
	0x41, 0x89, 0xca,                   /* mov  r10d, ecx          41 89 ca */
	/* v2: SSE3 SSSE3 CX16 SSE4.1 SSE4.2 POPCNT (leaf 1 ECX bits 0 9 13 19 20 23) */
	0x44, 0x89, 0xc8,                   /* mov  eax, r9d           44 89 c8 */
	0x25, 0x01, 0x22, 0x98, 0x00,       /* and  eax, 0x00982201    25 01 22 98 00 */
	0x3d, 0x01, 0x22, 0x98, 0x00,       /* cmp  eax, 0x00982201    3d 01 22 98 00 */
	0x75, 0x6c,                         /* jne  exit               75 6c */
	0x41, 0xf6, 0xc2, 0x01,             /* test r10b, 1            41 f6 c2 01: LAHF-SAHF */
	0x74, 0x66,                         /* je   exit               74 66 */
	0xff, 0xc7,                         /* inc  edi                ff c7: v2 */
	/* v3: FMA MOVBE OSXSAVE AVX F16C (leaf 1 ECX bits 12 22 27 28 29) */
	0x44, 0x89, 0xc8,                   /* mov  eax, r9d           44 89 c8 */
	0x25, 0x00, 0x10, 0x40, 0x38,       /* and  eax, 0x38401000    25 00 10 40 38 */
	0x3d, 0x00, 0x10, 0x40, 0x38,       /* cmp  eax, 0x38401000    3d 00 10 40 38 */
	0x75, 0x55,                         /* jne  exit               75 55 */
	0x41, 0xf6, 0xc2, 0x20,             /* test r10b, 0x20         41 f6 c2 20: LZCNT */
	0x74, 0x4f,                         /* je   exit               74 4f */
	0x41, 0x83, 0xf8, 0x07,             /* cmp  r8d, 7             41 83 f8 07 */
	0x72, 0x49,                         /* jb   exit               72 49: no leaf 7 */
	/* XGETBV is only legal once OSXSAVE (checked above) is set. */
	0x31, 0xc9,                         /* xor  ecx, ecx           31 c9 */
	0x0f, 0x01, 0xd0,                   /* xgetbv                  0f 01 d0: XCR0 */
	0x41, 0x89, 0xc3,                   /* mov  r11d, eax          41 89 c3 */
	0x83, 0xe0, 0x06,                   /* and  eax, 6             83 e0 06 */
	0x83, 0xf8, 0x06,                   /* cmp  eax, 6             83 f8 06: XMM|YMM on */
	0x75, 0x39,                         /* jne  exit               75 39 */
	0xb8, 0x07, 0x00, 0x00, 0x00,       /* mov  eax, 7             b8 07 00 00 00 */
	0x31, 0xc9,                         /* xor  ecx, ecx           31 c9 */
	0x0f, 0xa2,                         /* cpuid                   0f a2: leaf 7.0 */
	0x89, 0xd8,                         /* mov  eax, ebx           89 d8 */
	0x25, 0x28, 0x01, 0x00, 0x00,       /* and  eax, 0x128         25 28 01 00 00 */
	0x3d, 0x28, 0x01, 0x00, 0x00,       /* cmp  eax, 0x128         3d 28 01 00 00: BMI1 AVX2 BMI2 */
	0x75, 0x22,                         /* jne  exit               75 22 */
	0xff, 0xc7,                         /* inc  edi                ff c7: v3 */
	/* v4: AVX512 F DQ CD BW VL (leaf 7 EBX bits 16 17 28 30 31), XCR0 5-7 */
	0x81, 0xe3, 0x00, 0x00, 0x03, 0xd0, /* and  ebx, 0xd0030000    81 e3 00 00 03 d0 */
	0x81, 0xfb, 0x00, 0x00, 0x03, 0xd0, /* cmp  ebx, 0xd0030000    81 fb 00 00 03 d0 */
	0x75, 0x12,                         /* jne  exit               75 12 */
	0x41, 0x81, 0xe3, 0xe0, 0x00, 0x00, 0x00, /* and r11d, 0xe0    41 81 e3 e0 00 00 00 */
	0x41, 0x81, 0xfb, 0xe0, 0x00, 0x00, 0x00, /* cmp r11d, 0xe0    41 81 fb e0 00 00 00 */
	0x75, 0x02,                         /* jne  exit               75 02 */
	0xff, 0xc7,                         /* inc  edi                ff c7: v4 */
	/* exit: */
	0xb8, 0x3c, 0x00, 0x00, 0x00,       /* mov  eax, 60            b8 3c 00 00 00: exit */
	0x0f, 0x05,                         /* syscall                 0f 05 */
};

/* AArch64: generic syscall table, exit = 93 in x8, status in x0. */
static const uint8_t code_arm64[] = {
	0x00, 0x00, 0x80, 0xd2, /* mov x0, #0     d2800000 */
	0xa8, 0x0b, 0x80, 0xd2, /* mov x8, #93    d2800ba8 */
	0x01, 0x00, 0x00, 0xd4, /* svc #0         d4000001 */
};

/* RISC-V: generic syscall table, exit = 93 in a7, status in a0. */
static const uint8_t code_riscv64[] = {
	0x13, 0x05, 0x00, 0x00, /* li a0, 0       00000513 (addi a0, zero, 0) */
	0x93, 0x08, 0xd0, 0x05, /* li a7, 93      05d00893 (addi a7, zero, 93) */
	0x73, 0x00, 0x00, 0x00, /* ecall          00000073 */
};

/* POWER, big-endian bytes: syscall number in r0 (exit = 1), status in r3. */
static const uint8_t code_ppc64[] = {
	0x38, 0x00, 0x00, 0x01, /* li r0, 1       38000001 (addi r0, 0, 1) */
	0x38, 0x60, 0x00, 0x00, /* li r3, 0       38600000 (addi r3, 0, 0) */
	0x44, 0x00, 0x00, 0x02, /* sc             44000002 */
};

/* The same three instructions, little-endian bytes. */
static const uint8_t code_ppc64le[] = {
	0x01, 0x00, 0x00, 0x38, /* li r0, 1       38000001 */
	0x00, 0x00, 0x60, 0x38, /* li r3, 0       38600000 */
	0x02, 0x00, 0x00, 0x44, /* sc             44000002 */
};

/* s390x: "svc 1" carries exit (1) in the instruction; status in r2. */
static const uint8_t code_s390x[] = {
	0xa7, 0x29, 0x00, 0x00, /* lghi %r2, 0    a729 0000 */
	0x0a, 0x01,             /* svc 1          0a01 */
};

/* i386: the int $0x80 ABI, exit = 1 in eax, status in ebx. */
static const uint8_t code_386[] = {
	0xb8, 0x01, 0x00, 0x00, 0x00, /* mov $1, %eax     b8 01 00 00 00 */
	0x31, 0xdb,                   /* xor %ebx, %ebx   31 db */
	0xcd, 0x80,                   /* int $0x80        cd 80 */
};

/*
 * MIPS: one syscall instruction, but each ABI numbers the table from its own
 * base: o32 from 4000 (exit 4001), n64 from 5000 (exit 5058), n32 from 6000.
 * The number goes in v0 and the status in a0 for all of them. syscall has no
 * delay slot; "li" of a 16-bit constant is addiu from $zero.
 */
static const uint8_t code_mips64le[] = {
	0x00, 0x00, 0x04, 0x24, /* li $a0, 0      24040000 (addiu $4, $0, 0) */
	0xc2, 0x13, 0x02, 0x24, /* li $v0, 5058   240213c2 (addiu $2, $0, 5058) */
	0x0c, 0x00, 0x00, 0x00, /* syscall        0000000c */
};

static const uint8_t code_mips64[] = {
	0x24, 0x04, 0x00, 0x00, /* li $a0, 0      24040000 */
	0x24, 0x02, 0x13, 0xc2, /* li $v0, 5058   240213c2 */
	0x00, 0x00, 0x00, 0x0c, /* syscall        0000000c */
};

static const uint8_t code_mipsle[] = {
	0x00, 0x00, 0x04, 0x24, /* li $a0, 0      24040000 */
	0xa1, 0x0f, 0x02, 0x24, /* li $v0, 4001   24020fa1 (addiu $2, $0, 4001) */
	0x0c, 0x00, 0x00, 0x00, /* syscall        0000000c */
};

static const uint8_t code_mips[] = {
	0x24, 0x04, 0x00, 0x00, /* li $a0, 0      24040000 */
	0x24, 0x02, 0x0f, 0xa1, /* li $v0, 4001   24020fa1 */
	0x00, 0x00, 0x00, 0x0c, /* syscall        0000000c */
};

/* LoongArch: generic syscall table, exit = 93 in a7 (r11), status in a0 (r4). */
static const uint8_t code_loong64[] = {
	0x04, 0x00, 0x80, 0x02, /* li.w $a0, 0    02800004 (addi.w $r4, $r0, 0) */
	0x0b, 0x74, 0x81, 0x02, /* li.w $a7, 93   0281740b (addi.w $r11, $r0, 93) */
	0x00, 0x00, 0x2b, 0x00, /* syscall 0      002b0000 */
};

/*
 * ARM (A32): under EABI the syscall number is in r7 and the instruction is
 * "swi 0"; the old ABI (OABI) put it in the swi immediate (swi 0x900001).
 * An immediate of 0 makes kernels with OABI compatibility, and QEMU, take
 * r7. The header must still say EABI (EF_ARM_EABI_VER5): arm64 kernels,
 * which run this probe natively on AArch32-capable CPUs, refuse an ELF
 * whose e_flags carry no EABI version. ARMv4-era instructions only, so a
 * pass proves both arm/v7 and arm/v6.
 */
static const uint8_t code_arm[] = {
	0x00, 0x00, 0xa0, 0xe3, /* mov r0, #0     e3a00000 */
	0x01, 0x70, 0xa0, 0xe3, /* mov r7, #1     e3a07001 */
	0x00, 0x00, 0x00, 0xef, /* swi 0          ef000000 (svc #0) */
};

/* What the ELF header says about the code, and the code. */
struct elf_spec {
	uint8_t cls;        /* ELFCLASS32 or ELFCLASS64 */
	uint8_t data;       /* ELFDATA2LSB or ELFDATA2MSB */
	uint16_t machine;
	uint32_t flags;
	const uint8_t *code;
	size_t code_len;
	bool descriptor;    /* entry is a function descriptor (ppc64 ELFv1) */
};

struct probe_def {
	struct probe probe;
	struct elf_spec elf;
};

#define CODE(c) .code = (c), .code_len = sizeof(c)

/*
 * e_flags: what a toolchain emits for the platform's Linux ABI.
 *  - ppc64 BE is ELFv1 (1): there the entry symbol names a function
 *    descriptor {code address, TOC, environment} in .opd, not code, and the
 *    kernel and QEMU both load the pc and r2 from it. ppc64le is ELFv2 (2),
 *    where the entry is code; little-endian kernels have refused anything
 *    else.
 *  - mips: o32 is marked EF_MIPS_ABI_O32 without EF_MIPS_ABI2 (binfmt_misc
 *    and QEMU tell o32 from n32 by that bit); n64 is the 64-bit class.
 *    Architecture r2, the Debian baseline; QEMU picks its CPU model from
 *    this field (an R6 value would select an R6 CPU).
 *  - riscv64 lp64d, loong64 lp64d + object ABI v1: the Debian ABIs.
 */
static const struct probe_def probes[] = {
	{ { "linux/amd64", "x86_64", -1 },
	  { ELFCLASS64, ELFDATA2LSB, EM_X86_64, 0, CODE(code_amd64) } },
	{ { "linux/arm64", "aarch64", 0 },
	  { ELFCLASS64, ELFDATA2LSB, EM_AARCH64, 0, CODE(code_arm64) } },
	{ { "linux/riscv64", "riscv64", 0 },
	  { ELFCLASS64, ELFDATA2LSB, EM_RISCV, EF_RISCV_FLOAT_ABI_DOUBLE, CODE(code_riscv64) } },
	{ { "linux/ppc64", "ppc64", 0 },
	  { ELFCLASS64, ELFDATA2MSB, EM_PPC64, 1, CODE(code_ppc64), .descriptor = true } },
	{ { "linux/ppc64le", "ppc64le", 0 },
	  { ELFCLASS64, ELFDATA2LSB, EM_PPC64, 2, CODE(code_ppc64le) } },
	{ { "linux/s390x", "s390x", 0 },
	  { ELFCLASS64, ELFDATA2MSB, EM_S390, 0, CODE(code_s390x) } },
	{ { "linux/386", "i386", 0 },
	  { ELFCLASS32, ELFDATA2LSB, EM_386, 0, CODE(code_386) } },
	{ { "linux/mips64le", "mips64el", 0 },
	  { ELFCLASS64, ELFDATA2LSB, EM_MIPS, EF_MIPS_ARCH_64R2, CODE(code_mips64le) } },
	{ { "linux/mips64", "mips64", 0 },
	  { ELFCLASS64, ELFDATA2MSB, EM_MIPS, EF_MIPS_ARCH_64R2, CODE(code_mips64) } },
	{ { "linux/loong64", "loongarch64", 0 },
	  { ELFCLASS64, ELFDATA2LSB, EM_LOONGARCH,
	    EF_LARCH_ABI_DOUBLE_FLOAT | EF_LARCH_OBJABI_V1, CODE(code_loong64) } },
	{ { "linux/arm/v7", "arm", 0 },
	  { ELFCLASS32, ELFDATA2LSB, EM_ARM, EF_ARM_EABI_VER5, CODE(code_arm) } },
	{ { "linux/mipsle", "mipsel", 0 },
	  { ELFCLASS32, ELFDATA2LSB, EM_MIPS, EF_MIPS_ARCH_32R2 | EF_MIPS_ABI_O32, CODE(code_mipsle) } },
	{ { "linux/mips", "mips", 0 },
	  { ELFCLASS32, ELFDATA2MSB, EM_MIPS, EF_MIPS_ARCH_32R2 | EF_MIPS_ABI_O32, CODE(code_mips) } },
};

size_t probes_count(void)
{
	return ARRAY_SIZE(probes);
}

const struct probe *probe_at(size_t i)
{
	return i < ARRAY_SIZE(probes) ? &probes[i].probe : NULL;
}

const struct probe *probe_for_platform(const char *platform)
{
	for (size_t i = 0; platform && i < ARRAY_SIZE(probes); i++)
		if (strcmp(probes[i].probe.platform, platform) == 0)
			return &probes[i].probe;
	return NULL;
}

/* Ours by address, or a caller's copy by platform name. */
static const struct elf_spec *spec_of(const struct probe *p)
{
	for (size_t i = 0; p && i < ARRAY_SIZE(probes); i++)
		if (p == &probes[i].probe ||
		    (p->platform && strcmp(p->platform, probes[i].probe.platform) == 0))
			return &probes[i].elf;
	return NULL;
}

/* ---- a little ELF writer: either class, either byte order ------------- */

struct elf_writer {
	uint8_t *pos;
	bool be;
	size_t word;        /* 4 or 8: the size of an address field */
};

static void put(struct elf_writer *w, uint64_t v, size_t width)
{
	for (size_t i = 0; i < width; i++)
		w->pos[i] = (uint8_t)(v >> 8 * (w->be ? width - 1 - i : i));
	w->pos += width;
}

static void put_addr(struct elf_writer *w, uint64_t v)
{
	put(w, v, w->word);
}

struct layout {
	size_t ehsize, phsize, code_off, desc_off, total;
	uint64_t entry;
};

static struct layout layout_of(const struct elf_spec *s)
{
	bool is64 = s->cls == ELFCLASS64;
	struct layout l = {
		.ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr),
		.phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr),
	};

	l.code_off = l.ehsize + l.phsize;
	l.total = l.code_off + s->code_len;
	l.entry = PROBE_VADDR + l.code_off;
	if (s->descriptor) {
		l.desc_off = (l.total + 7) & ~(size_t)7;
		l.total = l.desc_off + 3 * 8;
		l.entry = PROBE_VADDR + l.desc_off;
	}
	return l;
}

static void write_ehdr(struct elf_writer *w, const struct elf_spec *s, const struct layout *l)
{
	static const uint8_t magic[] = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3 };

	memcpy(w->pos, magic, sizeof(magic));
	w->pos[EI_CLASS] = s->cls;
	w->pos[EI_DATA] = s->data;
	w->pos[EI_VERSION] = EV_CURRENT;
	w->pos += EI_NIDENT;    /* OSABI SYSV, ABI version 0, padding: zero */
	put(w, ET_EXEC, 2);
	put(w, s->machine, 2);
	put(w, EV_CURRENT, 4);
	put_addr(w, l->entry);
	put_addr(w, l->ehsize); /* e_phoff: right after this header */
	put_addr(w, 0);         /* e_shoff: no section headers */
	put(w, s->flags, 4);
	put(w, l->ehsize, 2);
	put(w, l->phsize, 2);
	put(w, 1, 2);           /* e_phnum */
	put(w, 0, 2);           /* e_shentsize */
	put(w, 0, 2);           /* e_shnum */
	put(w, SHN_UNDEF, 2);   /* e_shstrndx */
}

/* One PT_LOAD mapping the whole file, headers included, read + execute. */
static void write_phdr(struct elf_writer *w, const struct layout *l)
{
	put(w, PT_LOAD, 4);
	if (w->word == 8)
		put(w, PF_R | PF_X, 4);  /* ELF64 puts p_flags second... */
	put_addr(w, 0);                  /* p_offset */
	put_addr(w, PROBE_VADDR);        /* p_vaddr */
	put_addr(w, PROBE_VADDR);        /* p_paddr */
	put_addr(w, l->total);           /* p_filesz */
	put_addr(w, l->total);           /* p_memsz */
	if (w->word == 4)
		put(w, PF_R | PF_X, 4);  /* ...ELF32 seventh */
	put_addr(w, PROBE_ALIGN);
}

int probe_image(const struct probe *p, uint8_t *buf, size_t n)
{
	const struct elf_spec *s = spec_of(p);
	struct elf_writer w;
	struct layout l;

	if (!s || !buf)
		return -EINVAL;
	l = layout_of(s);
	if (l.total > n)
		return -ENOSPC;
	memset(buf, 0, l.total);
	w = (struct elf_writer){ buf, s->data == ELFDATA2MSB, s->cls == ELFCLASS64 ? 8 : 4 };
	write_ehdr(&w, s, &l);
	write_phdr(&w, &l);
	memcpy(buf + l.code_off, s->code, s->code_len);
	if (s->descriptor) {
		/* {code address, TOC (r2; the code uses none), environment} */
		w.pos = buf + l.desc_off;
		put(&w, PROBE_VADDR + l.code_off, 8);
	}
	return (int)l.total;
}

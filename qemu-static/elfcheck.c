/*
 * elfcheck: is every FILE a statically linked ELF executable for one machine?
 *
 *   elfcheck --machine aarch64|x86_64 FILE...
 *
 * A file passes when it is an ELF executable (ET_EXEC, or ET_DYN that is a PIE,
 * i.e. static-pie) for the requested e_machine and has no PT_INTERP program header
 * (nothing for the kernel to load first: the emulator must work inside any
 * container root, where the host's dynamic loader does not exist).
 *
 * Exit status: 0 every file passes; 1 one or more files fail (one line per bad
 * file on stdout, "FILE: problem"); 2 usage error or libelf unusable.
 *
 * Used by qemu-static/stage.sh and qemu-static/pin.sh; built by `make qemu`.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef DF_1_PIE
#define DF_1_PIE 0x08000000
#endif

struct machine {
	const char *name;  /* the name --machine takes, as uname -m says it */
	const char *alias; /* Debian architecture name, also accepted */
	unsigned int em;   /* e_machine */
	int class;         /* ELFCLASS32 / ELFCLASS64 */
};

static const struct machine machines[] = {
	{ "x86_64", "amd64", EM_X86_64, ELFCLASS64 },
	{ "aarch64", "arm64", EM_AARCH64, ELFCLASS64 },
};

static const char *machine_name(unsigned int em)
{
	switch (em) {
	case EM_X86_64: return "x86_64";
	case EM_AARCH64: return "aarch64";
	case EM_386: return "i386";
	case EM_ARM: return "arm";
	case EM_PPC: return "ppc";
	case EM_PPC64: return "ppc64";
	case EM_S390: return "s390";
	case EM_MIPS: return "mips";
	case EM_RISCV: return "riscv";
	case EM_LOONGARCH: return "loongarch";
	default: return NULL;
	}
}

static const char *type_name(unsigned int type)
{
	switch (type) {
	case ET_NONE: return "ET_NONE";
	case ET_REL: return "ET_REL (relocatable object)";
	case ET_EXEC: return "ET_EXEC";
	case ET_DYN: return "ET_DYN";
	case ET_CORE: return "ET_CORE (core dump)";
	default: return "unknown type";
	}
}

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: elfcheck --machine MACHINE FILE...\n"
		     "Exit 0 when every FILE is a static ELF executable for MACHINE (no PT_INTERP);\n"
		     "else print one line per bad file and exit 1. MACHINE is one of:");
	for (i = 0; i < sizeof(machines) / sizeof(machines[0]); i++)
		fprintf(out, " %s (%s)", machines[i].name, machines[i].alias);
	fputc('\n', out);
}

/* For ET_DYN: does the dynamic section say DF_1_PIE? 1 yes, 0 no, -1 error. */
static int is_pie(Elf *elf)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr shdr;
		Elf_Data *data;
		size_t i, n;

		if (gelf_getshdr(scn, &shdr) == NULL)
			return -1;
		if (shdr.sh_type != SHT_DYNAMIC || shdr.sh_entsize == 0)
			continue;
		data = elf_getdata(scn, NULL);
		if (data == NULL)
			return -1;
		n = shdr.sh_size / shdr.sh_entsize;
		for (i = 0; i < n; i++) {
			GElf_Dyn dyn;

			if (gelf_getdyn(data, (int)i, &dyn) == NULL)
				return -1;
			if (dyn.d_tag == DT_NULL)
				break;
			if (dyn.d_tag == DT_FLAGS_1 && (dyn.d_un.d_val & DF_1_PIE))
				return 1;
		}
	}
	return 0;
}

/* Checks one open ELF; on failure writes the reason to why and returns -1. */
static int check_elf(Elf *elf, const struct machine *want, char *why, size_t whylen)
{
	GElf_Ehdr ehdr;
	size_t phnum, i;
	int pie;

	if (elf_kind(elf) != ELF_K_ELF) {
		snprintf(why, whylen, "not an ELF file");
		return -1;
	}
	if (gelf_getehdr(elf, &ehdr) == NULL) {
		snprintf(why, whylen, "bad ELF header: %s", elf_errmsg(-1));
		return -1;
	}
	if (ehdr.e_machine != want->em) {
		const char *n = machine_name(ehdr.e_machine);

		if (n != NULL)
			snprintf(why, whylen, "wrong machine: %s (e_machine %u), expected %s (e_machine %u)", n,
				 ehdr.e_machine, want->name, want->em);
		else
			snprintf(why, whylen, "wrong machine: e_machine %u, expected %s (e_machine %u)",
				 ehdr.e_machine, want->name, want->em);
		return -1;
	}
	if (gelf_getclass(elf) != want->class) {
		snprintf(why, whylen, "wrong ELF class %d for %s", gelf_getclass(elf), want->name);
		return -1;
	}
	if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN) {
		snprintf(why, whylen, "not an executable: %s", type_name(ehdr.e_type));
		return -1;
	}
	if (elf_getphdrnum(elf, &phnum) != 0) {
		snprintf(why, whylen, "cannot read program headers: %s", elf_errmsg(-1));
		return -1;
	}
	if (phnum == 0) {
		if (ehdr.e_phnum != 0)
			snprintf(why, whylen, "truncated: program headers lie past the end of the file");
		else
			snprintf(why, whylen, "no program headers: not loadable");
		return -1;
	}
	for (i = 0; i < phnum; i++) {
		GElf_Phdr phdr;

		if (gelf_getphdr(elf, (int)i, &phdr) == NULL) {
			snprintf(why, whylen, "cannot read program header %zu: %s", i, elf_errmsg(-1));
			return -1;
		}
		if (phdr.p_type == PT_INTERP) {
			size_t size = 0;
			const char *raw = elf_rawfile(elf, &size);
			int len = 0;

			/* Name the interpreter when it is inside the file and NUL-terminated. */
			if (raw != NULL && phdr.p_offset < size && phdr.p_filesz > 1 &&
			    phdr.p_filesz <= size - phdr.p_offset && phdr.p_filesz < 4096 &&
			    memchr(raw + phdr.p_offset, '\0', phdr.p_filesz) != NULL)
				len = (int)strlen(raw + phdr.p_offset);
			if (len > 0)
				snprintf(why, whylen, "dynamically linked: PT_INTERP %.*s", len, raw + phdr.p_offset);
			else
				snprintf(why, whylen, "dynamically linked: has a PT_INTERP program header");
			return -1;
		}
	}
	if (ehdr.e_type == ET_DYN) {
		pie = is_pie(elf);
		if (pie < 0) {
			snprintf(why, whylen, "cannot read the dynamic section: %s", elf_errmsg(-1));
			return -1;
		}
		if (pie == 0) {
			snprintf(why, whylen, "ET_DYN without DF_1_PIE: a shared library, not an executable");
			return -1;
		}
	}
	return 0;
}

/* 0 when path passes; else prints "path: reason" and returns 1. */
static int check_file(const char *path, const struct machine *want)
{
	char why[512];
	struct stat st;
	Elf *elf;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("%s: cannot open: %s\n", path, strerror(errno));
		return 1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		printf("%s: not a regular file\n", path);
		close(fd);
		return 1;
	}
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf == NULL) {
		printf("%s: not an ELF file (%s)\n", path, elf_errmsg(-1));
		close(fd);
		return 1;
	}
	rc = check_elf(elf, want, why, sizeof(why));
	elf_end(elf);
	close(fd);
	if (rc != 0) {
		printf("%s: %s\n", path, why);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct machine *want = NULL;
	const char *mname = NULL;
	int i, first = 1, bad = 0;
	size_t m;

	while (first < argc) {
		const char *a = argv[first];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--machine") == 0 && first + 1 < argc) {
			mname = argv[first + 1];
			first += 2;
		} else if (strncmp(a, "--machine=", 10) == 0) {
			mname = a + 10;
			first++;
		} else if (strcmp(a, "--") == 0) {
			first++;
			break;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "elfcheck: unknown option %s\n", a);
			usage(stderr);
			return 2;
		} else {
			break;
		}
	}
	if (mname == NULL || first >= argc) {
		usage(stderr);
		return 2;
	}
	for (m = 0; m < sizeof(machines) / sizeof(machines[0]); m++)
		if (strcmp(mname, machines[m].name) == 0 || strcmp(mname, machines[m].alias) == 0)
			want = &machines[m];
	if (want == NULL) {
		fprintf(stderr, "elfcheck: unsupported machine '%s'\n", mname);
		usage(stderr);
		return 2;
	}
	if (elf_version(EV_CURRENT) == EV_NONE) {
		fprintf(stderr, "elfcheck: libelf initialisation failed: %s\n", elf_errmsg(-1));
		return 2;
	}
	for (i = first; i < argc; i++)
		bad |= check_file(argv[i], want);
	if (fflush(stdout) != 0)
		return 2;
	return bad ? 1 : 0;
}

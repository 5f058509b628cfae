/* SPDX-License-Identifier: MIT */
/*
 * The ELF checks on arbitrary bytes: interp_verify() on a memfd holding them
 * (the real path: open, fstat, libelf on the fd, the host-machine and static
 * checks) and interp_elf_facts() on the same bytes in memory must never
 * crash and must agree; every target's magic/mask matcher takes any header.
 * Every generated probe image must pass: an ELF executable of its target's
 * machine, class and byte order, static, selected by its target's magic,
 * and the host's own probe passes interp_verify's full static check.
 *
 * Input: the file's bytes.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "fuzz.h"
#include "interp.h"
#include "probe.h"
#include "targets.h"

static int memfd = -1;
static char memfd_path[64];

static void load(const uint8_t *data, size_t size)
{
	CHECK(ftruncate(memfd, 0) == 0, "ftruncate");
	CHECK(size == 0 || pwrite(memfd, data, size, 0) == (ssize_t)size, "pwrite");
}

static void remove_file(void)
{
	unlink(memfd_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct utsname u;
	const struct target *host;

	(void)argc, (void)argv;
	/* A real file, not a memfd: interp_verify resolves the path and opens it
	 * component by component, and /proc/self/fd/N resolves to "/memfd:..". */
	snprintf(memfd_path, sizeof(memfd_path), "/tmp/binfmt-fuzz-elf-XXXXXX");
	memfd = mkstemp(memfd_path);
	CHECK(memfd >= 0, "mkstemp");
	CHECK(fchmod(memfd, 0755) == 0, "fchmod");
	atexit(remove_file);
	uname(&u);
	host = target_for_machine(u.machine);
	for (size_t i = 0; i < probes_count(); i++) {
		const struct probe *p = probe_at(i);
		const struct target *t = target_by_cpu(p->cpu);
		uint8_t img[PROBE_MAX_SIZE];
		struct interp_elf f;
		struct bi_error err = { 0 };
		struct interp_policy pol = { .need_static = true };
		int len = probe_image(p, img, sizeof(img)), r;

		CHECK(t && len > 0, "probe %s: no image (%d)", p->platform, len);
		CHECK(interp_elf_facts(img, (size_t)len, &f) == 0, "probe %s is not ELF to libelf", p->platform);
		CHECK(f.machine == t->e_machine && f.elf_class == t->elf_class && f.type == ET_EXEC && !f.dynamic,
		      "probe %s: machine %u class %u type %u dynamic %d", p->platform, f.machine, f.elf_class, f.type,
		      f.dynamic);
		CHECK(img[EI_DATA] == t->elf_data, "probe %s: byte order", p->platform);
		CHECK(target_matches(t, img, (size_t)len), "probe %s not selected by its target's magic", p->platform);
		load(img, (size_t)len);
		r = interp_verify(memfd_path, &pol, &err);
		if (host && host == t)
			CHECK(r == 0, "the host's probe %s fails interp_verify: %s", p->platform, err.msg);
		else
			CHECK(r == -ENOEXEC && strstr(err.msg, "another machine"), "probe %s: %d %s", p->platform, r, err.msg);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct interp_policy pol = { .need_static = size && (data[0] & 1) };
	struct bi_error err = { 0 };
	struct interp_elf f = { 0 };
	int r, rf;

	if (memfd < 0)
		LLVMFuzzerInitialize(NULL, NULL);
	load(data, size);
	r = interp_verify(memfd_path, &pol, &err);
	CHECK(r == 0 || r == -ENOEXEC, "interp_verify returned %d: %s", r, err.msg);
	CHECK(r == 0 || err.msg[0], "failure without a message");
	rf = interp_elf_facts(data, size, &f);
	CHECK(rf == 0 || rf == -ENOEXEC, "interp_elf_facts returned %d", rf);
	/* Same library, same bytes: from a file or from memory, the same answer. */
	CHECK((rf < 0) == (r < 0 && strstr(err.msg, "not an ELF file") != NULL),
	      "memory says %d, file says %d (%s)", rf, r, err.msg);
	if (r == 0)
		CHECK(rf == 0 && (f.type == ET_EXEC || f.type == ET_DYN) && (!pol.need_static || !f.dynamic),
		      "interp_verify passed a file interp_elf_facts rejects");
	for (size_t i = 0; i < targets_count(); i++)
		(void)target_matches(target_at(i), data, size);
	return 0;
}

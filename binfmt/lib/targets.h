/* SPDX-License-Identifier: MIT */
/*
 * The QEMU linux-user target table: one row per emulator QEMU ships, with the
 * binfmt_misc magic/mask that selects it, its family (targets of the host's
 * family are never registered), the OCI platform it serves when one exists,
 * and every name people type for it. Pure data and lookups: no I/O.
 */
#ifndef BINFMT_TARGETS_H
#define BINFMT_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TARGET_MAGIC_MAX 40

struct target {
	const char *cpu;       /* QEMU cpu name; entry "qemu-<cpu>", binary "qemu-<cpu>" */
	const char *family;    /* QEMU family (see qemu-binfmt-conf.sh) */
	const char *platform;  /* normalized OCI platform ("linux/arm64"), or NULL */
	const char *const *aliases; /* NULL-terminated: Debian, uname -m, OCI arch names */
	uint8_t elf_class;     /* ELFCLASS32 / ELFCLASS64 */
	uint8_t elf_data;      /* ELFDATA2LSB / ELFDATA2MSB */
	uint16_t e_machine;
	uint32_t e_flags;      /* ELF32 e_flags value the magic requires (mips n32), else 0 */
	size_t len;            /* bytes of magic and mask */
	uint8_t magic[TARGET_MAGIC_MAX];
	uint8_t mask[TARGET_MAGIC_MAX];
};

/* All targets, in table order (stable; used for "all" and listings). */
size_t targets_count(void);
const struct target *target_at(size_t i);

/* Exact QEMU cpu name ("aarch64"), or NULL. */
const struct target *target_by_cpu(const char *cpu);

/*
 * Resolve any accepted name to its target: QEMU cpu names ("aarch64"), entry
 * names ("qemu-aarch64"), Debian names ("armhf", "ppc64el", "mips64el"),
 * uname -m names ("armv7l", "i686"), OCI arch names ("arm64", "loong64") and
 * platform strings ("linux/arm/v7", "linux/arm64/v8", "arm/v6"), matched
 * case-insensitively.
 * Returns 0, -EINVAL for a malformed name (empty, spaces, bad characters,
 * too long), -ENOENT for a well-formed name no target answers to, and
 * -EOPNOTSUPP for a platform that is not linux.
 */
int target_resolve(const char *name, const struct target **out);

/* The target whose code runs on a host reporting this uname -m, or NULL. */
const struct target *target_for_machine(const char *uname_machine);

bool target_same_family(const struct target *a, const struct target *b);

/* Does a file starting with these bytes select this target? (masked compare) */
bool target_matches(const struct target *t, const uint8_t *hdr, size_t len);

/* What users see for a target: its platform when it has one, else its cpu name. */
const char *target_display_name(const struct target *t);

/* A comma-separated list of every accepted name, for error messages. */
const char *targets_accepted_names(void);

#endif

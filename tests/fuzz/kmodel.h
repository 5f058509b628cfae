/* SPDX-License-Identifier: MIT */
/*
 * A model of the kernel's side of binfmt_misc, written from fs/binfmt_misc.c
 * (create_entry, scanarg, check_special_flags, entry_status; Linux 6.x) and
 * independently of binfmt/lib/entry.c: the oracle the fuzzers check the
 * library against. tests/integration/90-fuzz-corpus.sh checks the model
 * itself against the real kernel on the committed corpus.
 */
#ifndef FUZZ_KMODEL_H
#define FUZZ_KMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_BINPRM_BUF_SIZE 256
#define KM_MAX_REGISTER_LENGTH 1920

/* MISC_FMT_* in the order entry_status prints them. */
enum { KM_P = 1, KM_O = 2, KM_C = 4, KM_F = 8 };

struct kmodel_entry {
	char name[KM_MAX_REGISTER_LENGTH + 1];
	char type;                               /* 'M' or 'E' */
	int offset;
	uint8_t magic[KM_MAX_REGISTER_LENGTH];   /* decoded; E: the extension */
	size_t size;
	bool has_mask;
	uint8_t mask[KM_MAX_REGISTER_LENGTH];
	char interpreter[KM_MAX_REGISTER_LENGTH + 1];
	unsigned flags;                          /* KM_* */
};

/*
 * What one write(2) of buf[0..count) to "register" does: 0 (registered as *e),
 * -EINVAL (create_entry rejects it), -ENAMETOOLONG (lookup_one_len: name
 * over 255 bytes) or -EEXIST (the names "register" and "status").
 */
int kmodel_register(const char *buf, size_t count, struct kmodel_entry *e);

/* The text of /proc/sys/fs/binfmt_misc/<name> for e (entry_status). */
void kmodel_entry_text(const struct kmodel_entry *e, bool enabled, char *page, size_t n);

/* "POCF"-ordered letters of KM_* flags. */
void kmodel_flags_string(unsigned flags, char out[5]);

#endif

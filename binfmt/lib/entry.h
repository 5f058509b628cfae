/* SPDX-License-Identifier: MIT */
/*
 * binfmt_misc entries as data: parse the kernel's per-entry files, build the
 * one-line register string, compare entries. Pure functions, no I/O, so they
 * are unit-tested and fuzzed.
 */
#ifndef BINFMT_ENTRY_H
#define BINFMT_ENTRY_H

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* The kernel accepts offset + size <= 256 since 5.1 (128 before). */
#define ENTRY_MAGIC_MAX 128
#define ENTRY_NAME_MAX 255
/* Kernels <= 4.x silently truncate longer interpreter paths at exec time:
 * new registrations stay within it (existing ones are restored as they were). */
#define ENTRY_INTERP_MAX 127
/* The bytes a register string may be split on, in the order tried ('#' and ';'
 * last: a binfmt.d(5) line starting with either is a comment). */
#define ENTRY_DELIMITERS ":|!@%,=+~^#;"
/* BINPRM_BUF_SIZE-era limit of a register write: 11..1920 bytes. */
#define ENTRY_REGISTER_MAX 1920

struct binfmt_entry {
	char name[ENTRY_NAME_MAX + 1];
	bool enabled;
	char type;                 /* 'M' magic or 'E' extension */
	unsigned offset;
	uint8_t magic[ENTRY_MAGIC_MAX];
	size_t magic_len;
	uint8_t mask[ENTRY_MAGIC_MAX];
	size_t mask_len;           /* 0: no mask (exact compare) */
	char extension[ENTRY_MAGIC_MAX + 1];
	char interpreter[4096];
	char flags[8];             /* normalized: subset of "POCF" in that order */
	/* When the kernel created the entry (its file's ctime), in ns; 0 when
	 * unknown. Set by bfs_read_entry; with F it dates the pinned interpreter. */
	long long registered_ns;
};

/*
 * Validate and normalize a flags string: any of P O C F, once each, in any
 * order; C implies O (the kernel sets both). Output in "POCF" order.
 * Returns 0 or -EINVAL.
 */
int entry_flags_normalize(const char *in, char out[8]);

/*
 * Parse the text of /proc/sys/fs/binfmt_misc/<name>. Tolerant: unknown lines
 * and unknown flag letters from newer kernels are ignored. Returns 0 or
 * -EINVAL when the text is not an entry at all (no enabled/disabled line, no
 * interpreter, bad hex).
 */
int entry_parse(const char *name, const char *text, struct binfmt_entry *e);

/* Is the name usable as an entry name? (non-empty, not ./.., no '/' or
 * control chars, not "register"/"status", <= 255 bytes) */
bool entry_name_valid(const char *name);

/* The kernel's rule for an existing entry's name: non-empty, at most
 * ENTRY_NAME_MAX bytes, no '/', not "."/".."/"register"/"status". Control
 * characters and any byte >= 0x80 are allowed (another tool may use them). */
bool entry_name_kernel_valid(const char *name);

/* A malloc'd copy safe for a terminal and for JSON (valid UTF-8): every byte
 * < 0x20, 0x7f, '\\', a byte not part of valid UTF-8 and both bytes of a C1
 * control (U+0080..U+009F) become \xNN (lowercase); other UTF-8 is kept.
 * NULL when out of memory. */
char *entry_escape(const char *text);
/* The formatted text, escaped as entry_escape does (malloc'd), or NULL when out
 * of memory: for the programs' messages, which carry names from other tools,
 * images and roots. Formats only; the library never prints. */
char *entry_vformat_escaped(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/*
 * Build the register string ":name:type:offset:magic:mask:interpreter:flags"
 * with every magic/mask byte written as \xNN (so the delimiter and NUL can
 * never appear raw). The delimiter is ':' unless a field contains one, then
 * another byte no field contains. No trailing newline. Returns the length, or
 * -EINVAL for an entry the kernel would reject, -ENAMETOOLONG when it does not
 * fit ENTRY_REGISTER_MAX or n.
 */
int entry_format_register(const struct binfmt_entry *e, char *buf, size_t n);

/* Same magic, offset and (masked) bytes: the two entries claim the same files. */
bool entry_same_match(const struct binfmt_entry *a, const struct binfmt_entry *b);

/* The kernel's test, fs/binfmt_misc.c check_file(): ((file ^ magic) & mask)
 * over n bytes, mask NULL meaning all ones. The one implementation: entries,
 * targets and probes all match through it. */
bool magic_match(const uint8_t *file, const uint8_t *magic, const uint8_t *mask, size_t n);
/* Would entry e (type M) take a file whose first len bytes are file? Its
 * enabled state is not looked at. */
bool entry_matches(const struct binfmt_entry *e, const uint8_t *file, size_t len);

/* Same match, interpreter and flags: registering b over a changes nothing. */
bool entry_same(const struct binfmt_entry *a, const struct binfmt_entry *b);

/* A short description of how b differs from a ("interpreter /x vs /y"). */
void entry_describe_difference(const struct binfmt_entry *a, const struct binfmt_entry *b,
			       char *buf, size_t n);

#endif

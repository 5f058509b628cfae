/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "util.h"

int entry_flags_normalize(const char *in, char out[8])
{
	static const char order[] = "POCF";
	bool seen[4] = { false };
	size_t k = 0;

	for (const char *c = in; *c; c++) {
		const char *pos = strchr(order, *c);
		if (!pos || seen[pos - order])
			return -EINVAL;
		seen[pos - order] = true;
	}
	/* The kernel turns C into OC: normalize so comparisons agree with it. */
	if (seen[2])
		seen[1] = true;
	for (size_t i = 0; i < 4; i++)
		if (seen[i])
			out[k++] = order[i];
	out[k] = '\0';
	return 0;
}

/* Flags as printed by some kernel: keep the letters we know, ignore others. */
static void parse_flags_tolerant(const char *s, char out[8])
{
	char known[8] = "";
	size_t k = 0;

	for (; *s && k < 4; s++)
		if (strchr("POCF", *s) && !memchr(known, *s, k))
			known[k++] = *s;
	known[k] = '\0';
	if (entry_flags_normalize(known, out) < 0)
		out[0] = '\0';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = 0;

	while (*s && !isspace((unsigned char)*s)) {
		int hi = hexval((unsigned char)s[0]);
		int lo = hi < 0 ? -1 : hexval((unsigned char)s[1]);
		if (hi < 0 || lo < 0 || n >= max)
			return -EINVAL;
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	*len = n;
	return 0;
}

/* The value after "key " on a line, or NULL when the line is another key. */
static const char *value_of(const char *line, const char *key)
{
	size_t l = strlen(key);

	if (strncmp(line, key, l) != 0)
		return NULL;
	if (line[l] != ' ' && line[l] != '\0')
		return NULL;
	return line[l] ? line + l + 1 : line + l;
}

static int parse_line(const char *line, struct binfmt_entry *e, bool *have_state)
{
	const char *v;

	if (!strcmp(line, "enabled") || !strcmp(line, "disabled")) {
		e->enabled = line[0] == 'e';
		*have_state = true;
	} else if ((v = value_of(line, "interpreter"))) {
		return copy_str(e->interpreter, sizeof(e->interpreter), v) < 0 ? -EINVAL : 0;
	} else if ((v = value_of(line, "flags:"))) {
		parse_flags_tolerant(v, e->flags);
	} else if ((v = value_of(line, "offset"))) {
		char *end;
		unsigned long o = strtoul(v, &end, 10);
		if (end == v || *end || o > 255)
			return -EINVAL;
		e->offset = (unsigned)o;
		e->type = 'M';
	} else if ((v = value_of(line, "magic"))) {
		e->type = 'M';
		return parse_hex(v, e->magic, sizeof(e->magic), &e->magic_len);
	} else if ((v = value_of(line, "mask"))) {
		return parse_hex(v, e->mask, sizeof(e->mask), &e->mask_len);
	} else if ((v = value_of(line, "extension"))) {
		e->type = 'E';
		if (*v == '.')
			v++;
		return copy_str(e->extension, sizeof(e->extension), v) < 0 ? -EINVAL : 0;
	}
	/* Anything else: a line a newer kernel added. Ignore it. */
	return 0;
}

int entry_parse(const char *name, const char *text, struct binfmt_entry *e)
{
	bool have_state = false;
	const char *p = text;

	memset(e, 0, sizeof(*e));
	if (copy_str(e->name, sizeof(e->name), name) < 0)
		return -EINVAL;
	while (*p) {
		char line[4200];
		size_t l = strcspn(p, "\n");
		int r;

		if (l >= sizeof(line))
			return -EINVAL;
		memcpy(line, p, l);
		line[l] = '\0';
		r = parse_line(line, e, &have_state);
		if (r < 0)
			return r;
		p += l;
		if (*p == '\n')
			p++;
	}
	if (!have_state || !e->interpreter[0] || !e->type)
		return -EINVAL;
	if (e->type == 'M' && (e->magic_len == 0 || (e->mask_len && e->mask_len != e->magic_len)))
		return -EINVAL;
	return 0;
}

bool entry_name_valid(const char *name)
{
	size_t l = strlen(name);

	if (l == 0 || l > ENTRY_NAME_MAX)
		return false;
	if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "register") ||
	    !strcmp(name, "status"))
		return false;
	/* ':' is allowed: an entry registered with another delimiter may have it. */
	for (const char *c = name; *c; c++)
		if (*c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* Characters that cannot survive one write (the kernel stops at newline). */
static bool field_valid(const char *s)
{
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* The kernel splits on the first byte of the string: ':' by convention, or any
 * byte no field contains (magic and mask are \xNN-escaped, so never matter).
 * Needed to restore entries other tools registered with another delimiter. */
static char pick_delimiter(const struct binfmt_entry *e)
{
	/* '#' and ';' last: a binfmt.d(5) line starting with either is a comment,
	 * so an exported entry would silently not be registered at boot. */
	static const char cands[] = ENTRY_DELIMITERS;

	for (const char *c = cands; *c; c++)
		if (!strchr(e->name, *c) && !strchr(e->interpreter, *c) &&
		    (e->type != 'E' || !strchr(e->extension, *c)))
			return *c;
	return 0;
}

bool entry_name_kernel_valid(const char *name)
{
	size_t l = strlen(name);

	return l > 0 && l <= ENTRY_NAME_MAX && strcmp(name, ".") && strcmp(name, "..") && !strchr(name, '/') &&
	       strcmp(name, "register") && strcmp(name, "status");
}

/* Bytes of the valid UTF-8 sequence at s that is not a C1 control, else 0. */
static size_t utf8_printable_len(const unsigned char *s)
{
	size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;

	if (s[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong forms, surrogates, beyond U+10FFFF, and U+0080..U+009F. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) || (s[0] == 0xf0 && s[1] < 0x90) ||
	    (s[0] == 0xf4 && s[1] > 0x8f) || (s[0] == 0xc2 && s[1] < 0xa0))
		return 0;
	return len;
}

char *entry_escape(const char *text)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)text;
	char *out = malloc(strlen(text) * 4 + 1), *o = out;

	if (!out)
		return NULL;
	while (*s) {
		size_t l = *s >= 0x80 ? utf8_printable_len(s) : 1;
		if (l > 1 || (l == 1 && *s >= 0x20 && *s != 0x7f && *s != '\\')) {
			memcpy(o, s, l);
			o += l;
			s += l;
			continue;
		}
		*o++ = '\\';
		*o++ = 'x';
		*o++ = hex[*s >> 4];
		*o++ = hex[*s & 15];
		s++;
	}
	*o = '\0';
	return out;
}

char *entry_vformat_escaped(const char *fmt, va_list ap)
{
	_cleanup_free_ char *raw = NULL;

	if (vasprintf(&raw, fmt, ap) < 0) {
		raw = NULL;
		return NULL;
	}
	return entry_escape(raw);
}

static bool entry_valid(const struct binfmt_entry *e)
{
	char flags[8];

	/* The kernel's rule, not ours for new names: entries other tools
	 * registered are restored under the names they had (but for a newline,
	 * which cannot survive one register write). */
	if (!entry_name_kernel_valid(e->name) || strchr(e->name, '\n') || !e->interpreter[0] || !field_valid(e->interpreter))
		return false;
	if (entry_flags_normalize(e->flags, flags) < 0)
		return false;
	if (e->type == 'E')
		return e->extension[0] && field_valid(e->extension) && !strchr(e->extension, '/');
	if (e->type != 'M' || e->magic_len == 0)
		return false;
	/* The arrays hold ENTRY_MAGIC_MAX bytes: a longer length is a corrupt
	 * struct, never something to escape into a fixed buffer. */
	if (e->magic_len > ENTRY_MAGIC_MAX || (e->mask_len && e->mask_len != e->magic_len))
		return false;
	/* Kernels since 5.1 accept offset + size up to 256 (128 before). Our own
	 * entries are far below either; others' entries are restored as they were. */
	return e->offset + e->magic_len <= 2 * ENTRY_MAGIC_MAX && pick_delimiter(e);
}

static size_t put_hex(char *out, const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		out[k++] = '\\';
		out[k++] = 'x';
		out[k++] = hex[b[i] >> 4];
		out[k++] = hex[b[i] & 15];
	}
	out[k] = '\0';
	return k;
}

int entry_format_register(const struct binfmt_entry *e, char *buf, size_t n)
{
	char magic[ENTRY_MAGIC_MAX * 4 + 1], mask[ENTRY_MAGIC_MAX * 4 + 1], offset[16] = "";
	char flags[8], d;
	int len;

	if (!entry_valid(e))
		return -EINVAL;
	entry_flags_normalize(e->flags, flags);
	d = pick_delimiter(e);
	if (e->type == 'E') {
		len = snprintf(buf, n, "%c%s%cE%c%c%s%c%c%s%c%s", d, e->name, d, d, d, e->extension, d, d,
			       e->interpreter, d, flags);
	} else {
		put_hex(magic, e->magic, e->magic_len);
		put_hex(mask, e->mask, e->mask_len);
		if (e->offset)
			snprintf(offset, sizeof(offset), "%u", e->offset);
		len = snprintf(buf, n, "%c%s%cM%c%s%c%s%c%s%c%s%c%s", d, e->name, d, d, offset, d, magic, d, mask,
			       d, e->interpreter, d, flags);
	}
	if (len < 0 || (size_t)len >= n || len > ENTRY_REGISTER_MAX)
		return -ENAMETOOLONG;
	return len;
}

bool magic_match(const uint8_t *file, const uint8_t *magic, const uint8_t *mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((file[i] ^ magic[i]) & (mask ? mask[i] : 0xff))
			return false;
	return true;
}

bool entry_matches(const struct binfmt_entry *e, const uint8_t *file, size_t len)
{
	if (e->type != 'M' || e->offset > len || e->magic_len > len - e->offset)
		return false;
	return magic_match(file + e->offset, e->magic, e->mask_len ? e->mask : NULL, e->magic_len);
}

static uint8_t mask_at(const struct binfmt_entry *e, size_t i)
{
	return e->mask_len ? e->mask[i] : 0xff;
}

bool entry_same_match(const struct binfmt_entry *a, const struct binfmt_entry *b)
{
	if (a->type != b->type)
		return false;
	if (a->type == 'E')
		return !strcmp(a->extension, b->extension);
	if (a->offset != b->offset || a->magic_len != b->magic_len)
		return false;
	/* The kernel never requires magic & mask == magic (QEMU's i386 entry
	 * violates it): only the masked bytes mean anything. */
	for (size_t i = 0; i < a->magic_len; i++) {
		uint8_t m = mask_at(a, i);
		if (m != mask_at(b, i) || (a->magic[i] & m) != (b->magic[i] & m))
			return false;
	}
	return true;
}

bool entry_same(const struct binfmt_entry *a, const struct binfmt_entry *b)
{
	char fa[8], fb[8];

	if (entry_flags_normalize(a->flags, fa) < 0 || entry_flags_normalize(b->flags, fb) < 0)
		return false;
	return entry_same_match(a, b) && !strcmp(a->interpreter, b->interpreter) && !strcmp(fa, fb);
}

void entry_describe_difference(const struct binfmt_entry *a, const struct binfmt_entry *b,
			       char *buf, size_t n)
{
	char fa[8] = "", fb[8] = "";

	entry_flags_normalize(a->flags, fa);
	entry_flags_normalize(b->flags, fb);
	if (!entry_same_match(a, b))
		snprintf(buf, n, "different magic/mask");
	else if (strcmp(a->interpreter, b->interpreter))
		snprintf(buf, n, "interpreter %.300s, wanted %.300s", a->interpreter, b->interpreter);
	else if (strcmp(fa, fb))
		snprintf(buf, n, "flags '%s', wanted '%s'", fa, fb);
	else
		snprintf(buf, n, "identical");
}

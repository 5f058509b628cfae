/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmodel.h"

/* scanarg(): up to the delimiter; "\x" must be followed by two hex digits.
 * The buffer is padded with delimiters, so this always ends. */
static char *scanarg(char *s, char del)
{
	char c;

	while ((c = *s++) != del) {
		if (c == '\\' && *s == 'x') {
			s++;
			if (!isxdigit((unsigned char)*s++))
				return NULL;
			if (!isxdigit((unsigned char)*s++))
				return NULL;
		}
	}
	s[-1] = '\0';
	return s;
}

/* Only called on isxdigit() characters. */
static unsigned hex_to_bin(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 0;
}

/* string_unescape_inplace(s, UNESCAPE_HEX): stops at the first raw NUL. */
static size_t unescape_hex(const char *src, uint8_t *out)
{
	size_t k = 0;

	while (*src) {
		if (src[0] == '\\' && src[1] != '\0') {
			src++;
			if (src[0] == 'x' && isxdigit((unsigned char)src[1])) {
				unsigned num = hex_to_bin(src[1]);
				src += 2;
				if (isxdigit((unsigned char)*src))
					num = num << 4 | hex_to_bin(*src++);
				out[k++] = (uint8_t)num;
				continue;
			}
			out[k++] = '\\';
		}
		out[k++] = (uint8_t)*src++;
	}
	return k;
}

/* kstrtoint(s, 10): optional sign, decimal digits, an optional trailing
 * newline, no overflow. */
static int kstrtoint10(const char *s, int *out)
{
	long long v = 0;
	bool neg = false;
	const char *p = s;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > (long long)2147483647 + neg)
			return -ERANGE;
	}
	if (*p == '\n')
		p++;
	if (*p)
		return -EINVAL;
	*out = (int)(neg ? -v : v);
	return 0;
}

int kmodel_register(const char *ubuf, size_t count, struct kmodel_entry *e)
{
	char *buf, *p, *s, del;
	int r = -EINVAL;

	memset(e, 0, sizeof(*e));
	if (count < 11 || count > KM_MAX_REGISTER_LENGTH)
		return -EINVAL;
	if (!(buf = malloc(count + 8 + 1)))
		return -ENOMEM;
	memcpy(buf, ubuf, count);
	p = buf;
	del = *p++;
	memset(buf + count, del, 8);
	buf[count + 8] = '\0'; /* the kernel relies on finding del; so do we */

	/* name */
	s = p;
	if (!(p = strchr(p, del)))
		goto out;
	*p++ = '\0';
	if (!s[0] || !strcmp(s, ".") || !strcmp(s, "..") || strchr(s, '/'))
		goto out;
	snprintf(e->name, sizeof(e->name), "%s", s);

	/* type */
	switch (*p++) {
	case 'E': e->type = 'E'; break;
	case 'M': e->type = 'M'; break;
	default: goto out;
	}
	if (*p++ != del)
		goto out;

	if (e->type == 'M') {
		char *magic, *mask;
		size_t msize;

		if (!(s = strchr(p, del)))
			goto out;
		*s = '\0';
		if (p != s && (kstrtoint10(p, &e->offset) != 0 || e->offset < 0))
			goto out;
		p = s;
		if (*p++)
			goto out;
		magic = p;
		if (!(p = scanarg(p, del)) || !magic[0])
			goto out;
		mask = p;
		if (!(p = scanarg(p, del)))
			goto out;
		e->size = unescape_hex(magic, e->magic);
		if (mask[0]) {
			e->has_mask = true;
			msize = unescape_hex(mask, e->mask);
			if (msize != e->size)
				goto out;
		}
		if (e->size > KM_BINPRM_BUF_SIZE || KM_BINPRM_BUF_SIZE - e->size < (size_t)e->offset)
			goto out;
	} else {
		if (!(p = strchr(p, del)))   /* offset: skipped */
			goto out;
		*p++ = '\0';
		s = p;
		if (!(p = strchr(p, del)))
			goto out;
		*p++ = '\0';
		if (!s[0] || strchr(s, '/'))
			goto out;
		e->size = strlen(s);
		memcpy(e->magic, s, e->size);
		if (!(p = strchr(p, del)))   /* mask: skipped */
			goto out;
		*p++ = '\0';
	}

	/* interpreter */
	s = p;
	if (!(p = strchr(p, del)))
		goto out;
	*p++ = '\0';
	if (!s[0])
		goto out;
	snprintf(e->interpreter, sizeof(e->interpreter), "%s", s);

	/* flags */
	for (;; p++) {
		if (*p == 'P')
			e->flags |= KM_P;
		else if (*p == 'O')
			e->flags |= KM_O;
		else if (*p == 'C')
			e->flags |= KM_C | KM_O;
		else if (*p == 'F')
			e->flags |= KM_F;
		else
			break;
	}
	if (*p == '\n')
		p++;
	if (p != buf + count)
		goto out;

	/* bm_register_write: lookup_one_len, then the dentry must be new. */
	if (strlen(e->name) > 255)
		r = -ENAMETOOLONG;
	else if (!strcmp(e->name, "register") || !strcmp(e->name, "status"))
		r = -EEXIST;
	else
		r = 0;
out:
	free(buf);
	return r;
}

void kmodel_flags_string(unsigned flags, char out[5])
{
	size_t k = 0;

	if (flags & KM_P)
		out[k++] = 'P';
	if (flags & KM_O)
		out[k++] = 'O';
	if (flags & KM_C)
		out[k++] = 'C';
	if (flags & KM_F)
		out[k++] = 'F';
	out[k] = '\0';
}

static size_t put_hex(char *dp, const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		dp[2 * i] = hex[b[i] >> 4];
		dp[2 * i + 1] = hex[b[i] & 15];
	}
	return 2 * n;
}

void kmodel_entry_text(const struct kmodel_entry *e, bool enabled, char *page, size_t n)
{
	char flags[5], *tmp, *dp;

	/* The kernel writes into a page; a bounded scratch buffer here. */
	if (!(tmp = malloc(8 * KM_MAX_REGISTER_LENGTH + 256))) {
		if (n)
			page[0] = '\0';
		return;
	}
	kmodel_flags_string(e->flags, flags);
	dp = tmp + sprintf(tmp, "%s\ninterpreter %s\nflags: %s\n", enabled ? "enabled" : "disabled",
			   e->interpreter, flags);
	if (e->type == 'E') {
		sprintf(dp, "extension .%.*s\n", (int)e->size, (const char *)e->magic);
	} else {
		dp += sprintf(dp, "offset %i\nmagic ", e->offset);
		dp += put_hex(dp, e->magic, e->size);
		if (e->has_mask) {
			dp += sprintf(dp, "\nmask ");
			dp += put_hex(dp, e->mask, e->size);
		}
		*dp++ = '\n';
		*dp = '\0';
	}
	snprintf(page, n, "%s", tmp);
	free(tmp);
}

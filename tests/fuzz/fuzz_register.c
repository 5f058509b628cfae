/* SPDX-License-Identifier: MIT */
/*
 * entry_format_register(): any struct binfmt_entry must give -EINVAL,
 * -ENAMETOOLONG, or a register string that the kernel (kmodel.c) parses back
 * into exactly the entry: same name, type, offset, magic, mask, extension,
 * interpreter and flags, 11..1920 bytes, no raw NUL or newline, within the
 * caller's buffer. The kernel's entry file for it must parse (entry_parse)
 * into an entry_same() entry. Plain, valid entries must not be refused.
 *
 * Input: a register-like string, decoded leniently into the struct so that
 * real register strings (binfmt --dry-run) make good seeds and any bytes make
 * some entry:  <d>name<d>type<d>offset<d>magic<d>mask<d>interpreter<d>flags[<d>bufsize]
 * where <d> is the first byte; magic/mask take \xNN escapes or raw bytes; a
 * magic/mask longer than the struct holds sets magic_len/mask_len beyond it
 * (a corrupt struct must be refused, not overrun); bufsize picks the size of
 * the caller's buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "entry.h"
#include "fuzz.h"
#include "kmodel.h"

/* Field i of s split on d (no copy); NULL past the last. */
static const char *field(const char *s, char d, int i, size_t *len)
{
	for (; i > 0; i--) {
		s = strchr(s, d);
		if (!s)
			return NULL;
		s++;
	}
	*len = strcspn(s, (char[]){ d, 0 });
	return s;
}

static void take_str(char *dst, size_t cap, const char *src, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int hexv(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
					      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decode \xNN or raw bytes into out (at most cap); returns the decoded length
 * (which may exceed cap: the caller may store it as is). */
static size_t take_bytes(uint8_t *out, size_t cap, const char *s, size_t len)
{
	size_t k = 0;

	for (size_t i = 0; i < len; k++) {
		uint8_t b;
		if (i + 3 < len && s[i] == '\\' && s[i + 1] == 'x' && hexv(s[i + 2]) >= 0 && hexv(s[i + 3]) >= 0) {
			b = (uint8_t)(hexv(s[i + 2]) << 4 | hexv(s[i + 3]));
			i += 4;
		} else {
			b = (uint8_t)s[i++];
		}
		if (k < cap)
			out[k] = b;
	}
	return k;
}

static bool plain(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr(extra, *s)))
			return false;
	return true;
}

/* Entries nobody should refuse: what binfmt itself registers, roughly. */
static bool obviously_valid(const struct binfmt_entry *e)
{
	char f[8];
	size_t nl = strlen(e->name), il = strlen(e->interpreter);

	if (nl == 0 || nl > 64 || !plain(e->name, "-_") || !strcmp(e->name, "register") ||
	    !strcmp(e->name, "status") || il < 2 || il > 120 || e->interpreter[0] != '/' ||
	    !plain(e->interpreter, "/-_.") || entry_flags_normalize(e->flags, f) < 0)
		return false;
	if (e->type == 'E')
		return strlen(e->extension) > 0 && strlen(e->extension) < 20 && plain(e->extension, "");
	return e->type == 'M' && e->magic_len > 0 && e->magic_len <= ENTRY_MAGIC_MAX &&
	       (e->mask_len == 0 || e->mask_len == e->magic_len) && e->offset + e->magic_len <= 128;
}

static void check_roundtrip(const struct binfmt_entry *e, const char *buf, int r, size_t n)
{
	struct kmodel_entry k;
	struct binfmt_entry back;
	char flags[8], kflags[5];
	static char page[8 * 4096];
	int kr;

	CHECK((size_t)r < n, "length %d does not fit the buffer of %zu", r, n);
	CHECK(strlen(buf) == (size_t)r, "raw NUL inside the register string (strlen %zu, length %d)",
	      strlen(buf), r);
	CHECK(r >= 11 && r <= ENTRY_REGISTER_MAX, "length %d outside the kernel's 11..1920", r);
	CHECK(!strchr(buf, '\n'), "raw newline in '%s'", buf);
	kr = kmodel_register(buf, (size_t)r, &k);
	CHECK(kr == 0, "the kernel would refuse '%s': %d", buf, kr);
	CHECK(!strcmp(k.name, e->name), "name '%s' became '%s'", e->name, k.name);
	CHECK(k.type == e->type, "type %c became %c", e->type, k.type);
	CHECK(!strcmp(k.interpreter, e->interpreter), "interpreter '%s' became '%s'", e->interpreter,
	      k.interpreter);
	CHECK(entry_flags_normalize(e->flags, flags) == 0, "formatted with invalid flags '%s'", e->flags);
	kmodel_flags_string(k.flags, kflags);
	CHECK(!strcmp(kflags, flags), "flags '%s' became '%s'", flags, kflags);
	if (e->type == 'M') {
		CHECK(k.offset >= 0 && (unsigned)k.offset == e->offset, "offset %u became %d", e->offset, k.offset);
		CHECK(k.size == e->magic_len && !memcmp(k.magic, e->magic, k.size), "magic changed in '%s'", buf);
		CHECK(k.has_mask == (e->mask_len > 0), "mask presence changed in '%s'", buf);
		CHECK(!k.has_mask || !memcmp(k.mask, e->mask, k.size), "mask changed in '%s'", buf);
	} else {
		CHECK(k.size == strlen(e->extension) && !memcmp(k.magic, e->extension, k.size),
		      "extension '%s' changed in '%s'", e->extension, buf);
	}
	/* And back through the kernel's entry file. */
	kmodel_entry_text(&k, true, page, sizeof(page));
	CHECK(entry_parse(e->name, page, &back) == 0, "entry_parse refuses the kernel's text:\n%s", page);
	CHECK(entry_same(&back, e) && back.enabled, "entry file does not round-trip:\n%s", page);
	CHECK(!strcmp(back.flags, flags), "flags from the entry file '%s', want '%s'", back.flags, flags);
	if (e->type == 'E')
		CHECK(!strcmp(back.extension, e->extension), "extension from the entry file differs");
}

/*
 * With FUZZ_KERNEL_BINFMT=<a private binfmt_misc mount> (tests/integration/
 * 90-fuzz-corpus.sh), check the model against the real kernel: the same
 * answer for the same bytes (an F registration may also fail to open its
 * interpreter, which the model does not try), and for what registers, the
 * same entry file. The entry is removed again.
 */
static void kernel_check(const char *buf, size_t len)
{
	const char *dir = getenv("FUZZ_KERNEL_BINFMT");
	static char path[8192], page[8 * 4096], want[8 * 4096];
	struct kmodel_entry k;
	int fd, model, got = 0;
	ssize_t w;

	if (!dir)
		return;
	model = kmodel_register(buf, len, &k);
	snprintf(path, sizeof(path), "%s/register", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0, "cannot open %s", path);
	w = write(fd, buf, len);
	if (w < 0)
		got = -errno;
	close(fd);
	CHECK(w < 0 || (size_t)w == len, "short write");
	if (model == 0 && (k.flags & KM_F) && got != 0 && got != -EEXIST && got != -EINVAL)
		return; /* the kernel could not open the interpreter for F */
	CHECK(got == model, "kernel says %d, model says %d for '%.*s'", got, model, (int)len, buf);
	if (got != 0)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, k.name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0, "registered %s, but cannot open it", path);
	w = read(fd, page, sizeof(page) - 1);
	page[w > 0 ? w : 0] = '\0';
	kmodel_entry_text(&k, true, want, sizeof(want));
	CHECK(!strcmp(page, want), "kernel shows:\n%s\nmodel says:\n%s", page, want);
	CHECK(write(fd, "-1", 2) == 2, "cannot remove %s", path);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size), *buf, *big;
	static struct binfmt_entry e;
	const char *f;
	size_t len, n = ENTRY_REGISTER_MAX + 2;
	char d;
	int r, r2;

	if (size < 1 || !s[0]) {
		free(s);
		return 0;
	}
	memset(&e, 0, sizeof(e));
	d = s[0];
	const char *body = s + 1;
	if ((f = field(body, d, 0, &len)))
		take_str(e.name, sizeof(e.name), f, len);
	if ((f = field(body, d, 1, &len)) && len)
		e.type = f[0];
	if ((f = field(body, d, 2, &len)))
		e.offset = (unsigned)strtoull(f, NULL, 10);
	if ((f = field(body, d, 3, &len))) {
		if (e.type == 'E')
			take_str(e.extension, sizeof(e.extension), f, len);
		else
			e.magic_len = take_bytes(e.magic, sizeof(e.magic), f, len);
	}
	if ((f = field(body, d, 4, &len)))
		e.mask_len = take_bytes(e.mask, sizeof(e.mask), f, len);
	if ((f = field(body, d, 5, &len)))
		take_str(e.interpreter, sizeof(e.interpreter), f, len);
	if ((f = field(body, d, 6, &len)))
		take_str(e.flags, sizeof(e.flags), f, len);
	if ((f = field(body, d, 7, &len)))
		n = (size_t)strtoul(f, NULL, 10) % 4000;
	e.enabled = true;

	buf = n ? malloc(n) : NULL; /* exactly n: ASan sees any overrun */
	r = entry_format_register(&e, buf, n);
	CHECK(r >= 0 || r == -EINVAL || r == -ENAMETOOLONG, "unexpected result %d", r);
	if (r >= 0)
		check_roundtrip(&e, buf, r, n);

	/* The answer must not depend on the buffer beyond "does it fit". */
	big = malloc(8192);
	r2 = entry_format_register(&e, big, 8192);
	if (r == -ENAMETOOLONG)
		CHECK(r2 == -ENAMETOOLONG || (r2 >= 0 && (size_t)r2 >= n), "-ENAMETOOLONG with n=%zu, but %d fits", n, r2);
	else
		CHECK(r2 == r, "%d with n=%zu but %d with n=8192", r, n, r2);
	if (r2 >= 0) {
		check_roundtrip(&e, big, r2, 8192);
		kernel_check(big, (size_t)r2);
	}
	kernel_check((const char *)data, size);
	if (obviously_valid(&e))
		CHECK(r2 >= 0, "a plain valid entry is refused: %d", r2);
	free(big);
	free(buf);
	free(s);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * OCI platform strings by containerd's rules: platforms.Parse followed by
 * platforms.Normalize (containerd/platforms parse.go and database.go).
 * Builders (BuildKit, buildx, nerdctl) print and compare normalized strings,
 * so anything we print must normalize the same way they do.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "platform.h"
#include "util.h"

/* containerd isKnownOS: only these may stand alone as a single component. */
static const char *const known_os[] = {
	"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos",
	"ios", "js", "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris",
	"windows", "zos",
};

/* containerd isKnownArch: Go's GOARCH list (checked after alias folding). */
static const char *const known_arch[] = {
	"386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be",
	"loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32",
	"mips64p32le", "ppc", "ppc64", "ppc64le", "riscv", "riscv64", "s390",
	"s390x", "sparc", "sparc64", "wasm",
};

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

#define FIELD_LEN sizeof(((struct platform *)0)->os)
_Static_assert(sizeof(((struct platform *)0)->arch) == FIELD_LEN, "field sizes");
_Static_assert(sizeof(((struct platform *)0)->variant) == FIELD_LEN, "field sizes");

/* Only called with strings already bounded by FIELD_LEN. Zero-fills the
 * field: results are compared with memcmp, so no bytes of a longer previous
 * value ("aarch64" -> "arm64", "linux" -> "zos") may linger past the NUL. */
static void set(char *dst, const char *src)
{
	memset(dst, 0, FIELD_LEN);
	(void)copy_str(dst, FIELD_LEN, src);
}

static void lowercase(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* containerd normalizeOS: lowercase, and Apple's marketing name is darwin. */
static void normalize_os(char *os)
{
	lowercase(os);
	if (strcmp(os, "macos") == 0)
		set(os, "darwin");
}

static void normalize_arm64_variant(char *variant)
{
	if (!strcmp(variant, "8") || !strcmp(variant, "v8") || !strcmp(variant, "v8.0"))
		set(variant, "");  /* v8 is the arm64 baseline: dropped */
	else if (!strcmp(variant, "9") || !strcmp(variant, "9.0") || !strcmp(variant, "v9.0"))
		set(variant, "v9");
}

static void normalize_arm_variant(char *variant)
{
	/* A bare 32-bit "arm" means v7 (armhf), the Docker default. */
	if (variant[0] == '\0' || !strcmp(variant, "7"))
		set(variant, "v7");
	else if (!strcmp(variant, "5") || !strcmp(variant, "6") || !strcmp(variant, "8"))
		snprintf(variant, FIELD_LEN, "v%c", variant[0]);
}

/*
 * containerd normalizeArch. It is idempotent, so Parse (which clears an
 * implied arm v7 and adds arm64 v8) followed by Normalize (which undoes both)
 * equals one call of it. Note: i686 is NOT an alias in containerd.
 */
static void normalize_arch(char *arch, char *variant)
{
	lowercase(arch);
	lowercase(variant);
	if (!strcmp(arch, "i386")) {
		set(arch, "386");
		set(variant, "");
	} else if (!strcmp(arch, "x86_64") || !strcmp(arch, "x86-64") || !strcmp(arch, "amd64")) {
		set(arch, "amd64");
		if (!strcmp(variant, "v1"))
			set(variant, "");
	} else if (!strcmp(arch, "aarch64") || !strcmp(arch, "arm64")) {
		set(arch, "arm64");
		normalize_arm64_variant(variant);
	} else if (!strcmp(arch, "armhf")) {
		/* The Debian name fixes the ISA level: any given variant is ignored. */
		set(arch, "arm");
		set(variant, "v7");
	} else if (!strcmp(arch, "armel")) {
		set(arch, "arm");
		set(variant, "v6");
	} else if (!strcmp(arch, "arm")) {
		normalize_arm_variant(variant);
	}
}

/* containerd's component regexp is ^[A-Za-z0-9_.-]+$ ('.' for "v8.2"). */
static bool valid_component(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '_' && c != '.' && c != '-')
			return false;
	}
	return true;
}

/* Split s on '/' into at most 3 bounded components; -EINVAL on any misfit. */
static int split(const char *s, char parts[3][FIELD_LEN], size_t *count)
{
	size_t n = 0;

	for (;;) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);

		if (n == 3 || !valid_component(s, len) || len >= sizeof(parts[0]))
			return -EINVAL;
		memcpy(parts[n], s, len);
		parts[n++][len] = '\0';
		if (!slash)
			break;
		s = slash + 1;
	}
	*count = n;
	return 0;
}

/*
 * A single component is an OS (then the arch is the host's) or an arch (then
 * the OS is the host's, which is always linux for this tool). containerd
 * rejects anything else rather than guess: "i686" alone is an error.
 */
static int parse_single(char *name, struct platform *p)
{
	char variant[FIELD_LEN] = "";

	normalize_os(name);
	if (in_list(name, known_os, ARRAY_SIZE(known_os))) {
		int r = platform_host(p);
		if (r < 0)
			return r;
		set(p->os, name);
		return 0;
	}
	normalize_arch(name, variant);
	if (!in_list(name, known_arch, ARRAY_SIZE(known_arch)))
		return -EINVAL;
	set(p->os, "linux");
	set(p->arch, name);
	set(p->variant, variant);
	return 0;
}

/* Fills a zeroed *p (comparable with memcmp); *p is untouched on error. */
int platform_parse(const char *s, struct platform *out)
{
	char parts[3][FIELD_LEN] = { "", "", "" };
	struct platform tmp = { 0 }, *p = &tmp;
	size_t n;
	int r;

	if (!s || !out)
		return -EINVAL;
	/* containerd: "wildcards not yet supported"; also caught by split(). */
	if (strchr(s, '*'))
		return -EINVAL;
	r = split(s, parts, &n);
	if (r < 0)
		return r;
	if (n == 1) {
		r = parse_single(parts[0], p);
	} else {
		/* os/arch[/variant]: the arch is deliberately not validated. */
		normalize_os(parts[0]);
		normalize_arch(parts[1], parts[2]);
		set(p->os, parts[0]);
		set(p->arch, parts[1]);
		set(p->variant, parts[2]);
	}
	if (r == 0)
		*out = tmp;
	return r;
}

int platform_format(const struct platform *p, char *buf, size_t n)
{
	int r;

	if (!p || !buf || n == 0)
		return -ENAMETOOLONG;
	if (p->variant[0])
		r = snprintf(buf, n, "%s/%s/%s", p->os, p->arch, p->variant);
	else
		r = snprintf(buf, n, "%s/%s", p->os, p->arch);
	if (r < 0 || (size_t)r >= n)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * uname -m spellings → GOARCH (first match wins). Kernels report "mips" and
 * "mips64" for both byte orders, so for those our own (native) byte order
 * decides. armv8l is a 32-bit personality on an arm64 kernel: arm/v8.
 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define MIPS_GOARCH "mipsle"
#define MIPS64_GOARCH "mips64le"
#else
#define MIPS_GOARCH "mips"
#define MIPS64_GOARCH "mips64"
#endif

static const struct {
	const char *glob;
	const char *arch;
	const char *variant;
} machines[] = {
	{ "x86_64", "amd64", "" },
	{ "i[3-6]86", "386", "" },
	{ "aarch64", "arm64", "" },
	{ "aarch64_be", "arm64be", "" },
	{ "armv[5-8]*l", "arm", NULL },   /* variant from the digit */
	{ "armv[5-8]*b", "armbe", NULL },
	{ "ppc64le", "ppc64le", "" },
	{ "ppc64", "ppc64", "" },
	{ "ppc", "ppc", "" },
	{ "s390x", "s390x", "" },
	{ "s390", "s390", "" },
	{ "riscv64", "riscv64", "" },
	{ "loongarch64", "loong64", "" },
	{ "mips64*", MIPS64_GOARCH, "" },
	{ "mips*", MIPS_GOARCH, "" },
	{ "sparc64", "sparc64", "" },
	{ "sparc", "sparc", "" },
};

int platform_host(struct platform *p)
{
	struct utsname u;

	if (!p)
		return -EINVAL;
	if (uname(&u) < 0)
		return -errno;
	memset(p, 0, sizeof(*p));
	set(p->os, "linux");
	for (size_t i = 0; i < ARRAY_SIZE(machines); i++) {
		if (fnmatch(machines[i].glob, u.machine, 0) != 0)
			continue;
		set(p->arch, machines[i].arch);
		if (!machines[i].variant)
			snprintf(p->variant, sizeof(p->variant), "v%c", u.machine[4]);
		return 0;
	}
	/* Unknown machine: report it as is (lowercased) rather than fail. */
	if (copy_str(p->arch, sizeof(p->arch), u.machine) < 0)
		return -ENAMETOOLONG;
	normalize_arch(p->arch, p->variant);
	return 0;
}

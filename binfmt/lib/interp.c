/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interp.h"
#include "util.h"

/* Larger than any emulator: --inspect reads what an entry names, whatever it is. */
#define QEMU_MAX_SIZE (256L << 20)
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* Append a copy of str to the store: returns it, or NULL when it is full. */
static const char *store(char *buf, size_t size, size_t *used, const char *str)
{
	size_t l = strlen(str);
	char *p = buf + *used;

	if (*used + l + 1 > size)
		return NULL;
	memcpy(p, str, l + 1);
	*used += l + 1;
	return p;
}

static void add_dir(struct interp_search *s, size_t *used, const char *dir)
{
	if (s->ndirs >= INTERP_MAX_DIRS || !*dir)
		return;
	s->dirs[s->ndirs] = store(s->storage, sizeof(s->storage), used, dir);
	if (s->dirs[s->ndirs])
		s->ndirs++;
}

/* Once per search, not per candidate (see interp_search_init). */
static void resolve_dirs(struct interp_search *s)
{
	char real[PATH_MAX];
	size_t used = 0;

	for (size_t i = 0; i < s->ndirs; i++)
		s->real[i] = realpath(s->dirs[i], real) ? store(s->real_storage, sizeof(s->real_storage), &used, real)
							: NULL;
}

int interp_search_init(struct interp_search *s, const char *path_value, const char *prefix)
{
	char exe[PATH_MAX], dir[PATH_MAX + 64];
	size_t used = 0;
	ssize_t k;

	memset(s, 0, sizeof(*s));
	s->prefix = prefix ? prefix : "";
	if (path_value && *path_value) {
		_cleanup_free_ char *copy = strdup(path_value);
		char *save = NULL;
		if (!copy)
			return -ENOMEM;
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
			add_dir(s, &used, d);
		resolve_dirs(s);
		return s->ndirs ? 0 : -EINVAL;
	}
	/* The staged payload travels with the program: build/bin/binfmt uses
	 * build/qemu, an installed /usr/lib/binfmt-installer tree its own. */
	k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (k > 0) {
		exe[k] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(dir, sizeof(dir), "%s/../qemu", exe);
			add_dir(s, &used, dir);
			snprintf(dir, sizeof(dir), "%s/../lib/binfmt-installer/qemu", exe);
			add_dir(s, &used, dir);
		}
	}
	add_dir(s, &used, "/usr/bin");
	resolve_dirs(s);
	return 0;
}

/* Candidate number i (directory-major, plain name before -static), or -ENOENT past the end. */
static int candidate(const struct interp_search *s, size_t i, const char *cpu, char *out, size_t n)
{
	static const char *const suffixes[] = { "", "-static" };
	const char *real;
	struct stat st;

	if (i >= s->ndirs * ARRAY_SIZE(suffixes))
		return -ENOENT;
	real = s->real[i / ARRAY_SIZE(suffixes)];
	if (!real)
		return -ESRCH;
	if ((size_t)snprintf(out, n, "%s/%sqemu-%s%s", strcmp(real, "/") ? real : "", s->prefix, cpu,
			     suffixes[i % ARRAY_SIZE(suffixes)]) >= n)
		return -ESRCH;
	if (stat(out, &st) < 0 || !S_ISREG(st.st_mode))
		return -ESRCH;
	return 0;
}

int interp_find(const struct interp_search *s, const char *cpu, char *out, size_t n)
{
	int r;

	for (size_t i = 0; (r = candidate(s, i, cpu, out, n)) != -ENOENT; i++)
		if (r == 0)
			return 0;
	return -ENOENT;
}

static int verify(const char *path, const struct interp_policy *p, struct interp_cache *c, char *resolved,
		  size_t rn, struct bi_error *err);

int interp_find_verified(const struct interp_search *s, const char *cpu, const struct interp_policy *p,
			 char *out, size_t n, struct bi_error *err)
{
	struct bi_error first = { 0 };
	char path[PATH_MAX];
	int r, first_r = -ENOENT;

	for (size_t i = 0; (r = candidate(s, i, cpu, path, sizeof(path))) != -ENOENT; i++) {
		struct bi_error e = { 0 };
		if (r < 0)
			continue;
		r = verify(path, p, s->cache, out, n, &e);
		if (r == 0)
			return 0;
		if (first_r == -ENOENT) {
			first_r = r;
			first = e;
		}
	}
	if (first_r != -ENOENT && err)
		*err = first;
	return first_r;
}

static bool has_pt_interp(Elf *elf)
{
	size_t phnum;

	if (elf_getphdrnum(elf, &phnum) < 0)
		return true; /* unreadable program headers: do not claim static */
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_INTERP)
			return true;
	}
	return false;
}

/* Consumes elf (NULL allowed: not ELF). */
static int elf_facts_of(Elf *elf, unsigned *machine, unsigned *cls, unsigned *type, bool *dynamic)
{
	GElf_Ehdr eh;
	int r = 0;

	if (!elf)
		return -ENOEXEC;
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh)) {
		r = -ENOEXEC;
	} else {
		*machine = eh.e_machine;
		*cls = eh.e_ident[EI_CLASS];
		*type = eh.e_type;
		*dynamic = has_pt_interp(elf);
	}
	elf_end(elf);
	return r;
}

static int elf_facts(int fd, unsigned *machine, unsigned *cls, unsigned *type, bool *dynamic)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	return elf_facts_of(elf_begin(fd, ELF_C_READ, NULL), machine, cls, type, dynamic);
}

int interp_elf_facts(const void *image, size_t n, struct interp_elf *out)
{
	_cleanup_free_ char *copy = NULL;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	/* libelf may convert a foreign-endian image in place: work on a copy. */
	if (!(copy = malloc(n ? n : 1)))
		return -ENOMEM;
	memcpy(copy, image, n);
	return elf_facts_of(elf_memory(copy, n), &out->machine, &out->elf_class, &out->type, &out->dynamic);
}

static int read_host_machine(unsigned *machine, unsigned *elf_class)
{
	_cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	unsigned type;
	bool dyn;

	if (fd < 0)
		return -errno;
	return elf_facts(fd, machine, elf_class, &type, &dyn);
}

int interp_host_machine(unsigned *machine, unsigned *elf_class)
{
	/* Every emulator is checked against it: read our own header once, not
	 * once per emulator. A failure is not kept (the next call tries again). */
	static bool known;
	static unsigned m, c;
	int r;

	if (!known && (r = read_host_machine(&m, &c)) < 0)
		return r;
	known = true;
	*machine = m;
	*elf_class = c;
	return 0;
}

/*
 * Whether outside uid 0 has no mapping in our user namespace. There, files of
 * the host's root show as the overflow uid, like everyone else's outside it:
 * a private instance (the tests, an unprivileged user's namespace) serves only
 * processes of that namespace, so a directory owned outside it is accepted.
 */
static bool host_root_unmapped(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/uid_map", "re");
	unsigned long in, out, count;

	if (!f)
		return false;
	while (fscanf(f, "%lu %lu %lu", &in, &out, &count) == 3)
		if (out == 0)
			return false;
	return true;
}

static unsigned overflow_uid(void)
{
	FILE *f = fopen("/proc/sys/kernel/overflowuid", "re");
	unsigned u = 65534;

	if (!f)
		return u;
	if (fscanf(f, "%u", &u) != 1)
		u = 65534;
	fclose(f);
	return u;
}

static bool trusted_owner(uid_t uid)
{
	static int outside = -1; /* the overflow uid when it stands for the host's root, else -2 */

	if (uid == 0)
		return true;
	if (outside == -1)
		outside = host_root_unmapped() ? (int)overflow_uid() : -2;
	return outside >= 0 && uid == (uid_t)outside;
}

static int check_owner(const char *path, const struct stat *st, struct bi_error *err)
{
	if (!trusted_owner(st->st_uid))
		return bi_error_set(err, -EPERM,
				    "interpreter %s is owned by uid %u, not root: the kernel would run it for every "
				    "foreign binary; chown root %s", path, (unsigned)st->st_uid, path);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return bi_error_set(err, -EPERM,
				    "interpreter %s is writable by group or others: anyone could replace what the "
				    "kernel runs; chmod go-w %s", path, path);
	return 0;
}

/* What the file's inode says: regular, executable, and (when required) safe
 * to run for every user. */
static int check_mode(const char *path, const struct stat *st, const struct interp_policy *p, struct bi_error *err)
{
	if (!S_ISREG(st->st_mode))
		return bi_error_set(err, -EINVAL, "interpreter %s is not a regular file", path);
	if (!(st->st_mode & S_IXUSR))
		return bi_error_set(err, -EACCES, "interpreter %s is not executable: chmod 0755 %s", path, path);
	return p->require_root_owner ? check_owner(path, st, err) : 0;
}

/* What its ELF header says: this host's machine and class, an executable,
 * and static when need_static. */
static int check_elf(const char *path, const struct interp_elf *f, const struct interp_policy *p,
		     struct bi_error *err)
{
	unsigned host_machine = 0, host_class = 0;

	if (interp_host_machine(&host_machine, &host_class) == 0 &&
	    (f->machine != host_machine || f->elf_class != host_class))
		return bi_error_set(err, -ENOEXEC,
				    "interpreter %s is built for another machine (ELF e_machine %u, this host needs %u): "
				    "install the emulators for this host's architecture", path, f->machine, host_machine);
	if (f->type != ET_EXEC && f->type != ET_DYN)
		return bi_error_set(err, -ENOEXEC, "interpreter %s is not an executable", path);
	if (p->need_static && f->dynamic)
		return bi_error_set(err, -ENOEXEC,
				    "interpreter %s is dynamically linked: with the F flag the kernel runs it inside "
				    "foreign root filesystems where its libraries do not exist; use a static QEMU "
				    "(Debian: qemu-user-static)", path);
	return 0;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static struct interp_cache_slot *cache_find(struct interp_cache *c, const struct stat *st)
{
	for (size_t i = 0; i < c->n; i++) {
		struct interp_cache_slot *v = &c->v[i];
		if (v->dev == st->st_dev && v->ino == st->st_ino && v->size == st->st_size &&
		    same_time(&v->mtime, &st->st_mtim) && same_time(&v->ctime, &st->st_ctim))
			return v;
	}
	return NULL;
}

static void cache_add(struct interp_cache *c, const struct stat *st, const struct interp_elf *f)
{
	if (c->n >= ARRAY_SIZE(c->v))
		return;
	c->v[c->n++] = (struct interp_cache_slot){ .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
						   .mtime = st->st_mtim, .ctime = st->st_ctim, .elf = *f };
}

/* A directory on the way to the interpreter: whoever can rename or replace an
 * entry in it decides what the kernel runs (at every exec without F, at
 * registration, at boot from a binfmt.d file). Sticky directories (/tmp) keep
 * others from renaming root's entries. */
static int check_dir(const char *real, const char *dir, const struct stat *st, struct bi_error *err)
{
	if (!trusted_owner(st->st_uid))
		return bi_error_set(err, -EPERM,
				    "interpreter %s is in directory %s, owned by uid %u: whoever owns it can swap "
				    "what the kernel runs for every user; keep the emulators in root-owned "
				    "directories (chown root %s)", real, dir, (unsigned)st->st_uid, dir);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
		return bi_error_set(err, -EPERM,
				    "interpreter %s is in directory %s, writable by group or others: anyone could "
				    "swap what the kernel runs; chmod go-w %s", real, dir, dir);
	return 0;
}

/*
 * Open the resolved path component by component, without following links
 * (a link appearing now means the path changed under us), checking each
 * ancestor when the policy asks for a root-owned interpreter. The file itself
 * is opened with O_NONBLOCK: a FIFO swapped in would otherwise block the open
 * while we may hold the instance lock. Returns the file's descriptor.
 */
static int open_resolved(const char *real, const struct interp_policy *p, struct bi_error *err)
{
	_cleanup_close_ int dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	char dir[PATH_MAX];
	const char *at = real + 1;
	struct stat st;
	int fd, r;

	if (dfd < 0 || fstat(dfd, &st) < 0)
		return bi_error_set(err, -errno, "cannot open /: %s", strerror(errno));
	if (p->require_root_owner && (r = check_dir(real, "/", &st, err)) < 0)
		return r;
	for (const char *slash; (slash = strchr(at, '/')); at = slash + 1) {
		char name[NAME_MAX + 1];
		size_t l = (size_t)(slash - at);
		int next;

		if (l == 0 || l > NAME_MAX)
			return bi_error_set(err, -EINVAL, "interpreter path %s is not a clean absolute path", real);
		memcpy(name, at, l);
		name[l] = '\0';
		next = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return bi_error_set(err, -errno, "interpreter %s changed while it was checked (%.*s: %s)",
					    real, (int)(slash - real), real, strerror(errno));
		close(dfd);
		dfd = next;
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - real), real);
		if (fstat(dfd, &st) < 0)
			return bi_error_set(err, -errno, "cannot stat %s: %s", dir, strerror(errno));
		if (p->require_root_owner && (r = check_dir(real, dir, &st, err)) < 0)
			return r;
	}
	fd = openat(dfd, at, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return bi_error_set(err, -errno, "cannot open interpreter %s: %s", real, strerror(errno));
	return fd;
}

/*
 * Everything through one descriptor, so what is checked is what is read:
 * resolve the path (the kernel stores it verbatim and resolves it again at
 * every use; a symlink registered as is can be re-pointed later), open it,
 * check its inode and read its ELF facts (from the cache when the inode is
 * unchanged). The resolved path goes to resolved (may be NULL).
 */
static int verify(const char *path, const struct interp_policy *p, struct interp_cache *c, char *resolved,
		  size_t rn, struct bi_error *err)
{
	const struct interp_cache_slot *hit;
	struct interp_elf f = { .dynamic = true };
	_cleanup_close_ int fd = -1;
	char real[PATH_MAX];
	struct stat st;
	int r;

	if (!realpath(path, real))
		return bi_error_set(err, -errno, "cannot open interpreter %s: %s", path, strerror(errno));
	if ((fd = open_resolved(real, p, err)) < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return bi_error_set(err, -errno, "cannot stat interpreter %s: %s", real, strerror(errno));
	if ((r = check_mode(real, &st, p, err)) < 0)
		return r;
	if (c && (hit = cache_find(c, &st))) {
		f = hit->elf;
	} else {
		if (elf_facts(fd, &f.machine, &f.elf_class, &f.type, &f.dynamic) < 0)
			return bi_error_set(err, -ENOEXEC, "interpreter %s is not an ELF file", real);
		if (c)
			cache_add(c, &st, &f);
	}
	if ((r = check_elf(real, &f, p, err)) < 0)
		return r;
	return resolved ? copy_str(resolved, rn, real) : 0;
}

int interp_verify(const char *path, const struct interp_policy *p, struct bi_error *err)
{
	return verify(path, p, NULL, NULL, 0, err);
}

/* "qemu-aarch64 version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)" -> "7.2.22" */
static int parse_version(const char *text, char *out, size_t n)
{
	const char *v = strstr(text, " version ");
	size_t l;

	if (!v)
		return -EINVAL;
	v += strlen(" version ");
	l = strspn(v, "0123456789.");
	if (l == 0 || l >= n)
		return -EINVAL;
	memcpy(out, v, l);
	out[l] = '\0';
	return 0;
}

/* The "qemu-<target> version " at p (start of the file: base), or NULL. */
static bool version_banner_at(const char *base, const char *p)
{
	const char *q = p;

	while (q > base && (isalnum((unsigned char)q[-1]) || q[-1] == '_'))
		q--;
	return q != p && q - base >= 5 && !memcmp(q - 5, "qemu-", 5);
}

/*
 * QEMU's linux-user prints its version from one string literal,
 * "qemu-" TARGET_NAME " version " QEMU_FULL_VERSION, so the text is in the
 * file: read it there instead of running it. --version and --inspect (root)
 * meet files nobody verified: an entry's interpreter, whatever
 * QEMU_BINARY_PATH points at.
 */
int interp_qemu_version(const char *path, char *out, size_t n)
{
	static const char needle[] = " version ";
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	const char *base, *p;
	size_t len;
	int r = -ENOMSG;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(needle) || st.st_size > QEMU_MAX_SIZE)
		return -EINVAL;
	len = (size_t)st.st_size;
	base = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	for (p = base; r < 0 && (p = memmem(p, len - (size_t)(p - base), needle, strlen(needle))); p++) {
		const char *v = p + strlen(needle);
		char text[64];

		if (!version_banner_at(base, p))
			continue;
		/* The version is followed by more text or the end of the file. */
		snprintf(text, sizeof(text), "%s%.*s", needle, (int)MIN((size_t)(base + len - v), sizeof(text) - 16), v);
		r = parse_version(text, out, n);
	}
	munmap((void *)base, len);
	return r;
}

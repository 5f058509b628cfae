/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interp.h"
#include "util.h"

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

static int verify(const char *path, const struct interp_policy *p, struct interp_cache *c, struct bi_error *err);

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
		r = verify(path, p, s->cache, &e);
		if (r == 0)
			return copy_str(out, n, path);
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

static int check_owner(const char *path, const struct stat *st, struct bi_error *err)
{
	if (st->st_uid != 0)
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

/* Open the file, check its inode, read its ELF facts; *st is what was read. */
static int read_facts(const char *path, const struct interp_policy *p, struct stat *st, struct interp_elf *f,
		      struct bi_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return bi_error_set(err, -errno, "cannot open interpreter %s: %s", path, strerror(errno));
	if (fstat(fd, st) < 0)
		return bi_error_set(err, -errno, "cannot stat interpreter %s: %s", path, strerror(errno));
	if ((r = check_mode(path, st, p, err)) < 0)
		return r;
	if (elf_facts(fd, &f->machine, &f->elf_class, &f->type, &f->dynamic) < 0)
		return bi_error_set(err, -ENOEXEC, "interpreter %s is not an ELF file", path);
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

static int verify(const char *path, const struct interp_policy *p, struct interp_cache *c, struct bi_error *err)
{
	const struct interp_cache_slot *hit;
	struct interp_elf f = { .dynamic = true };
	struct stat st;
	int r;

	/* Seen before, unchanged: only the inode checks, from a fresh stat. */
	if (c && stat(path, &st) == 0 && (hit = cache_find(c, &st))) {
		r = check_mode(path, &st, p, err);
		return r < 0 ? r : check_elf(path, &hit->elf, p, err);
	}
	r = read_facts(path, p, &st, &f, err);
	if (r < 0)
		return r;
	if (c)
		cache_add(c, &st, &f);
	return check_elf(path, &f, p, err);
}

int interp_verify(const char *path, const struct interp_policy *p, struct bi_error *err)
{
	return verify(path, p, NULL, err);
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

static int read_with_deadline(int fd, char *buf, size_t n, int timeout_ms)
{
	size_t total = 0;

	while (total + 1 < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t k;
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		k = read(fd, buf + total, n - 1 - total);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		total += (size_t)k;
	}
	buf[total] = '\0';
	return 0;
}

int interp_qemu_version(const char *path, char *out, size_t n)
{
	char buf[512];
	int pfd[2], r, st;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return r;
	}
	if (pid == 0) {
		char *const argv[] = { (char *)path, (char *)"-version", NULL };
		char *const envp[] = { NULL };
		dup2(pfd[1], STDOUT_FILENO);
		execve(path, argv, envp);
		_exit(127);
	}
	close(pfd[1]);
	r = read_with_deadline(pfd[0], buf, sizeof(buf), 2000);
	close(pfd[0]);
	if (r < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return r < 0 ? r : parse_version(buf, out, n);
}

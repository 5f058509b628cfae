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

static void add_dir(struct interp_search *s, size_t *used, const char *dir)
{
	size_t l = strlen(dir);

	if (s->ndirs >= INTERP_MAX_DIRS || l == 0 || *used + l + 1 > sizeof(s->storage))
		return;
	memcpy(s->storage + *used, dir, l + 1);
	s->dirs[s->ndirs++] = s->storage + *used;
	*used += l + 1;
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
	return 0;
}

/* Candidate number i (directory-major, plain name before -static), or -ENOENT past the end. */
static int candidate(const struct interp_search *s, size_t i, const char *cpu, char *out, size_t n)
{
	static const char *const suffixes[] = { "", "-static" };
	const char *dir;
	char real[PATH_MAX];
	struct stat st;

	if (i >= s->ndirs * ARRAY_SIZE(suffixes))
		return -ENOENT;
	dir = s->dirs[i / ARRAY_SIZE(suffixes)];
	/* Register a clean absolute path: the kernel stores it verbatim. */
	if (!realpath(dir, real))
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
		r = interp_verify(path, p, &e);
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

int interp_host_machine(unsigned *machine, unsigned *elf_class)
{
	_cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	unsigned type;
	bool dyn;

	if (fd < 0)
		return -errno;
	return elf_facts(fd, machine, elf_class, &type, &dyn);
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

int interp_verify(const char *path, const struct interp_policy *p, struct bi_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned machine = 0, cls = 0, type = 0, host_machine = 0, host_class = 0;
	bool dynamic = true;
	struct stat st;
	int r;

	if (fd < 0)
		return bi_error_set(err, -errno, "cannot open interpreter %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return bi_error_set(err, -errno, "cannot stat interpreter %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return bi_error_set(err, -EINVAL, "interpreter %s is not a regular file", path);
	if (!(st.st_mode & S_IXUSR))
		return bi_error_set(err, -EACCES, "interpreter %s is not executable: chmod 0755 %s", path, path);
	if (p->require_root_owner && (r = check_owner(path, &st, err)) < 0)
		return r;
	r = elf_facts(fd, &machine, &cls, &type, &dynamic);
	if (r < 0)
		return bi_error_set(err, -ENOEXEC, "interpreter %s is not an ELF file", path);
	if (interp_host_machine(&host_machine, &host_class) == 0 &&
	    (machine != host_machine || cls != host_class))
		return bi_error_set(err, -ENOEXEC,
				    "interpreter %s is built for another machine (ELF e_machine %u, this host needs %u): "
				    "install the emulators for this host's architecture", path, machine, host_machine);
	if (type != ET_EXEC && type != ET_DYN)
		return bi_error_set(err, -ENOEXEC, "interpreter %s is not an executable", path);
	if (p->need_static && dynamic)
		return bi_error_set(err, -ENOEXEC,
				    "interpreter %s is dynamically linked: with the F flag the kernel runs it inside "
				    "foreign root filesystems where its libraries do not exist; use a static QEMU "
				    "(Debian: qemu-user-static)", path);
	return 0;
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

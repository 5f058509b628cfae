/* SPDX-License-Identifier: MIT */
/*
 * emu-run-accel: the interpreter of emu-run's private binfmt_misc entry when
 * emu-run accelerates a step's compiles (accel.c). The kernel runs it, a
 * static program of the host's architecture, for every foreign executable
 * of the step (flags F and P: argv is [us, FILE, ARGV0, ARGS...]). For the
 * root's tools that the host has the same Debian version of (the file's
 * device, inode, size and mtime, as emu-run found them), it execs the
 * host's cross tool through the host's own loader and libraries, which
 * emu-run mounted read-only under ACCEL_DIR:
 *
 *   ACCEL_DIR/lib/<loader> --inhibit-cache --library-path ACCEL_DIR/lib
 *       --argv0 ARGV0 ACCEL_DIR/tN ARGS...
 *
 * and for everything else QEMU, as the kernel would have run it:
 *
 *   ACCEL_DIR/qemu [-cpu MODEL] -0 ARGV0 FILE ARGS...
 *
 * It is also the interpreter when emu-run passes a CPU model (--cpu, or its
 * default for the target; cpu.c) and nothing is accelerated: then the table
 * has no tools. The model goes on QEMU's command line, never into the step's
 * environment (a BuildKit RUN step has no QEMU_CPU), and only when the
 * exec's own environment has no QEMU_CPU: QEMU's command line overrides its
 * environment, and a step that sets QEMU_CPU itself gets its choice, as
 * under a plain QEMU registration.
 *
 * Nothing of the root is covered or changed, in the step's view either: a
 * step that reads, copies, checksums or upgrades (dpkg renames over) the
 * root's cc1 meets the root's own file, and a replaced file (another inode)
 * is emulated. ACCEL_DIR/tools says, per line (tab-separated): "qemu PATH",
 * optionally "cpu MODEL", and when tools are accelerated "loader PATH",
 * "libs DIR", then "tool DEV INO SIZE MTIME-S MTIME-NS NATIVE KIND".
 *
 * KIND "c" or "c++" (cc1, cc1plus; "plain" for lto1 and as): a cross
 * compiler's built-in header search list is not the native one's
 * (/usr/lib/gcc-cross/..., no /usr/local/include). So, once per step, the
 * root's own tool (emulated) and the native one are asked for theirs (-v -E
 * /dev/null, the same -imultiarch; kept in ACCEL_DIR/cache), and the native
 * tool gets the root's list through C_INCLUDE_PATH (CPLUS_INCLUDE_PATH for
 * cc1plus), after the step's own value: GCC searches those before its
 * standard directories and drops a standard one already listed, so the
 * order is the root's, and no object records it (DW_AT_producer records
 * options, never the environment). That holds only while every directory
 * the native tool searches is in the root's list, which is checked, and for
 * the directories that existed: each run checks that they still do, and that
 * the ones either tool ignored as missing still do not, else it goes
 * emulated. Arguments that make the search list or the output depend on the
 * compiler's own configuration (-v, -nostdinc, --sysroot, -isysroot,
 * -iprefix, -imultilib, -fplugin, -frecord-gcc-switches, ...) go emulated.
 *
 * Whenever native output could differ, or the native tool cannot be started,
 * it runs the root's own tool under QEMU instead: an argument naming the
 * "native" CPU (a cross compiler's native is the host's), and
 * LD_PRELOAD/LD_AUDIT/LD_DEBUG/LD_PROFILE in the environment (they would act
 * on the host's loader, not the root's). The environment is passed on
 * unchanged either way; the loader's --library-path supersedes
 * LD_LIBRARY_PATH, which names the root's (foreign) libraries.
 *
 * Static, no allocation beyond the stack and one anonymous mapping for
 * QEMU's argument vector (as long as the step's: a RUN step may pass
 * hundreds of thousands of arguments, as many as the kernel takes): it runs
 * in any root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../accel.h"

#define MAX_ARGS 4096
#define MAX_ENV 4096
#define LIST_MAX 16384

static void fail(const char *what, int e)
{
	dprintf(2, "emu-run-accel: %s: %s (the launcher of emu-run's private binfmt_misc entry)\n", what,
		strerror(e));
}

/* An argument whose meaning is the compiler's own configuration or the host's CPU. */
static bool config_dependent(char **argv)
{
	static const char *const exact[] = { "-v", "-version", "--version", "-nostdinc", "-nostdinc++", "--help",
					     "-fself-test", "-frecord-gcc-switches", "-dumpspecs" };
	static const char *const prefix[] = { "-iprefix", "-iwithprefix", "-isysroot", "--sysroot", "-imultilib",
					      "-fplugin", "-print-", "--help=", "-fself-test=" };

	for (char **a = argv + 1; *a; a++) {
		if (!strncmp(*a, "-m", 2) && strstr(*a, "=native"))
			return true;
		for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
			if (!strcmp(*a, exact[i]))
				return true;
		for (size_t i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
			if (!strncmp(*a, prefix[i], strlen(prefix[i])))
				return true;
	}
	return false;
}

static bool loader_env(char **envp)
{
	static const char *const vars[] = { "LD_PRELOAD=", "LD_AUDIT=", "LD_DEBUG=", "LD_PROFILE=" };

	for (char **e = envp; *e; e++)
		for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
			if (!strncmp(*e, vars[i], strlen(vars[i])) && (*e)[strlen(vars[i])])
				return true;
	return false;
}

/* The next tab- or newline-terminated field of *p, NUL-terminated in place. */
static char *field(char **p)
{
	char *s = *p, *end = s + strcspn(s, "\t\n");

	if (!*s)
		return NULL;
	*p = end + (*end != '\0');
	*end = '\0';
	return s;
}

struct entry {
	char *qemu, *cpu, *loader, *libs, *native, *kind;
	int index;                 /* its line among the tools, -1: not one */
};

static bool field_is(char *f, unsigned long long v)
{
	char *end;

	return f && *f && strtoull(f, &end, 10) == v && !*end;
}

/* The table's paths, and the tool that st is (index -1 when none). */
static bool lookup(char *buf, const struct stat *st, struct entry *out)
{
	char *p = buf, *key;
	int k = 0;

	memset(out, 0, sizeof(*out));
	out->index = -1;
	while ((key = field(&p))) {
		if (!strcmp(key, "qemu")) {
			out->qemu = field(&p);
		} else if (!strcmp(key, "cpu")) {
			out->cpu = field(&p);
		} else if (!strcmp(key, "loader")) {
			out->loader = field(&p);
		} else if (!strcmp(key, "libs")) {
			out->libs = field(&p);
		} else if (!strcmp(key, "tool")) {
			char *dev = field(&p), *ino = field(&p), *size = field(&p), *sec = field(&p), *nsec = field(&p);
			char *native = field(&p), *kind = field(&p);

			if (native && kind && out->index < 0 && field_is(dev, st->st_dev) && field_is(ino, st->st_ino) &&
			    field_is(size, (unsigned long long)st->st_size) &&
			    field_is(sec, (unsigned long long)st->st_mtim.tv_sec) &&
			    field_is(nsec, (unsigned long long)st->st_mtim.tv_nsec)) {
				out->native = native;
				out->kind = kind;
				out->index = k;
			}
			k++;
		}
	}
	/* Tools run through the host's loader: without it none is one. */
	if (!out->loader || !out->libs)
		out->index = -1;
	return out->qemu != NULL;
}

static ssize_t read_file(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t have = 0;
	ssize_t r;

	if (fd < 0)
		return -errno;
	while (have < n - 1 && (r = read(fd, buf + have, n - 1 - have)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return -errno;
		}
		have += (size_t)r;
	}
	close(fd);
	buf[have] = '\0';
	return (ssize_t)have;
}

/* The -imultiarch the driver passed ("" for none): the one input of the list we keep. */
static const char *multiarch(char **argv)
{
	for (char **a = argv + 1; *a; a++)
		if (!strcmp(*a, "-imultiarch") && a[1])
			return a[1];
	return "";
}

static bool is_lang_env(const char *e)
{
	static const char *const vars[] = { "CPATH=", "C_INCLUDE_PATH=", "CPLUS_INCLUDE_PATH=", "OBJC_INCLUDE_PATH=",
					    "OBJCPLUS_INCLUDE_PATH=", "LC_ALL=", "LC_MESSAGES=", "LANG=", "LANGUAGE=" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (!strncmp(e, vars[i], strlen(vars[i])))
			return true;
	return false;
}

/*
 * Run a tool for its standard search list: out gets "+DIR" per directory
 * searched, in order, and "-DIR" per one it ignored as missing. Its output
 * is English (LC_ALL=C) and has no path of the step's own (CPATH and the
 * like are left out). 0, or -1.
 */
static int probe_list(const char *prog, char **pargv, char **envp, char *out, size_t n)
{
	static char *penv[MAX_ENV + 2];
	static char buf[LIST_MAX];
	size_t k = 0, len = 0, o = 0;
	bool in_list = false;
	int p[2], st;
	pid_t pid;

	for (char **v = envp; *v && k < MAX_ENV; v++)
		if (!is_lang_env(*v))
			penv[k++] = *v;
	penv[k++] = (char *)"LC_ALL=C";
	penv[k] = NULL;
	if (pipe(p) < 0)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(p[1], 2) < 0)
			_exit(126);
		close(p[0]);
		execve(prog, pargv, penv);
		_exit(127);
	}
	close(p[1]);
	for (ssize_t r; len < sizeof(buf) - 1 && (r = read(p[0], buf + len, sizeof(buf) - 1 - len)) != 0;) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || len == sizeof(buf) - 1)
		return -1;
	for (char *line = buf, *nl; *line; line = nl + 1) {
		static const char ignored[] = "ignoring nonexistent directory \"";
		const char *d = NULL;
		char sign = 0;
		size_t l;

		if (!(nl = strchr(line, '\n')))
			return -1;
		*nl = '\0';
		if (!strcmp(line, "#include <...> search starts here:")) {
			in_list = true;
		} else if (!strcmp(line, "End of search list.")) {
			in_list = false;
		} else if (in_list && line[0] == ' ') {
			d = line + 1, sign = '+';
		} else if (!strncmp(line, ignored, strlen(ignored))) {
			d = line + strlen(ignored), sign = '-';
			if (!*d || d[strlen(d) - 1] != '"')
				return -1;
			line[strlen(line) - 1] = '\0';
		}
		if (!d)
			continue;
		/* A directory GCC prints with a note ("(framework directory)"), or
		 * one that cannot be put in a search path: not for us. */
		if (strchr(d, ':') || strstr(d, " ("))
			return -1;
		l = strlen(d);
		if (o + l + 3 > n)
			return -1;
		out[o++] = sign;
		memcpy(out + o, d, l);
		o += l;
		out[o++] = '\n';
	}
	out[o] = '\0';
	return o > 0 && !in_list ? 0 : -1;
}

/* Is "+DIR" (sign '+') or "-DIR" a line of list? */
static bool has_line(const char *list, char sign, const char *d, size_t l)
{
	for (const char *p = list; (p = strstr(p, d)); p++)
		if (p > list && p[-1] == sign && (p - 1 == list || p[-2] == '\n') && p[l] == '\n')
			return true;
	return false;
}

/*
 * The list the step's compiles get: the root's tool's (emulated) own, in
 * its order, through C_INCLUDE_PATH; the native tool then adds its own
 * standard directories after them, where GCC drops each one already there.
 * So every directory the native tool searches must be in the root's list,
 * and each one it ignored as missing is kept as a "-" line too: should it
 * appear later, the step's compiles go emulated.
 */
static int probe_both(const struct entry *e, const char *file, const char *argv0, const char *march, char **envp,
		      char *out, size_t n)
{
	static char native[LIST_MAX];
	char *eargv[] = { e->qemu, (char *)"-0", (char *)argv0, (char *)file, (char *)"-quiet", (char *)"-v", (char *)"-E",
			  (char *)"/dev/null", (char *)"-o", (char *)"/dev/null", (char *)"-imultiarch", (char *)march, NULL };
	char *nargv[] = { e->loader, (char *)"--inhibit-cache", (char *)"--library-path", e->libs, (char *)"--argv0",
			  (char *)argv0, e->native, (char *)"-quiet", (char *)"-v", (char *)"-E", (char *)"/dev/null",
			  (char *)"-o", (char *)"/dev/null", (char *)"-imultiarch", (char *)march, NULL };
	size_t o;

	/* The root's tool under QEMU's default CPU (no -cpu): the search list
	 * is the compiler's configuration, whatever CPU runs it. */
	if (!*march) {
		/* No -imultiarch from the driver: none here either. */
		eargv[10] = NULL;
		nargv[13] = NULL;
	}
	if (probe_list(e->qemu, eargv, envp, out, n) < 0 || probe_list(e->loader, nargv, envp, native, sizeof(native)) < 0)
		return -1;
	o = strlen(out);
	for (char *line = native, *nl; *line; line = nl + 1) {
		size_t l;

		nl = strchr(line, '\n');
		l = (size_t)(nl - line) - 1;
		if (line[0] == '+' && !has_line(out, '+', line + 1, l))
			return -1;
		if (line[0] == '-' && !has_line(out, '-', line + 1, l)) {
			if (o + l + 3 > n)
				return -1;
			memcpy(out + o, line, l + 2);
			o += l + 2;
			out[o] = '\0';
		}
	}
	return 0;
}

static void cache_name(const struct entry *e, const char *march, char *name, size_t n)
{
	int k = snprintf(name, n, ACCEL_DIR "/cache/t%d-", e->index);

	for (const char *c = march; *c && (size_t)k < n - 1; c++) {
		name[k++] = *c;
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *c))
			name[k - 1] = '_';
	}
	name[k] = '\0';
}

/* The kept list, or a new one (kept atomically: make -j runs tools side by side). */
static int search_list(const struct entry *e, const char *file, const char *argv0, const char *march, char **envp,
		       char *list, size_t n)
{
	char name[512], tmp[600];
	int fd;

	cache_name(e, march, name, sizeof(name));
	if (read_file(name, list, n) > 0)
		return 0;
	if (probe_both(e, file, argv0, march, envp, list, n) < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.%d", name, (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) >= 0) {
		size_t l = strlen(list);
		bool ok = write(fd, list, l) == (ssize_t)l;

		close(fd);
		if (!ok || rename(tmp, name) < 0)
			unlink(tmp);
	}
	return 0;
}

/* The directories as C_INCLUDE_PATH's value, if each still is (or is not) there. */
static int list_value(char *list, char *val, size_t n)
{
	size_t o = 0;
	struct stat st;

	val[0] = '\0';
	for (char *line = list, *nl; *line; line = nl + 1) {
		bool there;
		size_t l;

		if (!(nl = strchr(line, '\n')))
			return -1;
		*nl = '\0';
		there = stat(line + 1, &st) == 0 && S_ISDIR(st.st_mode);
		if (there != (line[0] == '+'))
			return -1;
		if (line[0] != '+')
			continue;
		l = strlen(line + 1);
		if (o + l + 2 > n)
			return -1;
		if (o)
			val[o++] = ':';
		memcpy(val + o, line + 1, l);
		o += l;
		val[o] = '\0';
	}
	return o ? 0 : -1;
}

/* envp with var set to the step's own value, ':', then dirs. */
static char **with_dirs(char **envp, const char *var, const char *dirs)
{
	static char *nenv[MAX_ENV + 2];
	static char value[LIST_MAX + 8192];
	size_t k = 0, vl = strlen(var);
	const char *own = NULL;

	for (char **v = envp; *v; v++) {
		if (!strncmp(*v, var, vl) && (*v)[vl] == '=') {
			own = *v + vl + 1;
			continue;
		}
		if (k == MAX_ENV)
			return NULL;
		nenv[k++] = *v;
	}
	/* An empty element is the working directory to GCC: an own "" stays one. */
	if ((size_t)snprintf(value, sizeof(value), "%s=%s%s%s", var, own ? own : "", own ? ":" : "", dirs) >=
	    sizeof(value))
		return NULL;
	nenv[k++] = value;
	nenv[k] = NULL;
	return nenv;
}

/* Does the exec's environment choose QEMU's CPU itself? */
static bool env_has_cpu(char **envp)
{
	for (char **v = envp; *v; v++)
		if (!strncmp(*v, "QEMU_CPU=", 9))
			return true;
	return false;
}

/* QEMU, as the kernel would have run it for FILE (P: argv[0] as given),
 * with the table's CPU model unless the environment names one. */
static int emulate(const struct entry *e, const char *file, int targc, char **targv, char **envp)
{
	/* Freed by the exec; QEMU's 5 arguments more than the step's. */
	char **qargv = mmap(NULL, ((size_t)targc + 8) * sizeof(*qargv), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t k = 0;

	if (qargv == MAP_FAILED) {
		fail(file, errno);
		return 126;
	}
	qargv[k++] = e->qemu;
	if (e->cpu && *e->cpu && !env_has_cpu(envp)) {
		qargv[k++] = (char *)"-cpu";
		qargv[k++] = e->cpu;
	}
	qargv[k++] = (char *)"-0";
	qargv[k++] = targv[0];
	qargv[k++] = (char *)file;
	for (int i = 1; i < targc; i++)
		qargv[k++] = targv[i];
	qargv[k] = NULL;
	execve(e->qemu, qargv, envp);
	fail(e->qemu, errno);
	return 126;
}

int main(int argc, char **argv, char **envp)
{
	static char table[ACCEL_TABLE_MAX];
	static char *nargv[MAX_ARGS + 8];
	static char list[LIST_MAX], dirs[LIST_MAX];
	char **targv = argv + 2, **nenv = envp;
	const char *file;
	struct entry e;
	struct stat st;
	int targc = argc - 2;
	size_t k = 0;
	bool known;
	ssize_t n;

	/* binfmt_misc with P: [us, FILE, ARGV0, ARGS...]. */
	if (argc < 3) {
		fail("run by emu-run's binfmt_misc entry only", EINVAL);
		return 126;
	}
	file = argv[1];
	if ((n = read_file(ACCEL_DIR "/" ACCEL_TABLE, table, sizeof(table))) < 0) {
		fail(ACCEL_DIR "/" ACCEL_TABLE, (int)-n);
		return 126;
	}
	known = stat(file, &st) == 0;
	if (!known)
		memset(&st, 0, sizeof(st));
	if (!lookup(table, &st, &e)) {
		fail(ACCEL_DIR "/" ACCEL_TABLE ": no qemu line", EINVAL);
		return 126;
	}
	if (!known)
		e.index = -1;
	if (e.index < 0 || config_dependent(targv) || loader_env(envp) || targc > MAX_ARGS)
		return emulate(&e, file, targc, targv, envp);
	if (!strcmp(e.kind, "c") || !strcmp(e.kind, "c++")) {
		const char *var = !strcmp(e.kind, "c++") ? "CPLUS_INCLUDE_PATH" : "C_INCLUDE_PATH";

		if (search_list(&e, file, targv[0], multiarch(targv), envp, list, sizeof(list)) < 0 ||
		    list_value(list, dirs, sizeof(dirs)) < 0 || !(nenv = with_dirs(envp, var, dirs)))
			return emulate(&e, file, targc, targv, envp);
	}
	nargv[k++] = e.loader;
	nargv[k++] = (char *)"--inhibit-cache";
	nargv[k++] = (char *)"--library-path";
	nargv[k++] = e.libs;
	nargv[k++] = (char *)"--argv0";
	nargv[k++] = targv[0];
	nargv[k++] = e.native;
	for (int i = 1; i < targc; i++)
		nargv[k++] = targv[i];
	nargv[k] = NULL;
	execve(e.loader, nargv, nenv);
	/* Not startable after all: the root's tool, emulated, as without us. */
	return emulate(&e, file, targc, targv, envp);
}

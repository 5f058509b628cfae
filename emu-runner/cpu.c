/* SPDX-License-Identifier: MIT */
/*
 * --cpu MODEL, checked against the CPU models the QEMU in use lists
 * (`qemu-ARCH -cpu help`) before anything is set up: left to QEMU, an unknown
 * model fails at the step's first exec, inside the step ("unable to find CPU
 * model"), with QEMU's exit status 1 as if the step had failed (issue 18).
 *
 * QEMU's list has three shapes: "  NAME  [description]" (most targets),
 * "x86 NAME  [description]" (i386, x86_64), after an "Available CPUs:"
 * line; some targets (s390x) follow it with other sections, after a blank
 * line. A MODEL may carry properties ("max,pauth-impdef=on"): only the name
 * before the first comma is a model. Names are matched exactly, as QEMU's
 * linux-user lookup does (seen: "Cortex-A53", "HASWELL", "Z900" refused).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu.h"
#include "util.h"

#define HELP_MAX (256 * 1024)

/* QEMU's `-cpu help` output into buf (NUL-terminated); 0 or -errno. */
static int cpu_help(const char *qemu, char *buf, size_t cap)
{
	int p[2], ws, e = 0;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		e = -errno;
		close(p[0]);
		close(p[1]);
		return e;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (dup2(p[1], 1) < 0 || (null >= 0 && dup2(null, 2) < 0))
			_exit(127);
		execl(qemu, qemu, "-cpu", "help", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (len + 1 < cap && (n = read(p[0], buf + len, cap - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = -errno;
			break;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(p[0]);
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -errno;
	/* linux-user QEMU exits 1 after listing: its status says nothing. */
	if (e == 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 127 && len == 0)
		e = -ENOEXEC;
	return e;
}

/* Calls fn for each model name of a `-cpu help` listing; stops when it
 * returns true. Returns the number of names seen. */
static size_t each_model(char *help, bool (*fn)(const char *name, void *arg), void *arg)
{
	char *line, *save = NULL;
	bool in_list = false;
	size_t count = 0;

	for (line = strtok_r(help, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *name = line;
		size_t l;

		if (!in_list) {
			in_list = !strncmp(line, "Available CPUs:", 15);
			continue;
		}
		if (!strncmp(name, "x86 ", 4))
			name += 4;
		else if (*name != ' ' && *name != '\t')
			break; /* the next section */
		name += strspn(name, " \t");
		l = strcspn(name, " \t");
		if (l == 0)
			break;
		name[l] = '\0';
		count++;
		if (fn(name, arg))
			break;
	}
	return count;
}

struct find {
	const char *model;
	size_t len;
	bool found;
};

static bool is_model(const char *name, void *arg)
{
	struct find *f = arg;

	f->found = strlen(name) == f->len && !strncmp(name, f->model, f->len);
	return f->found;
}

struct join {
	char *out;
	size_t cap, len;
};

static bool append(const char *name, void *arg)
{
	struct join *j = arg;
	const char *sep = j->len ? ", " : "";

	/* Room is kept for ", ...": s390x and ppc list hundreds of models. */
	if (j->len + strlen(sep) + strlen(name) + 6 >= j->cap) {
		snprintf(j->out + j->len, j->cap - j->len, "%s...", sep);
		return true;
	}
	j->len += (size_t)snprintf(j->out + j->len, j->cap - j->len, "%s%s", sep, name);
	return false;
}

int cpu_model_check(const char *qemu, const char *model, struct bi_error *err)
{
	static char help[HELP_MAX], copy[HELP_MAX];
	struct find f = { .model = model, .len = strcspn(model, ",") };
	char list[700];
	struct join j = { .out = list, .cap = sizeof(list) };
	int r = cpu_help(qemu, help, sizeof(help));

	/* A QEMU that cannot list its models is not refused here: QEMU
	 * itself is then the judge, as before. */
	if (r < 0)
		return 0;
	memcpy(copy, help, sizeof(copy));
	if (f.len > 0 && each_model(help, is_model, &f) == 0)
		return 0; /* a listing we cannot read: same */
	if (f.found)
		return 0;
	list[0] = '\0';
	each_model(copy, append, &j);
	return bi_error_set(err, -EINVAL, "--cpu %s: %s has no CPU model '%.*s'; it accepts: %s", model, qemu,
			    (int)f.len, model, list);
}

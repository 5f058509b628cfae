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
#define CPU_MODEL_MAX 200

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

static char help[HELP_MAX], copy[HELP_MAX];

/* Does qemu list model (its name before any ',')? 1 or 0; -errno when it
 * cannot list its models or its listing cannot be read (help then holds
 * another copy of it, for the error message). */
static int model_listed(const char *qemu, const char *model)
{
	struct find f = { .model = model, .len = strcspn(model, ",") };
	int r = cpu_help(qemu, help, sizeof(help));

	if (r < 0)
		return r;
	memcpy(copy, help, sizeof(copy));
	if (f.len == 0)
		return 0;
	if (each_model(help, is_model, &f) == 0)
		return -ENOEXEC;
	return f.found;
}

int cpu_model_check(const char *qemu, const char *model, struct bi_error *err)
{
	char list[700];
	struct join j = { .out = list, .cap = sizeof(list) };
	int r = model_listed(qemu, model);

	/* A QEMU that cannot list its models, or a listing we cannot read, is
	 * not refused here: QEMU itself is then the judge, as before. */
	if (r != 0)
		return 0;
	list[0] = '\0';
	each_model(copy, append, &j);
	return bi_error_set(err, -EINVAL, "--cpu %s: %s has no CPU model '%.*s'; it accepts: %s", model, qemu,
			    (int)strcspn(model, ","), model, list);
}

/*
 * emu-run's default model per target, where QEMU's own (`max`) makes the
 * images people build today slower: glibc >= 2.38 (Debian trixie, Ubuntu
 * noble) picks string and memory routines by the CPU's features, and QEMU
 * runs the ones `max` advertises (FEAT_MOPS, SVE/SME) through slow helpers.
 * Chosen by measurement on trixie roots: docs/benchmarks.md, section 9 (the
 * fastest model that ran every workload with the same output as `max`).
 * `--cpu max` is the compatibility choice; targets not listed keep QEMU's.
 */
static const char *const defaults[][2] = {
	/* Armv8.2 with LSE atomics, as AWS Graviton2 and the Neoverse-N1
	 * servers: runs images built for Armv8.2 (cortex-a53, Armv8.0, does not). */
	{ "aarch64", "neoverse-n1" },
	/* The RVA23 user profile: every extension of RVA23U64 (V included),
	 * so RVA23 images (Ubuntu 25.10 and later) run; of the 114 `max`
	 * adds, none that trixie's glibc picks routines by (QEMU 9.0 and
	 * later list it; 7.2 does not, which keeps its own default). */
	{ "riscv64", "rva23u64" },
};

const char *cpu_default_model(const struct target *t)
{
	for (size_t i = 0; t && i < ARRAY_SIZE(defaults); i++)
		if (!strcmp(t->cpu, defaults[i][0]))
			return defaults[i][1];
	return NULL;
}

/* One line of the launcher's table, and an argument of QEMU's. */
static bool model_ok(const char *m)
{
	if (!*m || strlen(m) > CPU_MODEL_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)m; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

int cpu_choose(const struct emu_config *c, struct emulation *em, struct bi_error *err)
{
	const char *d;
	int r;

	em->cpu = NULL;
	em->cpu_is_default = em->cpu_by_launcher = false;
	em->cpu_note[0] = '\0';
	if (em->path == EMU_PATH_NATIVE)
		return 0;
	if (c->cpu) {
		if (!model_ok(c->cpu))
			return bi_error_set(err, -EINVAL, "--cpu: a model name of 1 to %d bytes without control "
					    "characters is expected (see: %s -cpu help)", CPU_MODEL_MAX,
					    em->qemu[0] ? em->qemu : "qemu-ARCH");
		if (em->qemu[0] && (r = cpu_model_check(em->qemu, c->cpu, err)) < 0)
			return r;
		em->cpu = c->cpu;
		return 0;
	}
	if (!(d = cpu_default_model(c->target)))
		return 0;
	if (!c->rootfs) {
		snprintf(em->cpu_note, sizeof(em->cpu_note), "emu-run's default %s is for --rootfs and --image steps "
			 "(a host command keeps the environment it has)", d);
		return 0;
	}
	if (!em->qemu[0] || model_listed(em->qemu, d) <= 0) {
		snprintf(em->cpu_note, sizeof(em->cpu_note), "emu-run's default %s is not used: %s", d,
			 !em->qemu[0] ? "no QEMU of emu-run's own (the host's registration runs its own)"
				      : "this QEMU does not list it (-cpu help)");
		return 0;
	}
	em->cpu = d;
	em->cpu_is_default = true;
	return 0;
}

const char *cpu_env_value(const struct emulation *em)
{
	return em->cpu && !em->cpu_is_default && !em->cpu_by_launcher ? em->cpu : NULL;
}

/* An -e or --env-file QEMU_CPU: QEMU reads it, and the launcher then passes no -cpu. */
static bool step_sets_cpu(const struct emu_config *c)
{
	for (size_t i = 0; i < c->nenv; i++)
		if (!strncmp(c->env[i], "QEMU_CPU=", 9))
			return true;
	return false;
}

void cpu_report(const struct emu_config *c, const struct emulation *em)
{
	const char *how;

	if (!c->verbose || em->path == EMU_PATH_NATIVE)
		return;
	if (step_sets_cpu(c)) {
		emu_note(c, "cpu: the step's own QEMU_CPU (-e, --env-file) chooses the model");
		return;
	}
	if (!em->cpu) {
		emu_note(c, "cpu: QEMU's default%s%s", em->cpu_note[0] ? ": " : "", em->cpu_note);
		return;
	}
	how = em->cpu_is_default ? "emu-run's default for this target; --cpu max for QEMU's own" : "--cpu";
	if (em->cpu_by_launcher)
		emu_note(c, "cpu: %s (%s), passed by the launcher as -cpu: the step's environment has no QEMU_CPU",
			 em->cpu, how);
	else if (em->cpu_is_default)
		emu_note(c, "cpu: QEMU's default: emu-run's default %s needs the launcher of its private "
			 "binfmt_misc instance", em->cpu);
	else
		emu_note(c, "cpu: %s (%s), as QEMU_CPU in the step's environment: no launcher of emu-run's private "
			 "binfmt_misc instance here", em->cpu, how);
}

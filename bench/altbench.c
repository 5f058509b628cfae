/* SPDX-License-Identifier: MIT */
/*
 * altbench: run several commands alternately (round r starts at command r mod n:
 * ABC BCA CAB ...), so every command sees the same machine noise, and record
 * wall, user and system time of each run.
 *
 *   altbench [-r RUNS] [-w WARMUP] [-o FILE.tsv] [-s SECTION] [-v] [-k]
 *            [-O DIR] LABEL=COMMAND ...
 *
 * COMMAND is split into words like a shell would (quotes, no expansion of
 * $(...)); leading NAME=VALUE words are set in the child's environment (so
 * `QEMU_CPU=max qemu-aarch64 ...` costs no extra exec of env(1)). The child is
 * started with posix_spawnp: no shell between us and it unless the command is
 * itself `sh -c '...'`. stdin is /dev/null; stdout/stderr go to /dev/null
 * unless -v; with -O DIR the first timed run's stdout goes to DIR/<label>.out (labels'
 * '/' become '_'), for checking outputs. A run that exits non-zero is an error (exit 3) unless -k.
 *
 * Output (-o, appended): section, label, round, wall_ms, user_ms, sys_ms, status
 * per run; a summary (median, min-max, ratio to the first command) on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wordexp.h>

extern char **environ;

struct cmd {
	char *label;
	wordexp_t we;
	char **argv;  /* into we, after the NAME=VALUE words */
	char **envp;  /* environ + the NAME=VALUE words */
	double *wall, *user, *sys;
	int failures;
};

static double ms(const struct timespec *t)
{
	return (double)t->tv_sec * 1e3 + (double)t->tv_nsec / 1e6;
}

static double tv_ms(const struct timeval *t)
{
	return (double)t->tv_sec * 1e3 + (double)t->tv_usec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double *s = malloc(sizeof(double) * (size_t)n), m;

	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), cmp);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

static int is_assignment(const char *w)
{
	const char *eq = strchr(w, '=');

	if (!eq || eq == w)
		return 0;
	for (const char *p = w; p < eq; p++)
		if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (p > w && *p >= '0' && *p <= '9')))
			return 0;
	return 1;
}

static void parse(struct cmd *c, char *spec)
{
	char *eq = strchr(spec, '=');
	size_t nenv = 0, nvars = 0, i;

	if (!eq || eq == spec) {
		fprintf(stderr, "altbench: '%s' is not LABEL=COMMAND\n", spec);
		exit(2);
	}
	*eq = '\0';
	c->label = spec;
	if (wordexp(eq + 1, &c->we, WRDE_NOCMD | WRDE_SHOWERR) != 0 || c->we.we_wordc == 0) {
		fprintf(stderr, "altbench: cannot parse the command of %s\n", spec);
		exit(2);
	}
	while (nvars < c->we.we_wordc && is_assignment(c->we.we_wordv[nvars]))
		nvars++;
	if (nvars == c->we.we_wordc) {
		fprintf(stderr, "altbench: %s has no command\n", spec);
		exit(2);
	}
	c->argv = c->we.we_wordv + nvars;
	while (environ[nenv])
		nenv++;
	c->envp = calloc(nenv + nvars + 1, sizeof(char *));
	for (i = 0; i < nvars; i++)
		c->envp[i] = c->we.we_wordv[i];
	for (size_t j = 0; j < nenv; j++) {
		/* drop the inherited variable when the command sets it */
		size_t k, len = strcspn(environ[j], "=");
		for (k = 0; k < nvars; k++)
			if (!strncmp(c->we.we_wordv[k], environ[j], len + 1))
				break;
		if (k == nvars)
			c->envp[i++] = environ[j];
	}
}

static int run(struct cmd *c, int verbose, const char *capture, double *wall, double *user, double *sys)
{
	posix_spawn_file_actions_t fa;
	struct timespec t0, t1;
	struct rusage ru;
	pid_t pid;
	int st, e;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (capture)
		posix_spawn_file_actions_addopen(&fa, 1, capture, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	else if (!verbose)
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (!verbose) {
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = posix_spawnp(&pid, c->argv[0], &fa, NULL, c->argv, c->envp);
	posix_spawn_file_actions_destroy(&fa);
	if (e) {
		fprintf(stderr, "altbench: %s: cannot run %s: %s\n", c->label, c->argv[0], strerror(e));
		exit(2);
	}
	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR) {
			perror("wait4");
			exit(2);
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*wall = ms(&t1) - ms(&t0);
	*user = tv_ms(&ru.ru_utime);
	*sys = tv_ms(&ru.ru_stime);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
	int runs = 21, warm = 2, verbose = 0, keep = 0, opt, rc = 0;
	const char *out = NULL, *section = "-", *capdir = NULL;
	struct cmd *cs;
	FILE *f = NULL;
	int n;

	while ((opt = getopt(argc, argv, "+r:w:o:O:s:vk")) != -1) {
		switch (opt) {
		case 'r': runs = atoi(optarg); break;
		case 'w': warm = atoi(optarg); break;
		case 'o': out = optarg; break;
		case 'O': capdir = optarg; break;
		case 's': section = optarg; break;
		case 'v': verbose = 1; break;
		case 'k': keep = 1; break;
		default:
			fprintf(stderr, "usage: altbench [-r RUNS] [-w WARMUP] [-o FILE] [-O DIR] [-s SECTION] [-v] [-k] LABEL=COMMAND...\n");
			return 2;
		}
	}
	n = argc - optind;
	if (n < 1 || runs < 1 || warm < 0)
		return 2;
	cs = calloc((size_t)n, sizeof(*cs));
	for (int i = 0; i < n; i++) {
		parse(&cs[i], argv[optind + i]);
		cs[i].wall = calloc((size_t)runs, sizeof(double));
		cs[i].user = calloc((size_t)runs, sizeof(double));
		cs[i].sys = calloc((size_t)runs, sizeof(double));
	}
	if (out && !(f = fopen(out, "a"))) {
		perror(out);
		return 2;
	}
	for (int w = 0; w < warm; w++)
		for (int i = 0; i < n; i++) {
			double a, b, d;
			int st = run(&cs[i], verbose, NULL, &a, &b, &d);
			if (st && !keep) {
				fprintf(stderr, "altbench: %s exited %d (warm-up)\n", cs[i].label, st);
				return 3;
			}
		}
	for (int r = 0; r < runs; r++)
		for (int k = 0; k < n; k++) {
			int i = (r + k) % n;
			struct cmd *c = &cs[i];
			char cap[4096];
			int st;

			if (capdir && r == 0) {
				size_t o = (size_t)snprintf(cap, sizeof(cap) - 8, "%s/", capdir);
				for (const char *p = c->label; *p && o < sizeof(cap) - 8; p++)
					cap[o++] = (char)(*p == '/' ? '_' : *p);
				snprintf(cap + o, sizeof(cap) - o, ".out");
			}
			st = run(c, verbose, capdir && r == 0 ? cap : NULL, &c->wall[r], &c->user[r], &c->sys[r]);

			if (st) {
				c->failures++;
				if (!keep) {
					fprintf(stderr, "altbench: %s exited %d (round %d)\n", c->label, st, r);
					rc = 3;
				}
			}
			if (f)
				fprintf(f, "%s\t%s\t%d\t%.4f\t%.4f\t%.4f\t%d\n", section, c->label, r,
					c->wall[r], c->user[r], c->sys[r], st);
		}
	if (f)
		fclose(f);
	{
		double base = median(cs[0].wall, runs);

		fprintf(stderr, "%-28s %10s %19s %8s\n", "command", "median ms", "min-max ms", "ratio");
		for (int i = 0; i < n; i++) {
			double m = median(cs[i].wall, runs), lo = cs[i].wall[0], hi = lo;

			for (int r = 1; r < runs; r++) {
				lo = cs[i].wall[r] < lo ? cs[i].wall[r] : lo;
				hi = cs[i].wall[r] > hi ? cs[i].wall[r] : hi;
			}
			fprintf(stderr, "%-28s %10.2f %9.2f-%-9.2f %8.3f%s\n", cs[i].label, m, lo, hi,
				m / base, cs[i].failures ? "  FAILED" : "");
		}
	}
	return rc;
}

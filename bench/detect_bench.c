/* SPDX-License-Identifier: MIT */
/* Detection speed: all probes in parallel vs one at a time, alternated so both
 * see the same machine noise. Prints medians, min-max and the ratio. Run it
 * where the registrations to measure are visible (bench/detect.sh does that in
 * a private binfmt_misc instance with every emulator installed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect.h"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double run(bool sequential, size_t *passed)
{
	struct detect_result rs[32];
	struct detect_options o = { .sequential = sequential };
	double t0 = now_ms();

	if (detect_run(rs, &o, NULL) < 0) {
		fprintf(stderr, "detect_run failed\n");
		exit(1);
	}
	t0 = now_ms() - t0;
	*passed = 0;
	for (size_t i = 0; i < probes_count(); i++)
		*passed += detect_passed(&rs[i]);
	return t0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 31;
	double *par = calloc((size_t)n, sizeof(double)), *seq = calloc((size_t)n, sizeof(double));
	size_t pp = 0, ps = 0;

	if (n < 1 || !par || !seq)
		return 1;
	run(false, &pp); /* warm the page cache */
	for (int i = 0; i < n; i++) {
		par[i] = run(false, &pp);
		seq[i] = run(true, &ps);
	}
	/* BENCH_TSV=FILE: also append every sample (bench/run.sh's samples format). */
	const char *tsv = getenv("BENCH_TSV");
	if (tsv && *tsv) {
		FILE *f = fopen(tsv, "a");

		if (!f) {
			perror(getenv("BENCH_TSV"));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			fprintf(f, "detect\tparallel\t%d\t%.4f\t0\t0\t0\n", i, par[i]);
			fprintf(f, "detect\tsequential\t%d\t%.4f\t0\t0\t0\n", i, seq[i]);
		}
		fclose(f);
	}
	qsort(par, (size_t)n, sizeof(double), cmp);
	qsort(seq, (size_t)n, sizeof(double), cmp);
	printf("| detection of %zu platforms (%zu pass) | median ms | min-max ms |\n", probes_count(), pp);
	printf("|---|---|---|\n");
	printf("| parallel (binfmt default) | %.1f | %.1f-%.1f |\n", par[n / 2], par[0], par[n - 1]);
	printf("| sequential | %.1f | %.1f-%.1f |\n", seq[n / 2], seq[0], seq[n - 1]);
	printf("\nparallel/sequential = %.2f (%d alternated runs each)\n", par[n / 2] / seq[n / 2], n);
	free(par);
	free(seq);
	return pp == ps ? 0 : 2;
}

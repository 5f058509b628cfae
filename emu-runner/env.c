/* SPDX-License-Identifier: MIT */
/*
 * The step's environment. With --rootfs it is built as BuildKit builds a RUN
 * step's (nothing inherited from the caller): PATH (the default when none is
 * given), HOME from the root's passwd, the TARGET* and BUILD* platform
 * variables. Without --rootfs the command is a host program and inherits
 * emu-run's environment. Then QEMU_CPU where the launcher cannot pass --cpu's
 * model on QEMU's command line (cpu.c), then -e/--env-file in command
 * line order, a later value replacing an earlier one in place (at the
 * position of the key's first occurrence). Everything is appended first and
 * resolved once, by a sort: O(n log n) for an --env-file of any size.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "util.h"

extern char **environ;

static size_t key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq ? (size_t)(eq - kv) : strlen(kv);
}

/*
 * Lists grow in powers of two (at least 8 slots, the NULL terminator
 * included), so the capacity follows from the count alone: callers keep
 * passing (list, n), and appending stays amortised O(1) for an --env-file of
 * any size (growing by one slot each time made big files quadratic).
 */
static size_t slots_for(size_t n)
{
	size_t s = 8;

	while (s < n + 1)
		s *= 2;
	return s;
}

/* Append kv, taking ownership (also of NULL: an earlier strdup failed). */
static int list_put(char ***list, size_t *n, char *kv)
{
	char **v = *list;

	if (!kv)
		return -ENOMEM;
	if (!v || slots_for(*n + 1) > slots_for(*n)) {
		v = realloc(v, slots_for(*n + 1) * sizeof(*v));
		if (!v) {
			free(kv);
			return -ENOMEM;
		}
		*list = v;
	}
	v[(*n)++] = kv;
	v[*n] = NULL;
	return 0;
}

struct slot {
	const char *kv;
	size_t klen;
	size_t pos;                /* index in the list */
};

/* By key, then by position: equal keys end up together, oldest first. */
static int slot_cmp(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;
	int r = memcmp(x->kv, y->kv, x->klen < y->klen ? x->klen : y->klen);

	if (r)
		return r;
	if (x->klen != y->klen)
		return x->klen < y->klen ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * One sort instead of a scan per variable: O(n log n) whatever the input
 * (a hash table would be O(n) on average, but a crafted --env-file could make
 * it quadratic again). value[i] is the position whose text ends up at
 * position i: the last value of a key, at the position of its first
 * occurrence; SIZE_MAX for the positions that disappear.
 */
static int dedup_plan(char **list, size_t n, size_t *value)
{
	_cleanup_free_ struct slot *s = calloc(n ? n : 1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		s[i] = (struct slot){ .kv = list[i], .klen = key_len(list[i]), .pos = i };
		value[i] = SIZE_MAX;
	}
	qsort(s, n, sizeof(*s), slot_cmp);
	for (size_t lo = 0, hi; lo < n; lo = hi) {
		for (hi = lo + 1; hi < n && s[hi].klen == s[lo].klen && !memcmp(s[hi].kv, s[lo].kv, s[lo].klen); hi++)
			;
		value[s[lo].pos] = s[hi - 1].pos;
	}
	return 0;
}

/* Resolve repeated keys in place: a later value replaces the earlier one at
 * the earlier one's position, as docker run -e does. */
static int list_dedup(char **list, size_t *n)
{
	_cleanup_free_ size_t *value = malloc((*n ? *n : 1) * sizeof(*value));
	_cleanup_free_ bool *kept = calloc(*n ? *n : 1, sizeof(*kept));
	size_t out = 0;

	if (!value || !kept || dedup_plan(list, *n, value) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < *n; i++)
		if (value[i] != SIZE_MAX)
			kept[value[i]] = true;
	for (size_t i = 0; i < *n; i++)
		if (!kept[i]) {
			free(list[i]);
			list[i] = NULL;
		}
	/* value[i] >= i, and every slot below i that is still needed has
	 * been moved already: compacting in place overwrites nothing. */
	for (size_t i = 0; i < *n; i++)
		if (value[i] != SIZE_MAX)
			list[out++] = list[value[i]];
	*n = out;
	list[out] = NULL;
	return 0;
}

static int put_kv(char ***list, size_t *n, const char *k, const char *v)
{
	char *kv;

	if (asprintf(&kv, "%s=%s", k, v) < 0)
		return -ENOMEM;
	return list_put(list, n, kv);
}

static bool valid_key(const char *kv)
{
	size_t kl = key_len(kv);

	if (kl == 0)
		return false;
	for (size_t i = 0; i < kl; i++)
		if (isspace((unsigned char)kv[i]))
			return false;
	return true;
}

int env_arg_append(const char *arg, char ***list, size_t *n, struct bi_error *err)
{
	const char *v;

	if (!valid_key(arg))
		return bi_error_set(err, -EINVAL, "invalid environment variable '%s': expected KEY=VALUE or KEY", arg);
	if (strchr(arg, '='))
		return list_put(list, n, strdup(arg)) < 0 ? bi_error_set(err, -ENOMEM, "out of memory") : 0;
	/* KEY alone passes emu-run's own value on, as docker run -e does. */
	v = getenv(arg);
	if (!v)
		return 0;
	return put_kv(list, n, arg, v) < 0 ? bi_error_set(err, -ENOMEM, "out of memory") : 0;
}

int env_file_append(const char *file, char ***list, size_t *n, struct bi_error *err)
{
	_cleanup_fclose_ FILE *f = fopen(file, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	int r;

	if (!f)
		return bi_error_set(err, -errno, "--env-file %s: %s", file, strerror(errno));
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *p = line;
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		p += strspn(p, " \t");
		if (!*p || *p == '#')
			continue;
		r = env_arg_append(p, list, n, err);
		if (r == -EINVAL)
			return bi_error_set(err, r, "--env-file %s line %zu: invalid variable '%s'", file, lineno, p);
		if (r < 0)
			return r;
	}
	/* getline's -1 is also a read error (a directory: EISDIR), not only EOF. */
	if (ferror(f))
		return bi_error_set(err, -EIO, "--env-file %s: %s", file, strerror(errno ? errno : EIO));
	return 0;
}

static int put_platform(char ***env, size_t *n, const char *prefix, const struct platform *p)
{
	const char *const names[] = { "OS", "ARCH", "VARIANT" };
	const char *values[] = { p->os, p->arch, p->variant };
	char key[32], value[100];
	int r;

	snprintf(value, sizeof(value), "%s/%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
	snprintf(key, sizeof(key), "%sPLATFORM", prefix);
	r = put_kv(env, n, key, value);
	for (size_t i = 0; i < 3 && r == 0; i++) {
		snprintf(key, sizeof(key), "%s%s", prefix, names[i]);
		r = put_kv(env, n, key, values[i]);
	}
	return r;
}

static int base_env(const struct emu_config *c, const struct emu_user *u, char ***env, size_t *n)
{
	int r = 0;

	if (!c->rootfs) {
		for (char **e = environ; e && *e && r == 0; e++)
			r = list_put(env, n, strdup(*e));
		if (r == 0 && c->user)
			r = put_kv(env, n, "HOME", u->home);
		return r;
	}
	r = put_kv(env, n, "PATH", EMU_DEFAULT_PATH);
	if (r == 0)
		r = put_kv(env, n, "HOME", u->home[0] ? u->home : "/");
	if (r == 0)
		r = put_platform(env, n, "TARGET", &c->platform);
	if (r == 0)
		r = put_platform(env, n, "BUILD", &c->build_platform);
	return r;
}

char **env_build(const struct emu_config *c, const struct emu_user *u, const char *qemu_cpu)
{
	char **env = calloc(slots_for(0), sizeof(*env));
	size_t n = 0;
	int r;

	if (!env)
		return NULL;
	r = base_env(c, u, &env, &n);
	if (r == 0 && qemu_cpu)
		r = put_kv(&env, &n, "QEMU_CPU", qemu_cpu);
	for (size_t i = 0; i < c->nenv && r == 0; i++)
		r = list_put(&env, &n, strdup(c->env[i]));
	if (r == 0)
		r = list_dedup(env, &n);
	if (r < 0) {
		env_free(env);
		return NULL;
	}
	return env;
}

void env_free(char **env)
{
	for (char **e = env; e && *e; e++)
		free(*e);
	free(env);
}

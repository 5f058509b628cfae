/* SPDX-License-Identifier: MIT */
/*
 * The step's environment. With --rootfs it is built as BuildKit builds a RUN
 * step's (nothing inherited from the caller): PATH (the default when none is
 * given), HOME from the root's passwd, the TARGET* and BUILD* platform
 * variables. Without --rootfs the command is a host program and inherits
 * emu-run's environment. Then QEMU_CPU (--cpu), then -e/--env-file in command
 * line order, a later value replacing an earlier one.
 */
#include <ctype.h>
#include <errno.h>
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

/* Append kv (taking ownership), or replace the entry with the same key. */
static int list_put(char ***list, size_t *n, char *kv)
{
	size_t kl;
	char **v;

	if (!kv)
		return -ENOMEM;
	kl = key_len(kv);
	for (size_t i = 0; i < *n; i++)
		if (key_len((*list)[i]) == kl && !strncmp((*list)[i], kv, kl)) {
			free((*list)[i]);
			(*list)[i] = kv;
			return 0;
		}
	v = realloc(*list, (*n + 2) * sizeof(*v));
	if (!v) {
		free(kv);
		return -ENOMEM;
	}
	v[(*n)++] = kv;
	v[*n] = NULL;
	*list = v;
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
		if (env_arg_append(p, list, n, err) < 0)
			return bi_error_set(err, -EINVAL, "--env-file %s line %zu: invalid variable '%s'", file, lineno, p);
	}
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

char **env_build(const struct emu_config *c, const struct emu_user *u)
{
	char **env = calloc(1, sizeof(*env));
	size_t n = 0;
	int r;

	if (!env)
		return NULL;
	r = base_env(c, u, &env, &n);
	if (r == 0 && c->cpu)
		r = put_kv(&env, &n, "QEMU_CPU", c->cpu);
	for (size_t i = 0; i < c->nenv && r == 0; i++)
		r = list_put(&env, &n, strdup(c->env[i]));
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

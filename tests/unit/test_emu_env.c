/* SPDX-License-Identifier: MIT */
/*
 * emu-run's step environment (emu-runner/env.c, compiled into this test):
 * -e and --env-file in command-line order, a later value for a KEY replacing
 * the earlier one at the position of its first occurrence, KEY alone passing
 * emu-run's own value (dropped when unset), invalid lines naming the file and
 * line. Checked against facts written here, against a naive quadratic
 * reference on random input, and on a 100k-variable --env-file with
 * duplicates whose result is known by construction.
 */
#include "../../emu-runner/env.c"

#include <stdint.h>
#include <unistd.h>

#include "unit.h"

static char tmpdir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-emu-env-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* A --rootfs run's configuration: BuildKit's base environment. */
static struct emu_config rootfs_config(void)
{
	struct emu_config c = { .rootfs = "/nonexistent" };

	snprintf(c.platform.os, sizeof(c.platform.os), "linux");
	snprintf(c.platform.arch, sizeof(c.platform.arch), "arm64");
	snprintf(c.build_platform.os, sizeof(c.build_platform.os), "linux");
	snprintf(c.build_platform.arch, sizeof(c.build_platform.arch), "amd64");
	return c;
}

static size_t count(char **env)
{
	size_t n = 0;

	while (env[n])
		n++;
	return n;
}

/* The environment as one string, "K=V" joined by '|', for exact comparison. */
static char *joined(char **env)
{
	size_t len = 1;
	char *s, *p;

	for (char **e = env; *e; e++)
		len += strlen(*e) + 1;
	s = p = malloc(len);
	assert_non_null(s);
	*p = '\0';
	for (char **e = env; *e; e++)
		p += sprintf(p, "%s%s", e == env ? "" : "|", *e);
	return s;
}

static void add_args(struct emu_config *c, const char *const *args)
{
	struct bi_error err = { 0 };

	for (; *args; args++)
		assert_int_equal(env_arg_append(*args, &c->env, &c->nenv, &err), 0);
}

#define BASE "PATH=" EMU_DEFAULT_PATH "|HOME=/root|TARGETPLATFORM=linux/arm64|TARGETOS=linux|TARGETARCH=arm64|" \
	     "TARGETVARIANT=|BUILDPLATFORM=linux/amd64|BUILDOS=linux|BUILDARCH=amd64|BUILDVARIANT="
#define BASE_N 10

static void test_order_and_replace_in_place(void **state)
{
	struct emu_config c = rootfs_config();
	struct emu_user u = { .home = "/root" };
	const char *args[] = { "B=1", "A=1", "PATH=/x", "C=", "B=2", "TARGETOS=mine", "A=3", NULL };
	char **env, *s;

	(void)state;
	add_args(&c, args);
	assert_int_equal(c.nenv, 7); /* repeated keys are kept until env_build */
	/* QEMU_CPU only as cpu_env_value's (--cpu without the launcher), before -e. */
	env = env_build(&c, &u, "max");
	assert_non_null(env);
	s = joined(env);
	assert_string_equal(s, "PATH=/x|HOME=/root|TARGETPLATFORM=linux/arm64|TARGETOS=mine|TARGETARCH=arm64|"
			       "TARGETVARIANT=|BUILDPLATFORM=linux/amd64|BUILDOS=linux|BUILDARCH=amd64|BUILDVARIANT=|"
			       "QEMU_CPU=max|B=2|A=3|C=");
	free(s);
	env_free(env);
	/* Building twice gives the same answer (c->env is not consumed). */
	env = env_build(&c, &u, "max");
	assert_int_equal(count(env), BASE_N + 4);
	env_free(env);
	/* Without a model: nothing of QEMU's. */
	env = env_build(&c, &u, NULL);
	assert_int_equal(count(env), BASE_N + 3);
	env_free(env);
	env_free(c.env);
}

/* Keys that are prefixes of each other, and empty values, stay apart. */
static void test_prefix_keys(void **state)
{
	struct emu_config c = rootfs_config();
	struct emu_user u = { .home = "/root" };
	const char *args[] = { "AB=1", "A=2", "ABC=3", "A=", "AB=4", "A=B=C", NULL };
	char **env, *s;

	(void)state;
	add_args(&c, args);
	env = env_build(&c, &u, NULL);
	s = joined(env);
	assert_string_equal(s, BASE "|AB=4|A=B=C|ABC=3");
	free(s);
	env_free(env);
	env_free(c.env);
}

static void test_key_alone(void **state)
{
	struct emu_config c = rootfs_config();
	struct emu_user u = { .home = "/root" };
	const char *args[] = { "EMU_T_SET=1", "EMU_T_UNSET=1", "EMU_T_SET", "EMU_T_UNSET", "EMU_T_LATE", NULL };
	char **env, *s;

	(void)state;
	setenv("EMU_T_SET", "from emu-run", 1);
	setenv("EMU_T_LATE", "late", 1);
	unsetenv("EMU_T_UNSET");
	add_args(&c, args);
	/* The value is taken when the option is parsed. */
	setenv("EMU_T_SET", "changed", 1);
	env = env_build(&c, &u, NULL);
	s = joined(env);
	assert_string_equal(s, BASE "|EMU_T_SET=from emu-run|EMU_T_UNSET=1|EMU_T_LATE=late");
	free(s);
	env_free(env);
	env_free(c.env);
	unsetenv("EMU_T_SET");
	unsetenv("EMU_T_LATE");
}

/* Without --rootfs: emu-run's own environment (repeated keys included), then -e. */
static void test_inherited(void **state)
{
	char *fake[] = { (char *)"X=1", (char *)"Y=2", (char *)"X=3", (char *)"HOME=/h", NULL };
	char **saved = environ, **env, *s;
	struct emu_config c = { 0 };
	struct emu_user u = { .home = "/home/builder" };
	const char *args[] = { "Y=e", "Z=z", NULL };
	char **env_user;

	(void)state;
	add_args(&c, args);
	environ = fake;
	env = env_build(&c, &u, NULL);
	c.user = "builder";
	env_user = env_build(&c, &u, NULL);
	environ = saved;
	s = joined(env);
	assert_string_equal(s, "X=3|Y=e|HOME=/h|Z=z");
	free(s);
	s = joined(env_user);
	assert_string_equal(s, "X=3|Y=e|HOME=/home/builder|Z=z");
	free(s);
	env_free(env);
	env_free(env_user);
	env_free(c.env);
}

static void test_env_file(void **state)
{
	struct emu_config c = rootfs_config();
	struct emu_user u = { .home = "/root" };
	struct bi_error err = { 0 };
	const char *f = write_file("ok.env", "# a comment\n"
					     "\n"
					     "A=1\r\n"
					     "  \tB=two words \n"
					     "   # indented comment\n"
					     "C=x=y\n"
					     "A=again\n"
					     "EMU_T_FROM_FILE\n"
					     "D=last-line-without-newline");
	char **env, *s;

	(void)state;
	setenv("EMU_T_FROM_FILE", "f", 1);
	assert_int_equal(env_arg_append("D=before", &c.env, &c.nenv, &err), 0);
	assert_int_equal(env_file_append(f, &c.env, &c.nenv, &err), 0);
	assert_int_equal(env_arg_append("B=after", &c.env, &c.nenv, &err), 0);
	env = env_build(&c, &u, NULL);
	s = joined(env);
	assert_string_equal(s, BASE "|D=last-line-without-newline|A=again|B=after|C=x=y|EMU_T_FROM_FILE=f");
	free(s);
	env_free(env);
	env_free(c.env);
	unsetenv("EMU_T_FROM_FILE");
}

static void expect_file_error(const char *name, const char *text, int line, const char *bad)
{
	struct bi_error err = { 0 };
	char **list = NULL, want[512];
	size_t n = 0;
	const char *f = write_file(name, text);

	snprintf(want, sizeof(want), "--env-file %s line %d: invalid variable '%s'", f, line, bad);
	assert_int_equal(env_file_append(f, &list, &n, &err), -EINVAL);
	assert_string_equal(err.msg, want);
	env_free(list);
}

static void test_env_file_errors(void **state)
{
	struct bi_error err = { 0 };
	char **list = NULL, path[128];
	size_t n = 0;

	(void)state;
	expect_file_error("eq.env", "A=1\n# x\n=value\n", 3, "=value");
	expect_file_error("space.env", "\n\nA=1\nKEY WITH SPACE=1\n", 4, "KEY WITH SPACE=1");
	expect_file_error("tab.env", "K\tX=1\n", 1, "K\tX=1");
	snprintf(path, sizeof(path), "%s/missing.env", tmpdir);
	assert_int_equal(env_file_append(path, &list, &n, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "missing.env: No such file or directory"));
	assert_int_equal(env_file_append(tmpdir, &list, &n, &err), -EIO);
	assert_non_null(strstr(err.msg, "Is a directory"));
	assert_int_equal(env_arg_append("=x", &list, &n, &err), -EINVAL);
	assert_int_equal(env_arg_append("", &list, &n, &err), -EINVAL);
	assert_null(list);
	assert_int_equal(n, 0);
}

/*
 * 100000 distinct variables, then every third one again (newest first), 1000
 * new ones, PATH in the middle and V0 once more at the end: the answer is
 * known by construction. A quadratic implementation gets it right too, only
 * slowly: this test is about the result, never the time.
 */
#define BIG 100000

static void test_large_env_file(void **state)
{
	struct emu_config c = rootfs_config();
	struct emu_user u = { .home = "/root" };
	struct bi_error err = { 0 };
	char path[128], want[64];
	char **env;
	FILE *f;
	size_t lines = 0;
	bool path_written = false;

	(void)state;
	snprintf(path, sizeof(path), "%s/big.env", tmpdir);
	f = fopen(path, "we");
	assert_non_null(f);
	for (int i = 0; i < BIG; i++, lines++)
		fprintf(f, "V%d=a%d\n", i, i);
	for (int i = BIG - 1; i >= 0; i -= 3, lines++) {
		fprintf(f, "V%d=b%d\n", i, i);
		if (i <= BIG / 2 && !path_written) {
			fprintf(f, "PATH=/mid\n");
			path_written = true;
			lines++;
		}
	}
	for (int j = 0; j < 1000; j++, lines++)
		fprintf(f, "W%d=c%d\n", j, j);
	fprintf(f, "V0=z\n");
	lines++;
	assert_int_equal(fclose(f), 0);

	assert_int_equal(env_file_append(path, &c.env, &c.nenv, &err), 0);
	assert_int_equal(c.nenv, lines);
	env = env_build(&c, &u, NULL);
	assert_non_null(env);
	assert_int_equal(count(env), BASE_N + BIG + 1000);
	assert_string_equal(env[0], "PATH=/mid");
	assert_string_equal(env[1], "HOME=/root");
	for (int i = 0; i < BIG; i++) {
		if (i == 0)
			snprintf(want, sizeof(want), "V0=z");
		else if ((BIG - 1 - i) % 3 == 0)
			snprintf(want, sizeof(want), "V%d=b%d", i, i);
		else
			snprintf(want, sizeof(want), "V%d=a%d", i, i);
		assert_string_equal(env[BASE_N + i], want);
	}
	for (int j = 0; j < 1000; j++) {
		snprintf(want, sizeof(want), "W%d=c%d", j, j);
		assert_string_equal(env[BASE_N + BIG + j], want);
	}
	env_free(env);
	env_free(c.env);
}

/* The definition, one scan per variable (what env.c did before). */
static void reference(char **in, size_t n, char **out, size_t *nout)
{
	*nout = 0;
	for (size_t i = 0; i < n; i++) {
		size_t kl = key_len(in[i]), j;
		for (j = 0; j < *nout; j++)
			if (key_len(out[j]) == kl && !strncmp(out[j], in[i], kl))
				break;
		out[j] = in[i];
		if (j == *nout)
			(*nout)++;
	}
}

static void test_random_against_reference(void **state)
{
	static const char *const keys[] = { "A", "AB", "ABC", "B", "BA", "PATH", "HOME", "x", "xy", "TARGETOS" };
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 200; round++) {
		struct emu_config c = rootfs_config();
		struct emu_user u = { .home = "/root" };
		char **env, **want, *a, *b;
		size_t n = (size_t)(rand_r(&seed) % 300), nwant;

		for (size_t i = 0; i < n; i++) {
			char *kv;
			assert_true(asprintf(&kv, "%s=%zu-%d", keys[rand_r(&seed) % ARRAY_SIZE(keys)], i, round) > 0);
			assert_int_equal(list_put(&c.env, &c.nenv, kv), 0);
		}
		/* The reference starts from the same base environment. */
		{
			struct emu_config plain = rootfs_config();
			char **b0 = env_build(&plain, &u, NULL);
			size_t nb = count(b0), total = nb + c.nenv;
			char **all = calloc(total + 1, sizeof(*all));
			assert_non_null(all);
			memcpy(all, b0, nb * sizeof(*all));
			if (c.nenv)
				memcpy(all + nb, c.env, c.nenv * sizeof(*all));
			want = calloc(total + 1, sizeof(*want));
			assert_non_null(want);
			reference(all, total, want, &nwant);
			want[nwant] = NULL;
			b = joined(want);
			free(all);
			free(want);
			env_free(b0);
		}
		env = env_build(&c, &u, NULL);
		a = joined(env);
		assert_string_equal(a, b);
		free(a);
		free(b);
		env_free(env);
		env_free(c.env);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_replace_in_place),
		cmocka_unit_test(test_prefix_keys),
		cmocka_unit_test(test_key_alone),
		cmocka_unit_test(test_inherited),
		cmocka_unit_test(test_env_file),
		cmocka_unit_test(test_env_file_errors),
		cmocka_unit_test(test_large_env_file),
		cmocka_unit_test(test_random_against_reference),
	};

	return cmocka_run_group_tests_name("emu-run environment", tests, setup_dir, teardown_dir);
}

/* SPDX-License-Identifier: MIT */
/*
 * emu-run --image's pure part (emu-runner/image.c) on arbitrary bytes: the
 * input is parsed as index.json, as an OCI manifest, as an image config and as
 * docker save's manifest.json (every image of it), a platform is chosen from the
 * index, and the input's lines are taken as layer entry paths. Properties: each
 * parser returns 0 or sets a one-line message; a chosen manifest really has the
 * wanted platform and is the first that has it; digests are 64 lowercase hex;
 * an entry path is normalized (no "", ".", ".." components, no leading or
 * doubled slash) and a whiteout never names the directory it is in or above.
 *
 * Input: the JSON (or paths); its first byte picks the wanted target.
 */
#include <errno.h>
#include <string.h>

#include "emu.h"
#include "fuzz.h"
#include "targets.h"

static void check_msg(int r, const struct bi_error *err, const char *what)
{
	if (r >= 0 || r == -ENOENT)
		return;
	CHECK(err->msg[0] && !strchr(err->msg, '\n'), "%s: %d without a one-line message", what, r);
}

static bool hex64(const char *h)
{
	return strlen(h) == 64 && strspn(h, "0123456789abcdef") == 64;
}

static void check_index(const char *s, size_t n, const struct platform *want)
{
	struct bi_error err = { 0 };
	struct image_index x;
	int r = image_index_parse(s, n, "index.json", &x, &err), k;

	check_msg(r, &err, "image_index_parse");
	if (r < 0)
		return;
	CHECK(x.n > 0, "an index without manifests parsed");
	for (size_t i = 0; i < x.n; i++)
		CHECK(hex64(x.descs[i].hex), "digest '%s'", x.descs[i].hex);
	memset(&err, 0, sizeof(err));
	k = image_choose(&x, want, "x", &err);
	check_msg(k, &err, "image_choose");
	CHECK(k == -ENOENT || (k >= 0 && (size_t)k < x.n), "image_choose returned %d", k);
	if (k == -ENOENT)
		CHECK(strstr(err.msg, "no manifest for "), "no list of platforms: %s", err.msg);
	for (size_t i = 0; k >= 0 && i <= (size_t)k; i++) {
		const struct image_desc *d = &x.descs[i];
		bool same = d->has_platform && !strcmp(d->platform.os, want->os) && !strcmp(d->platform.arch, want->arch) &&
			    !strcmp(d->platform.variant, want->variant);
		CHECK(i == (size_t)k ? same : !same, "manifest %zu chosen, %zu %s", (size_t)k, i,
		      same ? "matched first" : "does not match");
	}
	image_index_free(&x);
}

static void check_manifests(const char *s, size_t n)
{
	struct bi_error err = { 0 };
	struct image_manifest m, diff;
	struct platform p;
	int r = image_manifest_parse(s, n, "manifest", &m, &err);

	check_msg(r, &err, "image_manifest_parse");
	for (size_t i = 0; r == 0 && i < m.nlayers; i++)
		CHECK(hex64(m.layers[i]), "layer digest '%s'", m.layers[i]);
	if (r == 0) {
		CHECK(hex64(m.config), "config digest '%s'", m.config);
		image_manifest_free(&m);
	}
	memset(&err, 0, sizeof(err));
	r = image_config_parse(s, n, "config", &p, &diff, &err);
	check_msg(r, &err, "image_config_parse");
	if (r == 0)
		image_manifest_free(&diff);
	for (size_t k = 0; k < 64; k++) {
		memset(&err, 0, sizeof(err));
		r = image_docker_parse(s, n, k, &m, &err);
		check_msg(r, &err, "image_docker_parse");
		if (r < 0)
			break;
		CHECK(m.config && *m.config, "empty Config");
		image_manifest_free(&m);
	}
}

static void check_path(const char *raw)
{
	char out[256];
	int r = image_entry_path(raw, out, sizeof(out));

	CHECK(r == IMAGE_ENTRY_PLAIN || r == IMAGE_ENTRY_WHITEOUT || r == IMAGE_ENTRY_OPAQUE || r == -EXDEV ||
	      r == -ENAMETOOLONG, "image_entry_path('%s') = %d", raw, r);
	if (r < 0)
		return;
	CHECK(out[0] != '/' && !strstr(out, "//") && (!*out || out[strlen(out) - 1] != '/'), "'%s' -> '%s'", raw, out);
	for (const char *p = out; *p;) {
		size_t l = strcspn(p, "/");
		CHECK(!(l == 1 && p[0] == '.') && !(l == 2 && p[0] == '.' && p[1] == '.'), "'%s' -> '%s'", raw, out);
		p += l + (p[l] == '/');
	}
	CHECK(r != IMAGE_ENTRY_WHITEOUT || *out, "whiteout '%s' deletes the root", raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size), *save = NULL;
	const struct target *t = target_at(size ? data[0] % targets_count() : 0);
	struct platform want = { .os = "linux" };

	if (!t->platform || platform_parse(t->platform, &want) < 0)
		snprintf(want.arch, sizeof(want.arch), "%s", t->cpu);
	/* The exact bytes (NULs and all), as json_loadb sees a file. */
	check_index((const char *)data, size, &want);
	check_manifests((const char *)data, size);
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		check_path(line);
	free(s);
	return 0;
}

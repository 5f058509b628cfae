/* SPDX-License-Identifier: MIT */
/*
 * --image, the pure part: index.json, OCI manifests and configs, docker-archive
 * manifest.json, the manifest for the wanted platform, digests, and what a layer
 * entry's path means (a file, a whiteout, an opaque directory). No I/O, so
 * tests/fuzz/fuzz_image.c and tests/unit/test_emu_image.c can feed it anything;
 * unpack.c reads the blobs and writes the root.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "util.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

int image_digest_hex(const char *digest, char hex[65])
{
	if (!digest || strncmp(digest, "sha256:", 7) != 0)
		return -EINVAL;
	digest += 7;
	if (strlen(digest) != 64 || strspn(digest, "0123456789abcdef") != 64)
		return -EINVAL;
	memcpy(hex, digest, 65);
	return 0;
}

int image_path_hex(const char *path, char hex[65])
{
	const char *base = strrchr(path, '/');
	char d[80];

	/* docker save names blobs <hex>.json, <hex>.tar or (Docker 25+) blobs/sha256/<hex>. */
	base = base ? base + 1 : path;
	if (strlen(base) < 64)
		return -EINVAL;
	if (base[64] && strcmp(base + 64, ".json") && strcmp(base + 64, ".tar"))
		return -EINVAL;
	snprintf(d, sizeof(d), "sha256:%.64s", base);
	return image_digest_hex(d, hex);
}

/* {"os", "architecture", "variant"} normalized as containerd does. */
static int platform_of(json_t *o, const char *os_key, const char *arch_key, struct platform *p)
{
	const char *os = json_string_value(json_object_get(o, os_key));
	const char *arch = json_string_value(json_object_get(o, arch_key));
	const char *variant = json_string_value(json_object_get(o, "variant"));
	char s[200];

	if (!os || !arch || !*os || !*arch)
		return -ENOENT;
	if ((size_t)snprintf(s, sizeof(s), "%s/%s%s%s", os, arch, variant && *variant ? "/" : "",
			     variant ? variant : "") >= sizeof(s))
		return -EINVAL;
	return platform_parse(s, p);
}

static json_t *load(const char *json, size_t len, const char *what, struct bi_error *err)
{
	json_error_t je;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);

	if (!root)
		bi_error_set(err, -EINVAL, "%s: not JSON (line %d: %s)", what, je.line, je.text);
	return root;
}

void image_index_free(struct image_index *x)
{
	free(x->descs);
	x->descs = NULL;
	x->n = 0;
}

int image_index_parse(const char *json, size_t len, const char *what, struct image_index *x, struct bi_error *err)
{
	json_t *root = load(json, len, what, err), *list, *d;
	size_t i;
	int r = 0;

	memset(x, 0, sizeof(*x));
	if (!root)
		return -EINVAL;
	list = json_object_get(root, "manifests");
	if (!json_is_array(list) || json_array_size(list) == 0) {
		r = bi_error_set(err, -EINVAL, "%s: no manifests", what);
		goto out;
	}
	x->descs = calloc(json_array_size(list), sizeof(*x->descs));
	if (!x->descs) {
		r = bi_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(list, i, d) {
		struct image_desc *o = &x->descs[x->n];
		const char *mt = json_string_value(json_object_get(d, "mediaType"));
		if (image_digest_hex(json_string_value(json_object_get(d, "digest")), o->hex) < 0) {
			r = bi_error_set(err, -EINVAL, "%s: manifest %zu has no valid sha256 digest", what, i);
			goto out;
		}
		snprintf(o->media_type, sizeof(o->media_type), "%s", mt ? mt : "");
		o->is_index = mt && (strstr(mt, "image.index") || strstr(mt, "manifest.list"));
		o->has_platform = platform_of(json_object_get(d, "platform"), "os", "architecture", &o->platform) == 0;
		x->n++;
	}
out:
	json_decref(root);
	if (r < 0)
		image_index_free(x);
	return r;
}

static bool same_platform(const struct platform *a, const struct platform *b)
{
	return !strcmp(a->os, b->os) && !strcmp(a->arch, b->arch) && !strcmp(a->variant, b->variant);
}

/* ", linux/amd64, linux/arm64" of the known platforms, in index order. */
static void list_platforms(const struct image_index *x, char *buf, size_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < x->n && o + 1 < n; i++) {
		char p[100];
		if (!x->descs[i].has_platform || platform_format(&x->descs[i].platform, p, sizeof(p)) < 0 ||
		    strstr(buf, p))
			continue;
		o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", p);
		if (o >= n)
			o = n - 1;
	}
}

int image_choose(const struct image_index *x, const struct platform *want, const char *what, struct bi_error *err)
{
	char have[600], w[100];

	for (size_t i = 0; i < x->n; i++)
		if (x->descs[i].has_platform && same_platform(&x->descs[i].platform, want))
			return (int)i;
	list_platforms(x, have, sizeof(have));
	if (platform_format(want, w, sizeof(w)) < 0)
		snprintf(w, sizeof(w), "?");
	return bi_error_set(err, -ENOENT, "%s: no manifest for %s; it has %s", what, w, *have ? have : "no platform");
}

void image_manifest_free(struct image_manifest *m)
{
	for (size_t i = 0; i < m->nlayers; i++)
		free(m->layers[i]);
	free(m->layers);
	free(m->config);
	memset(m, 0, sizeof(*m));
}

static int add_layer(struct image_manifest *m, const char *s)
{
	char **v = realloc(m->layers, (m->nlayers + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	m->layers = v;
	if (!(v[m->nlayers] = strdup(s)))
		return -ENOMEM;
	m->nlayers++;
	return 0;
}

int image_manifest_parse(const char *json, size_t len, const char *what, struct image_manifest *m, struct bi_error *err)
{
	json_t *root = load(json, len, what, err), *layers, *l;
	char hex[65];
	size_t i;
	int r = 0;

	memset(m, 0, sizeof(*m));
	if (!root)
		return -EINVAL;
	layers = json_object_get(root, "layers");
	if (json_object_get(root, "manifests")) {
		r = bi_error_set(err, -EINVAL, "%s: an index where a manifest was expected", what);
		goto out;
	}
	if (image_digest_hex(json_string_value(json_object_get(json_object_get(root, "config"), "digest")), hex) < 0 ||
	    !json_is_array(layers)) {
		r = bi_error_set(err, -EINVAL, "%s: not an image manifest (no config digest or layers)", what);
		goto out;
	}
	if (!(m->config = strdup(hex))) {
		r = bi_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(layers, i, l) {
		if (image_digest_hex(json_string_value(json_object_get(l, "digest")), hex) < 0) {
			r = bi_error_set(err, -EINVAL, "%s: layer %zu has no valid sha256 digest", what, i);
			goto out;
		}
		if (add_layer(m, hex) < 0) {
			r = bi_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	json_decref(root);
	if (r < 0)
		image_manifest_free(m);
	return r;
}

int image_config_parse(const char *json, size_t len, const char *what, struct platform *p, struct image_manifest *diff,
		       struct bi_error *err)
{
	json_t *root = load(json, len, what, err), *ids, *d;
	char hex[65];
	size_t i;
	int r = 0;

	if (diff)
		memset(diff, 0, sizeof(*diff));
	if (!root)
		return -EINVAL;
	if (platform_of(root, "os", "architecture", p) < 0) {
		r = bi_error_set(err, -EINVAL, "%s: no valid os and architecture", what);
		goto out;
	}
	ids = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
	if (!diff)
		goto out;
	json_array_foreach(ids, i, d) {
		if (image_digest_hex(json_string_value(d), hex) < 0) {
			r = bi_error_set(err, -EINVAL, "%s: diff_id %zu is not a sha256 digest", what, i);
			goto out;
		}
		if (add_layer(diff, hex) < 0) {
			r = bi_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	json_decref(root);
	if (r < 0 && diff)
		image_manifest_free(diff);
	return r;
}

int image_docker_parse(const char *json, size_t len, size_t k, struct image_manifest *m, struct bi_error *err)
{
	json_t *root = load(json, len, "manifest.json", err), *e, *layers, *l;
	const char *config;
	size_t i;
	int r = 0;

	memset(m, 0, sizeof(*m));
	if (!root)
		return -EINVAL;
	if (!json_is_array(root) || json_array_size(root) == 0) {
		r = bi_error_set(err, -EINVAL, "manifest.json: no images");
		goto out;
	}
	if (k >= json_array_size(root)) {
		r = -ENOENT; /* no more images: not an error message */
		goto out;
	}
	e = json_array_get(root, k);
	config = json_string_value(json_object_get(e, "Config"));
	layers = json_object_get(e, "Layers");
	if (!config || !*config || !json_is_array(layers)) {
		r = bi_error_set(err, -EINVAL, "manifest.json: image %zu has no Config or Layers", k);
		goto out;
	}
	if (!(m->config = strdup(config))) {
		r = bi_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(layers, i, l) {
		const char *s = json_string_value(l);
		if (!s || !*s) {
			r = bi_error_set(err, -EINVAL, "manifest.json: image %zu, layer %zu is not a path", k, i);
			goto out;
		}
		if (add_layer(m, s) < 0) {
			r = bi_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	json_decref(root);
	if (r < 0)
		image_manifest_free(m);
	return r;
}

int image_entry_path(const char *raw, char *out, size_t n)
{
	char *base;
	size_t o = 0;

	if (!n)
		return -ENAMETOOLONG;
	/* "/a", "./a", "a//b/." all name a/b: tar paths are relative to the root. */
	for (const char *p = raw; *p;) {
		size_t l = strcspn(p, "/");
		if (l == 2 && p[0] == '.' && p[1] == '.')
			return -EXDEV; /* no layer needs "..": one that has it is hostile */
		if (l && !(l == 1 && p[0] == '.')) {
			if (o + l + 2 > n)
				return -ENAMETOOLONG;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, l);
			o += l;
		}
		p += l;
		p += strspn(p, "/");
	}
	out[o] = '\0';
	base = strrchr(out, '/');
	base = base ? base + 1 : out;
	if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) != 0)
		return IMAGE_ENTRY_PLAIN;
	if (!strcmp(base, WH_OPAQUE)) {
		/* The directory itself: "" for the root. */
		base[base == out ? 0 : -1] = '\0';
		return IMAGE_ENTRY_OPAQUE;
	}
	if (!base[strlen(WH_PREFIX)] || !strcmp(base + strlen(WH_PREFIX), ".") ||
	    !strcmp(base + strlen(WH_PREFIX), ".."))
		return -EXDEV; /* ".wh.", ".wh..", ".wh..." delete nothing nameable or the parent */
	memmove(base, base + strlen(WH_PREFIX), strlen(base + strlen(WH_PREFIX)) + 1);
	return IMAGE_ENTRY_WHITEOUT;
}

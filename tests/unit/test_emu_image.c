/* SPDX-License-Identifier: MIT */
/*
 * emu-run --image's pure rules (emu-runner/image.c, compiled into this test):
 * layer entry paths (normalized, ".." refused, whiteouts and opaque markers),
 * digests, and which manifest an index gives for a platform - the variant
 * normalized as containerd does (arm64/v8 is arm64, arm is arm/v7), the first
 * match winning, the platforms listed when none matches - plus manifests,
 * configs and docker save's manifest.json.
 */
#include "../../emu-runner/image.c"

#include "unit.h"

#define H0 "0000000000000000000000000000000000000000000000000000000000000000"
#define HA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void entry(const char *raw, int kind, const char *want)
{
	char out[PATH_MAX];
	int r = image_entry_path(raw, out, sizeof(out));

	assert_int_equal(r, kind);
	if (r >= 0)
		assert_string_equal(out, want);
}

static void test_entry_paths(void **state)
{
	(void)state;
	entry("./usr/bin/x", IMAGE_ENTRY_PLAIN, "usr/bin/x");
	entry("/usr//bin/./x/", IMAGE_ENTRY_PLAIN, "usr/bin/x");
	entry("./", IMAGE_ENTRY_PLAIN, "");
	entry("etc/.wh.gone", IMAGE_ENTRY_WHITEOUT, "etc/gone");
	entry(".wh.top", IMAGE_ENTRY_WHITEOUT, "top");
	entry("./data/.wh..wh..opq", IMAGE_ENTRY_OPAQUE, "data");
	entry(".wh..wh..opq", IMAGE_ENTRY_OPAQUE, "");
	entry("a/.wh..wh.plnk", IMAGE_ENTRY_WHITEOUT, "a/.wh.plnk");
	entry("x.wh.y", IMAGE_ENTRY_PLAIN, "x.wh.y");
	entry("../escape", -EXDEV, NULL);
	entry("a/../../b", -EXDEV, NULL);
	entry("a/..", -EXDEV, NULL);
	entry("a/.wh.", -EXDEV, NULL);
	entry("a/.wh...", -EXDEV, NULL);
	entry("a/.wh..", -EXDEV, NULL);
	entry("..a/b..", IMAGE_ENTRY_PLAIN, "..a/b..");
}

static void test_entry_path_too_long(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(image_entry_path("abcdefgh", out, sizeof(out)), -ENAMETOOLONG);
	assert_int_equal(image_entry_path("abc/def", out, sizeof(out)), IMAGE_ENTRY_PLAIN);
}

static void test_digests(void **state)
{
	char hex[65];

	(void)state;
	assert_int_equal(image_digest_hex("sha256:" HA, hex), 0);
	assert_string_equal(hex, HA);
	assert_int_equal(image_digest_hex("sha512:" HA, hex), -EINVAL);
	assert_int_equal(image_digest_hex("sha256:" HA "a", hex), -EINVAL);
	assert_int_equal(image_digest_hex("sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", hex), -EINVAL);
	assert_int_equal(image_digest_hex(NULL, hex), -EINVAL);
	assert_int_equal(image_path_hex(HB ".json", hex), 0);
	assert_string_equal(hex, HB);
	assert_int_equal(image_path_hex("blobs/sha256/" HB, hex), 0);
	assert_int_equal(image_path_hex(HB "/layer.tar", hex), -EINVAL);
	assert_int_equal(image_path_hex(HB ".txt", hex), -EINVAL);
}

static const char multi[] =
	"{\"schemaVersion\":2,\"manifests\":["
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" H0 "\","
	"\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" HA "\","
	"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" HB "\","
	"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" H0 "\","
	"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"sha256:" HB "\"}]}";

static int choose(const char *json, const char *platform, struct bi_error *err)
{
	struct image_index x;
	struct platform p;
	int k;

	assert_int_equal(platform_parse(platform, &p), 0);
	assert_int_equal(image_index_parse(json, strlen(json), "index.json", &x, err), 0);
	k = image_choose(&x, &p, "--image x", err);
	image_index_free(&x);
	return k;
}

static void test_choose(void **state)
{
	struct bi_error err = { 0 };
	struct image_index x;

	(void)state;
	assert_int_equal(choose(multi, "linux/arm64", &err), 1); /* arm64/v8 is arm64; the first wins */
	assert_int_equal(choose(multi, "linux/amd64", &err), 0);
	assert_int_equal(choose(multi, "linux/arm/v7", &err), 2); /* a bare arm is arm/v7 */
	assert_int_equal(choose(multi, "linux/s390x", &err), -ENOENT);
	assert_string_equal(err.msg, "--image x: no manifest for linux/s390x; it has linux/amd64, linux/arm64, linux/arm/v7");
	assert_int_equal(image_index_parse(multi, strlen(multi), "index.json", &x, &err), 0);
	assert_int_equal(x.n, 5);
	assert_true(x.descs[4].is_index);
	assert_false(x.descs[4].has_platform);
	image_index_free(&x);
}

static void test_bad_indexes(void **state)
{
	static const char *const bad[] = {
		"", "[]", "{}", "{\"manifests\":[]}", "{\"manifests\":[{\"digest\":\"sha512:" HA "\"}]}",
		"{\"manifests\":[{\"digest\":\"sha256:" HA "\"},{}]}", "{\"manifests\":1}",
	};
	struct bi_error err;
	struct image_index x;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(image_index_parse(bad[i], strlen(bad[i]), "index.json", &x, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "index.json: "));
		assert_null(x.descs);
	}
}

static void test_manifest_config_docker(void **state)
{
	const char *m = "{\"config\":{\"digest\":\"sha256:" HA "\"},\"layers\":[{\"digest\":\"sha256:" HB "\"},"
			"{\"digest\":\"sha256:" H0 "\"}]}";
	const char *c = "{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\","
			"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:" HB "\"]}}";
	const char *d = "[{\"Config\":\"" HA ".json\",\"Layers\":[\"x/layer.tar\",\"blobs/sha256/" HB "\"]}]";
	struct bi_error err = { 0 };
	struct image_manifest man, diff;
	struct platform p;

	(void)state;
	assert_int_equal(image_manifest_parse(m, strlen(m), "manifest", &man, &err), 0);
	assert_string_equal(man.config, HA);
	assert_int_equal(man.nlayers, 2);
	assert_string_equal(man.layers[0], HB);
	assert_string_equal(man.layers[1], H0);
	image_manifest_free(&man);
	assert_int_equal(image_manifest_parse(multi, strlen(multi), "manifest", &man, &err), -EINVAL);
	assert_string_equal(err.msg, "manifest: an index where a manifest was expected");

	assert_int_equal(image_config_parse(c, strlen(c), "config", &p, &diff, &err), 0);
	assert_string_equal(p.arch, "arm64");
	assert_string_equal(p.variant, "");
	assert_int_equal(diff.nlayers, 1);
	assert_string_equal(diff.layers[0], HB);
	image_manifest_free(&diff);
	assert_int_equal(image_config_parse("{\"os\":\"linux\"}", 15, "config", &p, NULL, &err), -EINVAL);

	assert_int_equal(image_docker_parse(d, strlen(d), 0, &man, &err), 0);
	assert_string_equal(man.config, HA ".json");
	assert_int_equal(man.nlayers, 2);
	assert_string_equal(man.layers[0], "x/layer.tar");
	image_manifest_free(&man);
	assert_int_equal(image_docker_parse(d, strlen(d), 1, &man, &err), -ENOENT);
	assert_int_equal(image_docker_parse("[{\"Layers\":[]}]", 14, 0, &man, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_paths),
		cmocka_unit_test(test_entry_path_too_long),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_bad_indexes),
		cmocka_unit_test(test_manifest_config_docker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

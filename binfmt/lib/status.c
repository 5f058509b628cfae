/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform.h"
#include "status.h"
#include "util.h"

/* BuildKit's probe order (util/archutil), then platforms it does not probe. */
static const char *const platform_order[] = {
	"linux/amd64",  "linux/arm64",    "linux/riscv64", "linux/ppc64",  "linux/ppc64le",
	"linux/s390x",  "linux/386",      "linux/mips64le", "linux/mips64", "linux/loong64",
	"linux/arm/v7", "linux/arm/v6",   "linux/mipsle",  "linux/mips",
};

static bool served_by_entry(const struct target *t, const struct binfmt_entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct binfmt_entry *e = &entries[i];
		/* Builders run steps chrooted in foreign roots: only F entries work
		 * there, and only while their interpreter exists. */
		if (!e->enabled || !strchr(e->flags, 'F') || access(e->interpreter, X_OK) < 0)
			continue;
		if (plan_target_of_entry(e) == t)
			return true;
	}
	return false;
}

static bool contains(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (!strcmp(json_string_value(v), s))
			return true;
	return false;
}

json_t *status_json(const struct target *host, const struct binfmt_entry *entries, size_t n,
		    const char *prefix)
{
	json_t *root = json_object(), *supported = json_array(), *emulators = json_array();
	struct platform hp;
	char buf[128];

	if (!root || !supported || !emulators) {
		json_decref(root);
		json_decref(supported);
		json_decref(emulators);
		return NULL;
	}
	if (platform_host(&hp) == 0 && platform_format(&hp, buf, sizeof(buf)) == 0)
		json_array_append_new(supported, json_string(buf));
	for (size_t i = 0; i < ARRAY_SIZE(platform_order); i++) {
		const struct target *t;
		if (contains(supported, platform_order[i]) || target_resolve(platform_order[i], &t) < 0)
			continue;
		if ((host && target_same_family(host, t)) || served_by_entry(t, entries, n))
			json_array_append_new(supported, json_string(platform_order[i]));
	}
	for (size_t i = 0; i < n; i++)
		if (entries[i].enabled && plan_is_qemu_entry(&entries[i], prefix))
			json_array_append_new(emulators, json_string(entries[i].name));
	json_object_set_new(root, "supported", supported);
	json_object_set_new(root, "emulators", emulators);
	return root;
}

char *status_dump(json_t *status)
{
	char *s = json_dumps(status, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	char *out;

	if (!s)
		return NULL;
	if (asprintf(&out, "%s\n", s) < 0)
		out = NULL;
	free(s);
	return out;
}

static int write_file_atomic(const char *dir, const char *name, const char *text, struct bi_error *err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	_cleanup_close_ int fd = -1;
	size_t len = strlen(text);

	if ((size_t)snprintf(path, sizeof(path), "%s/%s.conf", dir, name) >= sizeof(path))
		return bi_error_set(err, -ENAMETOOLONG, "export path too long");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return bi_error_set(err, -errno, "cannot write %s: %s", tmp, strerror(errno));
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		int e = errno ? errno : EIO;
		unlink(tmp);
		return bi_error_set(err, -e, "cannot write %s: %s", tmp, strerror(e));
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return bi_error_set(err, -e, "cannot rename %s to %s: %s", tmp, path, strerror(e));
	}
	return 0;
}

int status_export_binfmt_d(const char *dir, const struct plan *p, struct bi_error *err)
{
	struct stat st;
	int count = 0;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return bi_error_set(err, -ENOTDIR, "export directory %s does not exist: create it first "
				    "(systemd reads /etc/binfmt.d)", dir);
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_item *it = &p->items[i];
		char line[ENTRY_REGISTER_MAX + 1], text[ENTRY_REGISTER_MAX + 512];
		int r;

		if (!it->install || (it->state != PLAN_REGISTER && it->state != PLAN_REPLACE))
			continue;
		r = entry_format_register(&it->want, line, sizeof(line));
		if (r < 0)
			return bi_error_set(err, r, "cannot format %s", it->want.name);
		snprintf(text, sizeof(text),
			 "# %s, written by binfmt " BINFMT_VERSION " --export.\n"
			 "# systemd-binfmt(8) registers this at boot; see binfmt.d(5).\n%s\n",
			 it->label, line);
		r = write_file_atomic(dir, it->want.name, text, err);
		if (r < 0)
			return r;
		count++;
	}
	return count;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interp.h"
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

/* Names and paths are other tools' bytes: escaped (entry_escape), so the
 * string is valid UTF-8 and jansson never drops it. */
static json_t *json_text(const char *s)
{
	_cleanup_free_ char *esc = entry_escape(s);

	return esc ? json_string(esc) : NULL;
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

static void add_emulators(json_t *emulators, const struct binfmt_entry *entries, size_t n, const char *prefix)
{
	for (size_t i = 0; i < n; i++)
		if (entries[i].enabled && plan_is_qemu_entry(&entries[i], prefix))
			json_array_append_new(emulators, json_text(entries[i].name));
}

/* {"supported": [host platform], "emulators": [...]}; *supported stays owned
 * by the object, for the caller to append to (keys keep this order). */
static json_t *status_new(const struct binfmt_entry *entries, size_t n, const char *prefix, json_t **supported)
{
	json_t *root = json_object(), *emulators = json_array();
	struct platform hp;
	char buf[128];

	*supported = json_array();
	if (!root || !*supported || !emulators) {
		json_decref(root);
		json_decref(*supported);
		json_decref(emulators);
		return NULL;
	}
	if (platform_host(&hp) == 0 && platform_format(&hp, buf, sizeof(buf)) == 0)
		json_array_append_new(*supported, json_string(buf));
	add_emulators(emulators, entries, n, prefix);
	json_object_set_new(root, "supported", *supported);
	json_object_set_new(root, "emulators", emulators);
	return root;
}

json_t *status_json(const struct target *host, const struct binfmt_entry *entries, size_t n,
		    const char *prefix)
{
	json_t *supported, *root = status_new(entries, n, prefix, &supported);

	if (!root)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(platform_order); i++) {
		const struct target *t;
		if (contains(supported, platform_order[i]) || target_resolve(platform_order[i], &t) < 0)
			continue;
		if ((host && target_same_family(host, t)) || served_by_entry(t, entries, n))
			json_array_append_new(supported, json_string(platform_order[i]));
	}
	return root;
}

static void add_levels(json_t *arr, int level)
{
	char buf[32];

	/* v1 is the baseline, spelled "linux/amd64" (containerd drops it). */
	for (int l = 2; l <= level; l++) {
		snprintf(buf, sizeof(buf), "linux/amd64/v%d", l);
		if (!contains(arr, buf))
			json_array_append_new(arr, json_string(buf));
	}
}

static void add_passed(json_t *supported, const struct detect_result *r)
{
	const char *p = r->probe->platform;
	bool seen = contains(supported, p);

	/* The host's platform is already first; its amd64 levels still follow it. */
	if (!seen)
		json_array_append_new(supported, json_string(p));
	if (!strcmp(p, "linux/amd64"))
		add_levels(supported, r->amd64_level);
	if (seen)
		return;
	/* A 32-bit arm CPU (or emulator) that runs v7 code runs v6 code too. */
	if (!strcmp(p, "linux/arm/v7"))
		json_array_append_new(supported, json_string("linux/arm/v6"));
}

json_t *status_json_detected(const struct detect_result *rs, size_t nrs, const struct binfmt_entry *entries,
			     size_t n, const char *prefix)
{
	json_t *supported, *root = status_new(entries, n, prefix, &supported);

	if (!root)
		return NULL;
	for (size_t i = 0; i < nrs; i++)
		if (rs[i].status == DETECT_NATIVE)
			add_passed(supported, &rs[i]);
	for (size_t i = 0; i < nrs; i++)
		if (rs[i].status == DETECT_OK)
			add_passed(supported, &rs[i]);
	return root;
}

static const struct binfmt_entry *entry_serving(const struct probe *p, const struct binfmt_entry *es, size_t n)
{
	const struct target *t = target_by_cpu(p->cpu);

	for (size_t i = 0; i < n; i++)
		if (es[i].enabled && plan_target_of_entry(&es[i]) == t)
			return &es[i];
	return NULL;
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_text(s) : json_null();
}

/*
 * F opens the interpreter when the entry is registered and the kernel keeps
 * running that file: deleting or replacing it later (a package upgrade)
 * changes nothing until the entry is registered again. Say so, and return
 * true when the file at the path is not the one that runs.
 */
static bool pinned_file_gone(const struct binfmt_entry *e, char *buf, size_t n)
{
	struct stat st;

	buf[0] = '\0';
	if (!strchr(e->flags, 'F'))
		return false;
	if (stat(e->interpreter, &st) < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return false;
		snprintf(buf, n, "interpreter %.300s was deleted after entry %.200s was registered: the kernel still runs "
			 "the file the F flag pinned then (QEMU version unknown); re-register the entry to pin a current "
			 "emulator", e->interpreter, e->name);
		return true;
	}
	if (e->registered_ns &&
	    (long long)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec > e->registered_ns) {
		snprintf(buf, n, "interpreter %.300s was replaced or changed after entry %.200s was registered: the kernel "
			 "still runs the file the F flag pinned then, not this one (QEMU version unknown); re-register the "
			 "entry to pin the new file", e->interpreter, e->name);
		return true;
	}
	return false;
}

static json_t *inspect_one(const struct detect_result *r, const struct binfmt_entry *es, size_t n)
{
	const struct binfmt_entry *e = r->status == DETECT_NATIVE ? NULL : entry_serving(r->probe, es, n);
	json_t *o = json_object();
	char why[1024], pinned[700] = "", reason[1800], version[64] = "", level[16] = "", cred[700];
	bool gone = e && pinned_file_gone(e, pinned, sizeof(pinned));
	/* It runs, and "supported" is true: the risk of C must still be said. */
	bool credential = e && plan_credential_warning(e, cred, sizeof(cred));

	detect_explain(r, es, n, why, sizeof(why));
	snprintf(reason, sizeof(reason), "%s%s%s", why, why[0] && pinned[0] ? "; " : "", pinned);
	/* An emulator that just hung on the probe would hang on -version too; a
	 * file that is not the pinned one would report someone else's version. */
	if (e && !gone && r->status != DETECT_TIMEOUT &&
	    interp_qemu_version(e->interpreter, version, sizeof(version)) < 0)
		version[0] = '\0';
	if (r->amd64_level > 0)
		snprintf(level, sizeof(level), "v%d", r->amd64_level);
	json_object_set_new(o, "platform", json_string(r->probe->platform));
	json_object_set_new(o, "supported", json_boolean(detect_passed(r)));
	json_object_set_new(o, "status", json_string(detect_status_name(r->status)));
	json_object_set_new(o, "entry", str_or_null(e ? e->name : NULL));
	json_object_set_new(o, "interpreter", str_or_null(e ? e->interpreter : NULL));
	json_object_set_new(o, "flags", e ? json_string(e->flags) : json_null());
	json_object_set_new(o, "qemu_version", str_or_null(version));
	if (credential)
		json_object_set_new(o, "warning", json_string(cred));
	if (level[0])
		json_object_set_new(o, "amd64_level", json_string(level));
	json_object_set_new(o, "reason", str_or_null(reason));
	json_object_set_new(o, "ms", json_real((double)(long)(r->ms * 10 + 0.5) / 10));
	return o;
}

json_t *status_inspect_json(const struct detect_result *rs, size_t nrs, const struct binfmt_entry *entries,
			    size_t n)
{
	json_t *root = json_object(), *arr = json_array();

	for (size_t i = 0; root && arr && i < nrs; i++)
		json_array_append_new(arr, inspect_one(&rs[i], entries, n));
	json_object_set_new(root, "platforms", arr);
	return root;
}

char *status_dump(json_t *status)
{
	char *s = json_dumps(status, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	char *out;

	if (!s)
		return NULL;
	if (asprintf(&out, "%s\n", s) < 0)
		out = NULL;
	free(s);
	return out;
}

/* A name nobody can guess: in a shared (sticky, world-writable) directory
 * another user could otherwise create it first and own what we write. */
static int open_temp_at(int dirfd, const char *name, char *tmp, size_t n)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";

	for (int tries = 0; tries < 100; tries++) {
		unsigned char rnd[12];
		char suffix[sizeof(rnd) + 1];
		int fd;

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -EIO;
		for (size_t i = 0; i < sizeof(rnd); i++)
			suffix[i] = chars[rnd[i] % (sizeof(chars) - 1)];
		suffix[sizeof(rnd)] = '\0';
		/* A leading dot and no ".conf" ending: systemd-binfmt never reads it. */
		if ((size_t)snprintf(tmp, n, ".%s.conf.%s", name, suffix) >= n)
			return -ENAMETOOLONG;
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

static int write_all(int fd, const char *text, size_t len)
{
	while (len) {
		ssize_t k = write(fd, text, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		text += k;
		len -= (size_t)k;
	}
	return 0;
}

/* tmp written, made 0644 (not the umask's idea), on disk, then renamed over
 * the final name, and the directory entry on disk too: after a crash the file
 * is either the old one or the whole new one. */
static int write_file_atomic(int dirfd, const char *dir, const char *name, const char *text,
			     struct bi_error *err)
{
	char final[NAME_MAX + 1], tmp[NAME_MAX + 1];
	_cleanup_close_ int fd = -1;
	int r;

	if ((size_t)snprintf(final, sizeof(final), "%s.conf", name) >= sizeof(final))
		return bi_error_set(err, -ENAMETOOLONG, "export file name %s.conf is too long", name);
	fd = open_temp_at(dirfd, name, tmp, sizeof(tmp));
	if (fd < 0)
		return bi_error_set(err, fd, "cannot create a temporary file in %s: %s", dir, strerror(-fd));
	r = fchmod(fd, 0644) < 0 ? -errno : write_all(fd, text, strlen(text));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, final) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return bi_error_set(err, r, "cannot write %s/%s: %s", dir, final, strerror(-r));
	}
	if (fsync(dirfd) < 0)
		return bi_error_set(err, -errno, "cannot sync %s: %s", dir, strerror(errno));
	return 0;
}

/* The directory itself, never one a symlink points to: a link in a shared
 * place could send the files anywhere root can write. */
static int open_export_dir(const char *dir, struct bi_error *err)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (copy_str(path, sizeof(path), dir) < 0)
		return bi_error_set(err, -ENAMETOOLONG, "export path too long");
	/* A trailing slash would make the kernel follow a symlink. */
	for (size_t l = strlen(path); l > 1 && path[l - 1] == '/'; l--)
		path[l - 1] = '\0';
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		return bi_error_set(err, -ELOOP, "export directory %s is a symbolic link: pass the directory "
				    "it points to (realpath %s)", dir, dir);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ENOTDIR)
		return bi_error_set(err, -ENOTDIR, "export directory %s does not exist: create it first "
				    "(systemd reads /etc/binfmt.d)", dir);
	if (errno == ELOOP)
		return bi_error_set(err, -ELOOP, "export directory %s is a symbolic link: pass the directory "
				    "it points to (realpath %s)", dir, dir);
	return bi_error_set(err, -errno, "cannot open export directory %s: %s", dir, strerror(errno));
}

struct export_file {
	const struct plan_item *it;
	char text[ENTRY_REGISTER_MAX + 512];
};

/* The file for one item; an error when binfmt.d could not read it back. */
static int export_text(const struct plan_item *it, struct export_file *f, struct bi_error *err)
{
	char line[ENTRY_REGISTER_MAX + 1];
	int r = entry_format_register(&it->want, line, sizeof(line));

	if (r < 0)
		return bi_error_set(err, r, "cannot format %s", it->want.name);
	/* binfmt.d(5): a line starting with '#' or ';' is a comment, so
	 * systemd-binfmt would silently register nothing. */
	if (line[0] == '#' || line[0] == ';')
		return bi_error_set(err, -EINVAL, "entry %s cannot be exported: its name and interpreter path "
				    "use every usable delimiter but '%c', which starts a comment in binfmt.d: "
				    "choose a QEMU_BINARY_PATH or prefix without ':'", it->want.name, line[0]);
	f->it = it;
	snprintf(f->text, sizeof(f->text),
		 "# %s, written by binfmt " BINFMT_VERSION " --export.\n"
		 "# systemd-binfmt(8) registers this at boot; see binfmt.d(5).\n%s\n",
		 it->label, line);
	return 0;
}

int status_export_binfmt_d(const char *dir, const struct plan *p, struct bi_error *err)
{
	_cleanup_free_ struct export_file *files = calloc(p->n ? p->n : 1, sizeof(*files));
	_cleanup_close_ int dirfd = -1;
	size_t count = 0;
	int r;

	if (!files)
		return bi_error_set(err, -ENOMEM, "out of memory");
	/* Every file formatted and checked first: a refusal writes none of them. */
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_item *it = &p->items[i];

		if (!it->install || (it->state != PLAN_REGISTER && it->state != PLAN_REPLACE))
			continue;
		r = export_text(it, &files[count], err);
		if (r < 0)
			return r;
		count++;
	}
	dirfd = open_export_dir(dir, err);
	if (dirfd < 0)
		return dirfd;
	for (size_t i = 0; i < count; i++) {
		r = write_file_atomic(dirfd, dir, files[i].it->want.name, files[i].text, err);
		if (r < 0)
			return r;
	}
	return (int)count;
}

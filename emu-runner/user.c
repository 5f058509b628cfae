/* SPDX-License-Identifier: MIT */
/*
 * USER[:GROUP] as runc and BuildKit resolve it: names and numbers from the
 * root's own /etc/passwd and /etc/group (never the host's NSS), the primary
 * group from passwd, supplementary groups from group membership when no group
 * is given, HOME from passwd (else "/"). The files come from a hostile root:
 * they are opened inside it, must be regular files, and are read with a limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "emu.h"
#include "util.h"

#define DB_MAX_BYTES (4 << 20)

/* A numeric id: all digits, fits in 32 bits (and is not (uid_t)-1). */
static bool parse_id(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || v >= 0xffffffffUL)
		return false;
	*out = (unsigned)v;
	return true;
}

static FILE *open_db(int rootfd, const char *path)
{
	int fd = root_open(rootfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, true);
	struct stat st;
	FILE *f;

	if (fd < 0)
		return NULL;
	/* Not a FIFO or /dev/zero in disguise. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > DB_MAX_BYTES || !(f = fdopen(fd, "re"))) {
		close(fd);
		return NULL;
	}
	return f;
}

/* Split "a:b:c" in place into at most n fields; returns the count. */
static size_t split(char *line, char **f, size_t n)
{
	size_t k = 0;

	line[strcspn(line, "\n")] = '\0';
	while (k < n) {
		f[k++] = line;
		line = strchr(line, ':');
		if (!line)
			break;
		*line++ = '\0';
	}
	return k;
}

struct pw {
	bool found;
	char name[256];
	unsigned uid, gid;
	char home[PATH_MAX];
};

static void find_passwd(int rootfd, const char *name, bool by_uid, unsigned uid, struct pw *pw)
{
	_cleanup_fclose_ FILE *f = open_db(rootfd, "etc/passwd");
	char line[4096], *fld[7];
	unsigned id, gid;

	memset(pw, 0, sizeof(*pw));
	while (f && fgets(line, sizeof(line), f)) {
		if (split(line, fld, 7) < 7 || !parse_id(fld[2], &id) || !parse_id(fld[3], &gid))
			continue;
		if (by_uid ? id != uid : strcmp(fld[0], name) != 0)
			continue;
		pw->found = true;
		pw->uid = id;
		pw->gid = gid;
		snprintf(pw->name, sizeof(pw->name), "%s", fld[0]);
		snprintf(pw->home, sizeof(pw->home), "%s", fld[5]);
		return;
	}
}

static void add_group(struct emu_user *u, gid_t gid)
{
	for (size_t i = 0; i < u->ngroups; i++)
		if (u->groups[i] == gid)
			return;
	if (u->ngroups < EMU_MAX_GROUPS)
		u->groups[u->ngroups++] = gid;
}

/* A group by name (name != NULL), or every group listing member (adds to u). */
static bool scan_groups(int rootfd, const char *name, const char *member, unsigned *gid, struct emu_user *u)
{
	_cleanup_fclose_ FILE *f = open_db(rootfd, "etc/group");
	char line[16384], *fld[4];
	unsigned id;

	while (f && fgets(line, sizeof(line), f)) {
		if (split(line, fld, 4) < 4 || !parse_id(fld[2], &id))
			continue;
		if (name && !strcmp(fld[0], name)) {
			*gid = id;
			return true;
		}
		if (!member || !u)
			continue;
		for (char *save = NULL, *m = strtok_r(fld[3], ",", &save); m; m = strtok_r(NULL, ",", &save))
			if (!strcmp(m, member)) {
				add_group(u, id);
				break;
			}
	}
	return false;
}

static int resolve_group(int rootfd, const char *group, struct emu_user *u, struct bi_error *err)
{
	unsigned gid;

	if (parse_id(group, &gid) || scan_groups(rootfd, group, NULL, &gid, NULL)) {
		u->gid = gid;
		return 0;
	}
	return bi_error_set(err, -ENOENT, "--user: no group '%s' in the root's /etc/group", group);
}

int user_resolve(int rootfd, const char *spec, struct emu_user *u, struct bi_error *err)
{
	char buf[512], *group;
	unsigned uid = 0;
	bool numeric;
	int r;
	struct pw pw;

	memset(u, 0, sizeof(*u));
	if (copy_str(buf, sizeof(buf), spec && *spec ? spec : "0") < 0)
		return bi_error_set(err, -EINVAL, "--user: too long");
	group = strchr(buf, ':');
	if (group)
		*group++ = '\0';
	if (!*buf || (group && !*group))
		return bi_error_set(err, -EINVAL, "--user '%s': expected USER[:GROUP]", spec);
	numeric = parse_id(buf, &uid);
	find_passwd(rootfd, buf, numeric, uid, &pw);
	if (!numeric && !pw.found)
		return bi_error_set(err, -ENOENT, "--user: no user '%s' in the root's /etc/passwd", buf);
	/* An unknown numeric uid is fine: gid 0 and HOME=/, as in Docker. */
	u->uid = pw.found ? pw.uid : uid;
	u->gid = pw.found ? pw.gid : 0;
	snprintf(u->home, sizeof(u->home), "%s", pw.found && pw.home[0] == '/' ? pw.home : "/");
	if (group && (r = resolve_group(rootfd, group, u, err)) < 0)
		return r;
	/* The primary group first (containerd's ensureAdditionalGids), then,
	 * when no group was given, every group listing the user. */
	u->groups[u->ngroups++] = u->gid;
	if (!group && pw.found)
		scan_groups(rootfd, NULL, pw.name, NULL, u);
	return 0;
}

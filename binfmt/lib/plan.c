/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "util.h"

/* Longest list item we look at; longer ones are malformed names. */
#define NAME_MAX_LEN 255

bool plan_is_qemu_entry(const struct binfmt_entry *e, const char *prefix)
{
	const char *base = strrchr(e->interpreter, '/');
	size_t pl = prefix ? strlen(prefix) : 0;

	if (!strncmp(e->name, "qemu-", 5))
		return true;
	if (pl && !strncmp(e->name, prefix, pl) && !strncmp(e->name + pl, "qemu-", 5))
		return true;
	/* Other tools' names for QEMU handlers still run a qemu-* interpreter. */
	base = base ? base + 1 : e->interpreter;
	return strstr(base, "qemu-") != NULL;
}

int plan_entry_for(const struct target *t, const char *prefix, const char *interpreter, const char *flags,
		   struct binfmt_entry *e)
{
	memset(e, 0, sizeof(*e));
	if ((size_t)snprintf(e->name, sizeof(e->name), "%sqemu-%s", prefix ? prefix : "", t->cpu) >=
	    sizeof(e->name))
		return -ENAMETOOLONG;
	if (strlen(interpreter) > ENTRY_INTERP_MAX)
		return -ENAMETOOLONG;
	if (copy_str(e->interpreter, sizeof(e->interpreter), interpreter) < 0 ||
	    entry_flags_normalize(flags, e->flags) < 0)
		return -EINVAL;
	e->enabled = true;
	e->type = 'M';
	e->offset = 0;
	memcpy(e->magic, t->magic, t->len);
	memcpy(e->mask, t->mask, t->len);
	e->magic_len = e->mask_len = t->len;
	return 0;
}

/* Does the entry claim a file whose header is the target's own magic? */
static bool entry_serves(const struct binfmt_entry *e, const struct target *t)
{
	uint8_t hdr[ENTRY_MAGIC_MAX * 2] = { 0 };

	memcpy(hdr, t->magic, t->len);
	return entry_matches(e, hdr, sizeof(hdr));
}

const struct target *plan_target_of_entry(const struct binfmt_entry *e)
{
	for (size_t i = 0; i < targets_count(); i++)
		if (entry_serves(e, target_at(i)))
			return target_at(i);
	return NULL;
}

static struct plan_item *add_item(struct plan *p)
{
	struct plan_item *v = realloc(p->items, (p->n + 1) * sizeof(*v));

	if (!v)
		return NULL;
	p->items = v;
	memset(&v[p->n], 0, sizeof(v[p->n]));
	return &v[p->n++];
}

static void set_label(struct plan_item *it, const struct target *t, const char *entry_name)
{
	if (t && t->platform)
		snprintf(it->label, sizeof(it->label), "%s (%s)", t->platform, entry_name);
	else
		snprintf(it->label, sizeof(it->label), "%s", entry_name);
}

static bool already_planned(const struct plan *p, bool install, const struct target *t, const char *name)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_item *it = &p->items[i];
		if (it->install != install)
			continue;
		if (t ? it->target == t : (!it->target && name && !strcmp(it->old[0].name, name)))
			return true;
	}
	return false;
}

static int bad_name(const char *what, const char *name, int r, struct bi_error *err)
{
	if (!*name)
		return bi_error_set(err, -EINVAL, "%s: empty name in the list (check for stray commas)", what);
	if (r == -EOPNOTSUPP)
		return bi_error_set(err, -EINVAL, "%s: '%s' is not a linux platform; QEMU user mode runs Linux binaries "
				    "only", what, name);
	return bi_error_set(err, -EINVAL, "%s: unknown architecture '%s'; accepted: %s", what, name,
			    targets_accepted_names());
}

/* Split a comma list, calling fn for each item; empty items are errors. */
static int for_each_name(const char *list, const char *what, struct bi_error *err,
			 int (*fn)(const char *name, void *ctx), void *ctx)
{
	const char *p = list;

	if (!*list)
		return bi_error_set(err, -EINVAL, "%s: empty list; give names like arm64,riscv64 or 'all'", what);
	for (;;) {
		size_t l = strcspn(p, ",");
		char name[NAME_MAX_LEN + 2];
		int r;

		if (l > NAME_MAX_LEN)
			return bi_error_set(err, -EINVAL, "%s: a name of %zu characters is too long to be an architecture",
					    what, l);
		memcpy(name, p, l);
		name[l] = '\0';
		if (!l)
			return bad_name(what, name, -EINVAL, err);
		if (!strcmp(name, "all"))
			return bi_error_set(err, -EINVAL, "%s: 'all' stands alone; it cannot be combined with other names",
					    what);
		r = fn(name, ctx);
		if (r < 0)
			return r;
		if (!p[l])
			return 0;
		p += l + 1;
	}
}

static bool being_removed(const struct plan *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (!p->items[i].install && p->items[i].state == PLAN_REMOVE && !strcmp(p->items[i].old[0].name, name))
			return true;
	return false;
}

struct build_ctx {
	const struct plan_request *rq;
	const struct binfmt_entry *existing;
	size_t nexisting;
	struct plan *plan;
	struct bi_error *err;
	bool all;
	unsigned host_machine, host_class;
};

static const struct binfmt_entry *find_existing(const struct build_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->nexisting; i++)
		if (!strcmp(c->existing[i].name, name))
			return &c->existing[i];
	return NULL;
}

/* ---- uninstall ---- */

static int plan_remove_entry(struct build_ctx *c, const struct target *t, const char *name)
{
	const struct binfmt_entry *e = find_existing(c, name);
	struct plan_item *it;

	if (already_planned(c->plan, false, t, name))
		return 0;
	if (!(it = add_item(c->plan)))
		return bi_error_set(c->err, -ENOMEM, "out of memory");
	it->install = false;
	it->target = t;
	set_label(it, t, name);
	if (e) {
		it->state = PLAN_REMOVE;
		it->old[0] = *e;
		it->nold = 1;
	} else {
		it->state = PLAN_ABSENT;
		copy_str(it->old[0].name, sizeof(it->old[0].name), name);
		snprintf(it->reason, sizeof(it->reason), "not installed");
	}
	return 0;
}

static int uninstall_one(const char *name, void *ctx)
{
	struct build_ctx *c = ctx;
	const struct target *t;
	char entry_name[ENTRY_NAME_MAX + 1];
	int r = target_resolve(name, &t);

	if (r == 0) {
		snprintf(entry_name, sizeof(entry_name), "%sqemu-%s", c->rq->prefix, t->cpu);
		return plan_remove_entry(c, t, entry_name);
	}
	/* Someone else's entry (WSLInterop, python3.11, rosetta): only by its
	 * exact name, never through "all" or a pattern. */
	if (entry_name_valid(name) && (find_existing(c, name) || c->rq->validate_only))
		return plan_remove_entry(c, NULL, name);
	if (r == -ENOENT && entry_name_valid(name))
		return bi_error_set(c->err, -EINVAL, "--uninstall: unknown architecture '%s', and no entry has that "
				    "name; accepted: %s, or the exact name of an existing entry", name,
				    targets_accepted_names());
	return bad_name("--uninstall", name, r, c->err);
}

static int plan_uninstall(struct build_ctx *c)
{
	if (strcmp(c->rq->uninstall, "all"))
		return for_each_name(c->rq->uninstall, "--uninstall", c->err, uninstall_one, c);
	for (size_t i = 0; i < c->nexisting; i++) {
		const struct binfmt_entry *e = &c->existing[i];
		if (plan_is_qemu_entry(e, c->rq->prefix)) {
			int r = plan_remove_entry(c, plan_target_of_entry(e), e->name);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* ---- install ---- */

static size_t target_index(const struct target *t)
{
	for (size_t i = 0; i < targets_count(); i++)
		if (target_at(i) == t)
			return i;
	return 0;
}

static bool runs_here(const struct build_ctx *c, const struct target *t)
{
	return c->rq->runs && c->rq->runs[target_index(t)];
}

/* An enabled entry that takes t's files: then a probe of t that ran proves only
 * that the entry works, not that the host runs t itself. Seen: on a kernel that
 * refuses 32-bit code, the first of concurrent --install all registers qemu-i386
 * and the others, probing after it, called linux/386 native. */
static bool served_by_entry(const struct build_ctx *c, const struct target *t)
{
	for (size_t i = 0; i < c->nexisting; i++)
		if (c->existing[i].enabled && entry_serves(&c->existing[i], t))
			return true;
	return false;
}

static bool is_native(const struct build_ctx *c, const struct target *t)
{
	/* Registering the host's own ELF type makes every exec loop through
	 * binfmt_misc (ELOOP): system-wide breakage. Refuse it always, checked by
	 * this program's own ELF header in case the table is wrong. */
	if (t->e_machine == c->host_machine && t->elf_class == c->host_class)
		return true;
	if (c->rq->host && !strcmp(c->rq->host->cpu, t->cpu))
		return true;
	/* The rest of the family (i386 on x86_64, arm on aarch64) usually runs
	 * natively, but not always (no IA32 emulation, arm64 cores without
	 * AArch32): a probe tells the truth where the family only guesses. */
	if (c->rq->host && target_same_family(c->rq->host, t))
		return c->rq->runs ? runs_here(c, t) && !served_by_entry(c, t) : true;
	return false;
}

/* Entries other than `want` that claim the same files, or that serve t. */
static void find_rivals(const struct build_ctx *c, const struct target *t, const struct binfmt_entry *want,
			struct plan_item *it)
{
	for (size_t i = 0; i < c->nexisting && it->nold < ARRAY_SIZE(it->old); i++) {
		const struct binfmt_entry *e = &c->existing[i];
		if (!strcmp(e->name, want->name) || entry_same_match(e, want) || entry_serves(e, t))
			it->old[it->nold++] = *e;
	}
}

/* What C does, for an entry that has it: "entry X (interp) has the C flag: ...". */
static void describe_credential(const struct binfmt_entry *e, char *buf, size_t n)
{
	snprintf(buf, n, "entry %.120s (%.200s) has the C flag: setuid foreign binaries run as their owner inside "
		 "QEMU, which was never designed to run setuid (a local user can turn its bugs into root)",
		 e->name, e->interpreter);
}

bool plan_credential_warning(const struct binfmt_entry *e, char *buf, size_t n)
{
	const struct target *t = plan_target_of_entry(e);
	size_t l;

	if (!strchr(e->flags, 'C'))
		return false;
	describe_credential(e, buf, n);
	l = strlen(buf);
	if (t)
		snprintf(buf + l, n - l, "; 'binfmt --install qemu-%s --force' replaces it with one without C", t->cpu);
	else
		snprintf(buf + l, n - l, "; 'binfmt --uninstall %.120s' removes it", e->name);
	return true;
}

/* A rival with C when we register without it: tonistiigi/binfmt registers
 * every emulator with C. It runs, but not the way this install would. */
static const struct binfmt_entry *unwanted_credential(const struct plan_item *it)
{
	if (strchr(it->want.flags, 'C'))
		return NULL;
	for (size_t i = 0; i < it->nold; i++)
		if (strchr(it->old[i].flags, 'C'))
			return &it->old[i];
	return NULL;
}

static void decide_install(struct build_ctx *c, const struct target *t, struct plan_item *it)
{
	const struct binfmt_entry *cred;
	char diff[300];

	find_rivals(c, t, &it->want, it);
	cred = unwanted_credential(it);
	if (it->nold == 0 && c->all && runs_here(c, t)) {
		it->state = PLAN_HANDLED;
		snprintf(it->reason, sizeof(it->reason), "already runs here");
		return;
	}
	if (it->nold == 0) {
		it->state = PLAN_REGISTER;
		return;
	}
	if (it->nold == 1 && entry_same(&it->old[0], &it->want) && it->old[0].enabled &&
	    !strcmp(it->old[0].name, it->want.name)) {
		it->state = PLAN_KEEP;
		it->nold = 0;
		return;
	}
	/* "all" must not fail over a working handler someone else installed
	 * (Debian's qemu-user-static, an earlier run with other paths), unless it
	 * has C: that is not "served", it is a risk the user must hear about. */
	for (size_t i = 0; c->all && !cred && i < it->nold; i++) {
		if (it->old[i].enabled && strchr(it->old[i].flags, 'F') && entry_serves(&it->old[i], t)) {
			it->state = PLAN_HANDLED;
			snprintf(it->reason, sizeof(it->reason), "already served by entry %.255s (%.300s)", it->old[i].name,
				 it->old[i].interpreter);
			it->nold = 0;
			return;
		}
	}
	if (it->nold == 1 && entry_same(&it->old[0], &it->want) && !strcmp(it->old[0].name, it->want.name)) {
		/* Exactly ours, only switched off: switching it on is the install. */
		it->state = PLAN_ENABLE;
		snprintf(it->reason, sizeof(it->reason), "was disabled");
		return;
	}
	if (cred) {
		describe_credential(cred, it->reason, sizeof(it->reason));
	} else if (!strcmp(it->old[0].name, it->want.name)) {
		entry_describe_difference(&it->old[0], &it->want, diff, sizeof(diff));
		snprintf(it->reason, sizeof(it->reason), "entry %.255s exists with %.300s", it->old[0].name, diff);
	} else {
		snprintf(it->reason, sizeof(it->reason), "entry %.255s (%.300s) already claims these binaries",
			 it->old[0].name, it->old[0].interpreter);
	}
	if (c->rq->force) {
		it->state = PLAN_REPLACE;
	} else {
		size_t l = strlen(it->reason);
		it->state = PLAN_CONFLICT;
		if (cred)
			snprintf(it->reason + l, sizeof(it->reason) - l,
				 "; left alone ('binfmt --install qemu-%s --force' replaces it with one without C)", t->cpu);
		else
			snprintf(it->reason + l, sizeof(it->reason) - l, "; left alone (--force replaces it)");
		it->nold = 0;
	}
}

/* Messages carry the raw bytes: the CLI escapes every line it prints
 * (entry_escape), so escaping here as well would print "\x5cx0a". */
static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/*
 * The register string is formatted here, not only when applying: a dry run
 * that said "would be registered" for an entry the real run cannot write
 * (exit 1, after rolling back the rest) would not tell the truth. What can
 * make it fail comes from the user: the emulators' path and QEMU_BINARY_PREFIX.
 */
static int check_registrable(const struct binfmt_entry *e, struct bi_error *err)
{
	char line[ENTRY_REGISTER_MAX + 1];
	const char *name = e->name, *interp = e->interpreter;
	int r = entry_format_register(e, line, sizeof(line));

	if (r >= 0)
		return 0;
	if (has_control(interp))
		return bi_error_set(err, -EINVAL, "entry %s cannot be registered: interpreter path %s has a control "
				    "character, which a register string cannot carry; move the emulators to a path "
				    "without one", name, interp);
	if (has_control(name) || !entry_name_valid(name))
		return bi_error_set(err, -EINVAL, "entry name %s is not valid in binfmt_misc: fix QEMU_BINARY_PREFIX",
				    name);
	if (r == -EINVAL)
		return bi_error_set(err, -EINVAL, "entry %s cannot be registered: its name and interpreter path %s "
				    "together contain every delimiter a register string can use (%s); remove one of "
				    "them from QEMU_BINARY_PREFIX or the emulators' path", name, interp,
				    ENTRY_DELIMITERS);
	return bi_error_set(err, r, "entry %s cannot be registered: its register string is longer than %d bytes; "
			    "use a shorter QEMU_BINARY_PREFIX or emulator path", name, ENTRY_REGISTER_MAX);
}

static int install_target(struct build_ctx *c, const struct target *t)
{
	char entry_name[ENTRY_NAME_MAX + 1], interp[PATH_MAX];
	struct plan_item *it;
	int r;

	if (already_planned(c->plan, true, t, NULL))
		return 0;
	if (!(it = add_item(c->plan)))
		return bi_error_set(c->err, -ENOMEM, "out of memory");
	it->install = true;
	it->target = t;
	snprintf(entry_name, sizeof(entry_name), "%sqemu-%s", c->rq->prefix, t->cpu);
	set_label(it, t, entry_name);
	copy_str(it->want.name, sizeof(it->want.name), entry_name);
	if (is_native(c, t)) {
		it->state = PLAN_NATIVE;
		snprintf(it->reason, sizeof(it->reason), "runs natively on this host");
		return 0;
	}
	r = interp_find_verified(c->rq->search, t->cpu, &c->rq->policy, interp, sizeof(interp), c->err);
	if (r == -ENOENT && c->all) {
		c->plan->n--; /* counted, not listed: most targets have no emulator installed */
		c->plan->skipped_no_emulator++;
		return 0;
	}
	if (r == -ENOENT) {
		const struct interp_search *s = c->rq->search;
		return bi_error_set(c->err, -ENOENT,
				    "no emulator for %s: %sqemu-%s[-static] not found in %s%s%s%s; install "
				    "qemu-user-static or point QEMU_BINARY_PATH/--qemu-path at the emulators",
				    target_display_name(t), c->rq->prefix, t->cpu, s->dirs[0], s->ndirs > 1 ? ", " : "",
				    s->ndirs > 1 ? s->dirs[1] : "", s->ndirs > 2 ? ", ..." : "");
	}
	if (r < 0)
		return r; /* unsafe interpreter: err says which and how to fix */
	r = plan_entry_for(t, c->rq->prefix, interp, c->rq->flags, &it->want);
	if (r < 0)
		return bi_error_set(c->err, r, "interpreter path %s is longer than %d bytes, which old kernels "
				    "truncate; move the emulators to a shorter path", interp, ENTRY_INTERP_MAX);
	r = check_registrable(&it->want, c->err);
	if (r < 0)
		return r;
	decide_install(c, t, it);
	return 0;
}

static int install_one(const char *name, void *ctx)
{
	struct build_ctx *c = ctx;
	const struct target *t;
	int r = target_resolve(name, &t);

	if (r < 0)
		return bad_name("--install", name, r, c->err);
	return install_target(c, t);
}

static int plan_install(struct build_ctx *c)
{
	c->all = !strcmp(c->rq->install, "all");
	if (!c->all)
		return for_each_name(c->rq->install, "--install", c->err, install_one, c);
	for (size_t i = 0; i < targets_count(); i++) {
		int r = install_target(c, target_at(i));
		if (r < 0)
			return r;
	}
	return 0;
}

void plan_free(struct plan *p)
{
	free(p->items);
	p->items = NULL;
	p->n = 0;
}

int plan_build(const struct plan_request *rq, const struct binfmt_entry *existing, size_t nexisting,
	       struct plan *out, struct bi_error *err)
{
	struct build_ctx c = { .rq = rq, .existing = existing, .nexisting = nexisting, .plan = out, .err = err };
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (interp_host_machine(&c.host_machine, &c.host_class) < 0)
		c.host_machine = c.host_class = 0;
	if (rq->uninstall)
		r = plan_uninstall(&c);
	if (r == 0 && rq->install) {
		/* Removals happen first: installs decide against what remains. */
		_cleanup_free_ struct binfmt_entry *left = NULL;
		size_t nleft = 0;
		if (rq->uninstall && nexisting) {
			if (!(left = malloc(nexisting * sizeof(*left))))
				return bi_error_set(err, -ENOMEM, "out of memory");
			for (size_t i = 0; i < nexisting; i++)
				if (!already_planned(out, false, plan_target_of_entry(&existing[i]), existing[i].name) ||
				    !being_removed(out, existing[i].name))
					left[nleft++] = existing[i];
			c.existing = left;
			c.nexisting = nleft;
		}
		r = plan_install(&c);
	}
	if (r < 0)
		plan_free(out);
	return r;
}

/* ---- apply ---- */

static int register_checked(struct binfmtfs *fs, const struct binfmt_entry *e, struct bi_error *err)
{
	struct binfmt_entry back;
	int r = bfs_register(fs, e, err);

	if (r < 0)
		return r;
	/* Trust what the kernel shows, not what we wrote. */
	r = bfs_read_entry(fs, e->name, &back);
	if (r < 0 || !entry_same(&back, e) || !back.enabled) {
		bfs_remove(fs, e->name, NULL);
		return bi_error_set(err, -EIO, "%s: registered, but the kernel shows a different entry", e->name);
	}
	return 0;
}

/* A step of a rollback failed: the first such failure is reported, never
 * swallowed, as the registry is then not what it was before the run. */
static bool undo_failed(struct plan *p, const char *what, const char *name, const struct bi_error *err)
{
	if (!p->rollback_error[0])
		snprintf(p->rollback_error, sizeof(p->rollback_error), "could not %s entry %.255s: %.400s", what,
			 name, err->msg);
	return false;
}

/* Put back an entry we removed, as it was (also disabled if it was). */
static bool restore(struct plan *p, struct binfmtfs *fs, const struct binfmt_entry *e)
{
	struct bi_error err = { 0 };

	return bfs_restore(fs, e, &err) == 0 || undo_failed(p, "restore", e->name, &err);
}

/* it->applied stays true when any step fails: the report must not say
 * "rolled back" of an entry that is still there (or still gone). */
static void undo_item(struct plan *p, struct plan_item *it, struct binfmtfs *fs)
{
	struct bi_error err = { 0 };
	bool ok = true;

	if (it->state == PLAN_ENABLE && bfs_set_enabled(fs, it->want.name, false, &err) < 0)
		ok = undo_failed(p, "disable again", it->want.name, &err);
	/* ENOENT: removed meanwhile by someone else, which is what undo wants. */
	if (it->install && (it->state == PLAN_REGISTER || it->state == PLAN_REPLACE) &&
	    bfs_remove(fs, it->want.name, &err) < 0 && err.code != -ENOENT)
		ok = undo_failed(p, "remove", it->want.name, &err);
	for (size_t i = 0; i < it->nold; i++)
		ok = restore(p, fs, &it->old[i]) && ok;
	it->applied = !ok;
}

/*
 * EEXIST registering want: another process (a concurrent run, systemd-binfmt,
 * a package script) registered that name after we read the registry. If it is
 * exactly what we wanted, the install is done; otherwise it is a conflict, as
 * if we had found it when planning. Either way that entry is not ours to undo.
 */
static int settle_exists(struct plan_item *it, struct binfmtfs *fs)
{
	struct binfmt_entry now;
	char diff[300];

	if (bfs_read_entry(fs, it->want.name, &now) < 0)
		return -EEXIST; /* gone again, or unreadable: report what the kernel said */
	if (entry_same(&now, &it->want) && now.enabled) {
		it->state = PLAN_KEEP;
		return 0;
	}
	if (entry_same(&now, &it->want))
		snprintf(diff, sizeof(diff), "the same contents, but disabled");
	else
		entry_describe_difference(&now, &it->want, diff, sizeof(diff));
	snprintf(it->reason, sizeof(it->reason),
		 "entry %.200s was registered meanwhile by another process, with %.290s; left alone (--force replaces it)",
		 now.name, diff);
	it->state = PLAN_CONFLICT;
	return 0;
}

static int apply_item(struct plan *p, struct plan_item *it, struct binfmtfs *fs, struct bi_error *err)
{
	size_t removed = 0;
	int r = 0;

	if (it->state == PLAN_ENABLE) {
		r = bfs_set_enabled(fs, it->want.name, true, err);
		it->applied = r == 0;
		it->result = r;
		return r;
	}
	if (it->state != PLAN_REMOVE && it->state != PLAN_REPLACE && it->state != PLAN_REGISTER)
		return 0;
	while (removed < it->nold) {
		r = bfs_remove(fs, it->old[removed].name, err);
		if (r == -ENOENT) {
			/* Removed meanwhile by someone else: gone is what we wanted, and
			 * not ours to bring back on rollback. */
			memmove(&it->old[removed], &it->old[removed + 1], (it->nold - removed - 1) * sizeof(it->old[0]));
			it->nold--;
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		removed++;
	}
	if (r == 0 && it->install) {
		r = register_checked(fs, &it->want, err);
		if (r == -EEXIST)
			r = settle_exists(it, fs);
	}
	if (r == 0 && it->state == PLAN_CONFLICT) {
		for (size_t i = 0; i < removed; i++)
			restore(p, fs, &it->old[i]);
		it->nold = 0;
		return 0;
	}
	if (r == 0) {
		it->applied = true;
		if (!it->install && it->nold == 0)
			it->state = PLAN_ABSENT; /* its entry vanished before we got to it */
		return 0;
	}
	/* Undo this item's own partial work before the run-wide rollback. */
	for (size_t i = 0; i < removed; i++)
		restore(p, fs, &it->old[i]);
	it->result = r;
	return r;
}

static bool item_changed_registry(const struct plan_item *it)
{
	switch (it->state) {
	case PLAN_KEEP:
	case PLAN_NATIVE:
	case PLAN_HANDLED:
	case PLAN_ABSENT:
		/* Nothing to do, unless settled while applying: then another
		 * process registered or removed the entry meanwhile. */
		return it->applied;
	default:
		return true; /* conflicts too: one found while applying is news */
	}
}

bool plan_touches(const struct plan *p, const struct target *t)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_item *it = &p->items[i];
		if (!item_changed_registry(it))
			continue;
		if (it->target == t || (it->install && entry_serves(&it->want, t)))
			return true;
		for (size_t k = 0; k < it->nold; k++)
			if (entry_serves(&it->old[k], t))
				return true;
	}
	return false;
}

int plan_apply(struct plan *p, struct binfmtfs *fs, struct bi_error *err)
{
	/* Removals first, so --uninstall X --install X re-registers X. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < p->n; i++) {
			struct plan_item *it = &p->items[i];
			int r;
			if (it->install != (pass == 1))
				continue;
			r = apply_item(p, it, fs, err);
			if (r == 0)
				continue;
			snprintf(it->reason, sizeof(it->reason), "%.590s", err ? err->msg : strerror(-r));
			for (size_t j = p->n; j-- > 0;)
				if (p->items[j].applied)
					undo_item(p, &p->items[j], fs);
			return r;
		}
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * emu-run's own process, in the caller's namespaces: find the emulator, start
 * the sandbox, forward signals to it, and once it is gone (and with it its
 * mount namespace) remove the placeholders it created in the rootfs (with a
 * janitor standing by in case emu-run is SIGKILLed, janitor.c).
 * Where no namespace can be made at all (an unprivileged user without user
 * namespaces), the step runs as a plain child on the host's registrations.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "emu.h"
#include "util.h"

static int run_plain(const struct emu_config *c, struct emulation *em, const char *why)
{
	struct bi_error err = { 0 };
	struct emu_user u = { .uid = getuid(), .gid = getgid() };
	struct step s = { .argv = c->argv, .user = &u, .workdir = c->workdir, .die_with_parent = true };
	char reason[1100];
	pid_t pid;

	if (c->rootfs || c->nbinds || c->user || c->network == EMU_NET_NONE) {
		emu_err("--rootfs, --bind, --user and --network none need namespaces, and %s: enable user "
			"namespaces (sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone=1, "
			"kernel.apparmor_restrict_unprivileged_userns=0) or run as root", why);
		return EMU_EXIT_ERROR;
	}
	snprintf(reason, sizeof(reason), "%s", why);
	if (emulation_choose(c, em, reason, &err) < 0) {
		emu_err("%s", err.msg);
		return EMU_EXIT_ERROR;
	}
	emulation_report(c, em);
	cpu_report(c, em);
	s.envp = env_build(c, &u, cpu_env_value(em));
	if (!s.envp) {
		emu_err("out of memory");
		return EMU_EXIT_ERROR;
	}
	pid = fork();
	if (pid == 0)
		step_exec(&s);
	env_free(s.envp);
	if (pid < 0) {
		emu_err("fork: %s", strerror(errno));
		return EMU_EXIT_ERROR;
	}
	return init_wait_forward(pid, false);
}

/* In the sandbox: never returns. */
__attribute__((noreturn)) static void sandbox(const struct emu_config *c, struct emulation *em, int rep[2],
					      int rootfd, struct step_ids *ids, const struct ns_child *ch,
					      const struct accel *acc)
{
	struct sandbox_args a = { .c = c, .em = em, .ids = ids, .accel = acc, .report_fd = rep[1],
				  .rootfd = rootfd, .userns = ch->userns };

	close(rep[0]);
	fflush(stdout);
	_exit(sandbox_main(&a));
}

/*
 * Placeholders are removed here once the sandbox is gone; a janitor does it
 * should we be SIGKILLed first. It is forked only when the sandbox reports
 * placeholders, so runs without them pay nothing. That leaves a window: from
 * the sandbox creating its first placeholder (during set-up) until the
 * janitor exists (right after the report, tens of milliseconds later), a
 * SIGKILL of emu-run still leaves them behind - the sandbox dies with us
 * before it could report, and nobody else knows what it created.
 */
static int wait_and_clean(pid_t pid, int rootfd, const struct placeholders *ph)
{
	struct janitor j = { .pid = -1, .lifeline = -1 };
	int rc;

	if (rootfd >= 0 && ph->n > 0)
		janitor_start(&j, rootfd, pid, ph); /* best effort: without it, as before */
	rc = init_wait_forward(pid, false);
	if (rootfd >= 0)
		placeholders_remove(rootfd, ph);
	janitor_dismiss(&j);
	return rc;
}

/* --verbose: a root caller's step's ids. */
static void report_root_ids(const struct emu_config *c, const struct step_ids *ids)
{
	if (!c->rootfs)
		return;
	if (!ids->on) {
		emu_note(c, "ids: the step's root is the host's root, in a user namespace of its own: %s", ids->why);
		return;
	}
	emu_note(c, "ids: the step's root is host uid %lu and gid %lu (%lu uids and %lu gids, %s), the root "
		 "idmapped: on disk its files are owned as without emu-run", ids->uid0, ids->gid0, ids->uids, ids->gids,
		 ids->from_subid ? "root's ranges in /etc/subuid and /etc/subgid" : "emu-run's default block; give "
		 "root ranges in /etc/subuid and /etc/subgid to choose others");
	if (ids->why[0])
		emu_note(c, "ids: %s", ids->why);
}

/* --verbose: the ids the sandbox holds. */
static void report_ids(const struct emu_config *c, const struct ns_child *ch, const struct step_ids *ids)
{
	if (ch->userns && geteuid() == 0)
		report_root_ids(c, ids);
	if (!ch->userns || geteuid() == 0)
		return;
	if (ch->single_ids)
		emu_note(c, "ids: only your uid %u and gid %u, as root: %s", (unsigned)geteuid(), (unsigned)getegid(),
			 ch->idmap.why);
	else
		emu_note(c, "ids: your uid %u and gid %u as root, %lu subordinate uids and %lu gids as 1 and up "
			 "(newuidmap, newgidmap)", (unsigned)geteuid(), (unsigned)getegid(), ch->idmap.uids,
			 ch->idmap.gids);
}

int emu_run(const struct emu_config *c)
{
	struct bi_error err = { 0 };
	struct placeholders ph = { 0 };
	struct emulation em;
	struct ns_child ch;
	struct step_ids ids;
	static struct accel acc; /* 130 KiB of paths: not on the stack */
	_cleanup_close_ int rootfd = -1;
	int rep[2], rc;
	pid_t pid;

	if (emulation_prepare(c, &em, &err) < 0) {
		emu_err("%s", err.msg);
		return EMU_EXIT_ERROR;
	}
	/* Before any namespace exists: a usage error, not a failure of the step. */
	if (cpu_choose(c, &em, &err) < 0) {
		emu_err("%s", err.msg);
		return EMU_EXIT_ERROR;
	}
	if (c->rootfs && (rootfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		emu_err("--rootfs %s: %s", c->rootfs, strerror(errno));
		return EMU_EXIT_ERROR;
	}
	if (idmap_prepare(c, rootfd, &ids) < 0) {
		emu_err("out of memory");
		return EMU_EXIT_ERROR;
	}
	accel_prepare(c, rootfd, &acc);
	if (pipe2(rep, O_CLOEXEC) < 0) {
		emu_err("pipe: %s", strerror(errno));
		idmap_release(&ids);
		return EMU_EXIT_ERROR;
	}
	init_block_signals();
	pid = ns_spawn(c, &ch, &err);
	if (pid == 0)
		sandbox(c, &em, rep, rootfd, &ids, &ch, &acc);
	close(rep[1]);
	/* The sandbox has its own copies. */
	idmap_release(&ids);
	if (pid < 0) {
		close(rep[0]);
		if (ch.no_namespaces)
			return run_plain(c, &em, err.msg);
		emu_err("%s", err.msg);
		return EMU_EXIT_ERROR;
	}
	report_ids(c, &ch, &ids);
	/* EOF once the sandbox is set up (or gave up). */
	placeholders_recv(rep[0], &ph);
	close(rep[0]);
	rc = wait_and_clean(pid, rootfd, &ph);
	placeholders_free(&ph);
	/* A distribution root's apt and dpkg fail without other ids: a failed
	 * step there says what it ran with, and the fix. */
	if (ch.single_ids && c->rootfs && rc != 0 && rc != EMU_EXIT_ERROR)
		emu_err("note: the step failed (exit %d) with only your own uid and gid mapped (as root), where "
			"setgroups, setuid to other users and chown to them fail: %s", rc, ch.idmap.why);
	return rc;
}

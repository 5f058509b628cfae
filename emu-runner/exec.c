/* SPDX-License-Identifier: MIT */
/*
 * Becoming the step: working directory, capabilities cut to Docker's set,
 * credentials, no new privileges, seccomp filters (confine.c), a clean
 * signal mask, no inherited descriptors beyond 0-2, then exec with the
 * step's own PATH. Failures exit 125 (set-up), 126 (found, cannot execute) or
 * 127 (not found), as docker, chroot and env do.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "emu.h"

__attribute__((noreturn)) static void die(int code, const char *what, const char *detail)
{
	dprintf(STDERR_FILENO, "emu-run: %s: %s\n", what, detail);
	_exit(code);
}

static void drop_privileges(const struct step *s)
{
	const struct emu_user *u = s->user;

	if (s->set_groups && setgroups(u->ngroups, u->groups) < 0)
		die(EMU_EXIT_ERROR, "setgroups", strerror(errno));
	if (setresgid(u->gid, u->gid, u->gid) < 0)
		die(EMU_EXIT_ERROR, "setgid", strerror(errno));
	if (setresuid(u->uid, u->uid, u->uid) < 0)
		die(EMU_EXIT_ERROR, "setuid", strerror(errno));
	/* setuid/setgid files and file capabilities in the root give nothing
	 * (and it lets an unprivileged process install seccomp filters). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die(EMU_EXIT_ERROR, "no_new_privs", strerror(errno));
}

/* Before the credential change: cutting the bounding set needs CAP_SETPCAP,
 * which a non-root --user loses with setresuid. */
static void confine_step(const struct step *s)
{
	int e;

	if (s->confine && (e = confine_caps(s->host_root, s->no_userns)) < 0)
		die(EMU_EXIT_ERROR, "cannot drop capabilities", strerror(-e));
}

/* Nothing of emu-run's leaks into the step: not the private binfmt_misc
 * instance, not the root's directory, not the caller's stray descriptors. */
static void close_extra_fds(void)
{
	if (close_range(3, ~0U, 0) == 0)
		return;
	for (int fd = 3; fd < 65536; fd++)
		close(fd);
}

static const char *env_get(char **envp, const char *key)
{
	size_t kl = strlen(key);

	for (char **e = envp; e && *e; e++)
		if (!strncmp(*e, key, kl) && (*e)[kl] == '=')
			return *e + kl + 1;
	return NULL;
}

__attribute__((noreturn)) static void exec_failed(const char *file, const char *path, int e)
{
	char msg[300];

	if (e == ENOENT && path && access(path, F_OK) == 0) {
		/* The file exists: its ELF interpreter (ld.so) or #! program is
		 * what is missing in the root. */
		snprintf(msg, sizeof(msg), "%s (its program interpreter or #! interpreter is missing)", strerror(e));
		die(EMU_EXIT_CANNOT_EXEC, file, msg);
	}
	if (e == ENOENT || e == ENOTDIR)
		die(EMU_EXIT_NOT_FOUND, file, path ? "No such file or directory" : "command not found in PATH");
	die(EMU_EXIT_CANNOT_EXEC, file, strerror(e));
}

/* execvpe with the step's PATH, not emu-run's; no /bin/sh fallback for ENOEXEC. */
__attribute__((noreturn)) static void exec_search(char **argv, char **envp)
{
	const char *file = argv[0], *path = env_get(envp, "PATH");
	char buf[PATH_MAX], *found = NULL;
	int saved = ENOENT;

	if (!*file)
		die(EMU_EXIT_NOT_FOUND, "''", "command not found");
	if (strchr(file, '/')) {
		execve(file, argv, envp);
		exec_failed(file, file, errno);
	}
	for (const char *p = path ? path : EMU_DEFAULT_PATH;; p++) {
		size_t l = strcspn(p, ":");
		if (snprintf(buf, sizeof(buf), "%.*s%s%s", (int)l, p, l ? "/" : "", file) < (int)sizeof(buf)) {
			execve(buf, argv, envp);
			if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE) {
				saved = errno;
				found = buf;
				if (errno != EACCES)
					break; /* the file is there but will not run: say why */
			}
		}
		p += l;
		if (!*p)
			break;
	}
	exec_failed(file, found, saved);
}

void step_exec(const struct step *s)
{
	sigset_t none;
	int e;

	/* Before dropping privileges: a workdir the user cannot search still
	 * becomes the cwd, as with docker run -w. */
	if (s->workdir && chdir(s->workdir) < 0)
		die(EMU_EXIT_ERROR, s->workdir, "cannot change to the working directory");
	confine_step(s);
	drop_privileges(s);
	/* After no_new_privs, which it needs; the filter stays across exec. */
	if ((e = confine_seccomp(s->seccomp)) < 0)
		die(EMU_EXIT_ERROR, "cannot install the seccomp filter", strerror(-e));
	/* After the credential change, which would clear it. */
	if (s->die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		die(EMU_EXIT_ERROR, "pdeathsig", strerror(errno));
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	close_extra_fds();
	exec_search(s->argv, s->envp);
}

/* SPDX-License-Identifier: MIT */
/*
 * Signals and exit status. Both emu-run (towards the sandbox) and the sandbox's
 * pid 1 (towards the step) run the same loop: the forwarded signals and SIGCHLD
 * stay blocked and are taken with sigwaitinfo, so nothing races a handler, and
 * pid 1 reaps every orphan that the step's daemons leave behind.
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include "emu.h"

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static void wait_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(set, forwarded[i]);
	sigaddset(set, SIGCHLD);
}

/* Before the first child exists, so that a signal arriving in between is
 * kept pending instead of killing emu-run (or, to a pid 1 without a
 * handler, being dropped). */
void init_block_signals(void)
{
	sigset_t set;

	wait_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EMU_EXIT_ERROR;
}

/* Reap what has exited; the child's exit code once it is among them. */
static int reap(pid_t child, bool reap_all, bool *done)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(reap_all ? -1 : child, &status, WNOHANG)) > 0)
		if (pid == child) {
			*done = true;
			return exit_code(status);
		}
	if (pid < 0 && errno == ECHILD) {
		*done = true;
		return EMU_EXIT_ERROR;
	}
	return 0;
}

int init_wait_forward(pid_t child, bool reap_all)
{
	sigset_t set;
	bool done = false;

	wait_set(&set);
	for (;;) {
		siginfo_t si;
		int rc = reap(child, reap_all, &done), sig;

		if (done)
			return rc;
		sig = sigwaitinfo(&set, &si);
		if (sig < 0 || sig == SIGCHLD)
			continue;
		/* ^C, ^\ and hangups come from the terminal to the whole
		 * foreground process group, the step included: it has its own. */
		if (si.si_code == SI_KERNEL)
			continue;
		kill(child, sig);
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * The placeholder janitor. emu-run removes the placeholders the sandbox made
 * in the rootfs once the sandbox (and with it its mount namespace) is gone;
 * SIGKILLed, it cannot, and they would stay in the user's rootfs for good (the
 * next run finds /proc there and takes it for the rootfs's own). So when there
 * are placeholders, emu-run forks this small process: it holds the rootfs and
 * a pidfd of the sandbox, ignores the signals a terminal or a supervisor sends
 * to the whole process group, and waits on a lifeline socket. emu-run ending
 * normally removes the placeholders itself and says "done": the janitor exits
 * at once. End of file without "done" means emu-run died; the sandbox dies
 * with it (PR_SET_PDEATHSIG), and once its pidfd says it is gone, the janitor
 * removes the placeholders and exits.
 *
 * The janitor is forked after the sandbox, so neither the sandbox nor the step
 * inherits the lifeline or anything else of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"
#include "util.h"

#define DONE 'd'
/* The sandbox's mount namespace is torn down as its last process leaves it;
 * a placeholder still busy then gets a few more tries. */
#define BUSY_RETRIES 40
#define BUSY_WAIT_MS 50

/* What a terminal (^C, ^\, hangup) or `kill -TERM -PGID` sends to every
 * process of the group: the janitor must outlive emu-run through all of them. */
static const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE };

static void ignore_signals(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
		signal((int)ignored[i], SIG_IGN);
}

static void close_between(unsigned from, unsigned to)
{
	if (from > to || close_range(from, to, 0) == 0)
		return;
	for (unsigned fd = from; fd <= to && fd < 65536; fd++)
		close((int)fd);
}

/* Close every descriptor but keep[] (ascending): the janitor may outlive
 * emu-run by a while, and must not hold the caller's pipes open (a $(...)
 * reading emu-run's output would wait for it), nor the terminal. */
static void close_all_but(const int *keep, size_t n)
{
	unsigned from = 0;

	for (size_t i = 0; i < n; i++) {
		if ((unsigned)keep[i] > from)
			close_between(from, (unsigned)keep[i] - 1);
		from = (unsigned)keep[i] + 1;
	}
	close_between(from, ~0U);
}

static void sort3(int *v)
{
	for (int i = 1; i < 3; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			int t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

__attribute__((noreturn)) static void janitor_main(int lifeline, int rootfd, int pidfd, const struct placeholders *ph)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int keep[3] = { lifeline, rootfd, pidfd };
	char b = 0;
	ssize_t k;

	ignore_signals();
	prctl(PR_SET_NAME, "emu-run-janitor", 0, 0, 0);
	sort3(keep);
	close_all_but(keep, 3);
	while ((k = recv(lifeline, &b, 1, 0)) < 0 && errno == EINTR)
		;
	if (k == 1 && b == DONE)
		_exit(0);
	/* emu-run is gone. Removing a directory that is still a mount point in
	 * the sandbox's namespace would detach that mount under a live step:
	 * wait until the sandbox has exited (its pid 1 exits last). */
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	for (int i = 0; i < BUSY_RETRIES && placeholders_remove(rootfd, ph) == -EBUSY; i++)
		sleep_ms(BUSY_WAIT_MS);
	_exit(0);
}

int janitor_start(struct janitor *j, int rootfd, pid_t sandbox, const struct placeholders *ph)
{
	_cleanup_close_ int pidfd = -1;
	int sv[2];

	j->pid = -1;
	j->lifeline = -1;
	/* Race-free: the sandbox is our child and not reaped yet, so the pid
	 * cannot have been reused. */
	pidfd = (int)syscall(SYS_pidfd_open, sandbox, 0);
	if (pidfd < 0)
		return -errno;
	/* A socket, not a pipe: "done" is sent with MSG_NOSIGNAL, so a janitor
	 * that died early cannot kill emu-run with SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	j->pid = fork();
	if (j->pid == 0) {
		close(sv[0]);
		janitor_main(sv[1], rootfd, pidfd, ph);
	}
	close(sv[1]);
	if (j->pid < 0) {
		int e = -errno;
		close(sv[0]);
		return e;
	}
	j->lifeline = sv[0];
	return 0;
}

void janitor_dismiss(struct janitor *j)
{
	char b = DONE;

	if (j->pid <= 0)
		return;
	if (send(j->lifeline, &b, 1, MSG_NOSIGNAL) != 1) {
		/* It cannot tell "done" from our death now: let it go rather
		 * than have it remove what is not there any more. */
		kill(j->pid, SIGKILL);
	}
	close(j->lifeline);
	while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
		;
	j->pid = -1;
	j->lifeline = -1;
}

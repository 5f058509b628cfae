/* SPDX-License-Identifier: MIT */
/*
 * autofsd: a minimal autofs v5 "direct" automount daemon, for tests only.
 *
 *   autofsd [--dead] DIR
 *
 * Mounts autofs on DIR the way systemd's proc-sys-fs-binfmt_misc.automount does,
 * prints "ready" on stdout once the mount is in place, then serves the mount:
 * the first access to DIR from outside our process group makes the kernel send
 * us a "missing direct" packet, we mount binfmt_misc on DIR and tell the kernel
 * the waiter may go on. With --dead we read the packets and never answer, like a
 * hung automounter: the accessing process then sleeps in the kernel until it is
 * killed or the autofs mount goes away.
 *
 * SIGTERM/SIGINT: release any waiter (catatonic mode), unmount what we mounted
 * (binfmt_misc first, then the autofs mount, detached) and exit 0.
 *
 * Protocol notes (Documentation/filesystems/autofs.rst):
 *  - The mount options name the write end of a pipe (fd=) on which the kernel
 *    sends us packets, and a process group (pgrp=): processes of that group are
 *    the daemon ("oz mode") and never trigger mounts nor wait for them. That is
 *    how we can open and mount over DIR ourselves without deadlocking, and why
 *    we call setsid() first: the test shell and binfmt must NOT be in our group.
 *  - The kernel marks the pipe as a packet pipe (O_DIRECT), so one read() returns
 *    exactly one packet.
 *  - A waiter is released by AUTOFS_IOC_READY (or AUTOFS_IOC_FAIL) with the
 *    packet's wait_queue_token, issued on any fd of the autofs mount's root.
 *    We open DIR before anything is mounted over it, so that fd stays on the
 *    autofs root even after binfmt_misc covers it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/auto_fs.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#define AUTOFS_SUPER_MAGIC 0x0187
#define BINFMTFS_MAGIC 0x42494e4d

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: autofsd [--dead] DIR\n");
	return 2;
}

/* The magic of the topmost filesystem at dir. We are the daemon, so this
 * does not trigger the automount. */
static long fs_type(const char *dir)
{
	struct statfs sfs;

	return statfs(dir, &sfs) < 0 ? -1 : (long)sfs.f_type;
}

int main(int argc, char **argv)
{
	bool dead = false, mounted_bm = false;
	const char *dir;
	char opts[128];
	int pfd[2], rootfd;
	struct sigaction sa;
	sigset_t stopsigs, waitmask;

	if (argc == 3 && !strcmp(argv[1], "--dead"))
		dead = true;
	else if (argc != 2 || argv[1][0] == '-')
		return usage();
	dir = argv[argc - 1];

	/* Our own process group, named in pgrp= below: only our group is exempt
	 * from triggering. setsid() fails when we already lead a group (started by
	 * an interactive shell): then we already have a group of our own. */
	if (setsid() < 0 && getpgrp() != getpid()) {
		perror("autofsd: setsid");
		return 1;
	}

	/* SIGTERM/SIGINT stay blocked except inside ppoll() below, so one that
	 * arrives between the loop's check and the wait cannot be lost. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	sigprocmask(SIG_BLOCK, &stopsigs, &waitmask);

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		perror("autofsd: pipe");
		return 1;
	}
	/* minproto=maxproto=5: we only speak v5 packets. "direct": DIR itself is
	 * the trigger (as with systemd automount units), not names below it. */
	snprintf(opts, sizeof(opts), "fd=%d,pgrp=%d,minproto=5,maxproto=5,direct", pfd[1], (int)getpgrp());
	if (mount("autofsd", dir, "autofs", 0, opts) < 0) {
		fprintf(stderr, "autofsd: mount autofs on %s: %s\n", dir, strerror(errno));
		return 1;
	}
	/* The kernel holds its own reference to the write end. */
	close(pfd[1]);

	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || fs_type(dir) != AUTOFS_SUPER_MAGIC) {
		fprintf(stderr, "autofsd: cannot open the autofs root %s: %s\n", dir, strerror(errno));
		umount2(dir, MNT_DETACH);
		return 1;
	}

	printf("ready\n");
	fflush(stdout);

	while (!stop) {
		union autofs_v5_packet_union pkt;
		struct pollfd pp = { .fd = pfd[0], .events = POLLIN };
		autofs_wqt_t token;
		ssize_t n;

		if (ppoll(&pp, 1, NULL, &waitmask) < 0) {
			if (errno == EINTR)
				continue;
			perror("autofsd: ppoll");
			break;
		}
		n = read(pfd[0], &pkt, sizeof(pkt));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				perror("autofsd: read");
			break; /* the kernel side went away */
		}
		if ((size_t)n < sizeof(pkt.hdr) || pkt.hdr.proto_version != 5 ||
		    (size_t)n < offsetof(struct autofs_v5_packet, name)) {
			fprintf(stderr, "autofsd: ignoring a short or non-v5 packet (%zd bytes)\n", n);
			continue;
		}
		token = pkt.v5_packet.wait_queue_token;
		fprintf(stderr, "autofsd: packet type %d token %u from pid %u%s\n", pkt.hdr.type,
			(unsigned)token, pkt.v5_packet.pid, dead ? " (not answering)" : "");
		if (dead)
			continue;
		if (pkt.hdr.type != autofs_ptype_missing_direct) {
			/* No expiry is configured (timeout 0), so nothing else is
			 * expected; refuse rather than leave a waiter hanging. */
			ioctl(rootfd, AUTOFS_IOC_FAIL, (unsigned long)token);
			continue;
		}
		if (fs_type(dir) != BINFMTFS_MAGIC &&
		    mount("binfmt_misc", dir, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
			fprintf(stderr, "autofsd: mount binfmt_misc on %s: %s\n", dir, strerror(errno));
			/* FAIL makes the waiter's lookup return ENOENT. */
			ioctl(rootfd, AUTOFS_IOC_FAIL, (unsigned long)token);
			continue;
		}
		mounted_bm = true;
		if (ioctl(rootfd, AUTOFS_IOC_READY, (unsigned long)token) < 0)
			fprintf(stderr, "autofsd: AUTOFS_IOC_READY: %s\n", strerror(errno));
	}

	/* Catatonic first: every process still waiting for us (a --dead run, or
	 * one whose caller gave up) gets ENOENT instead of sleeping on. Detaching
	 * alone would not do: a sleeping lookup pins the mount, so the superblock
	 * (and with it the wait queue) would never go away. */
	if (ioctl(rootfd, AUTOFS_IOC_CATATONIC, 0) < 0)
		fprintf(stderr, "autofsd: AUTOFS_IOC_CATATONIC: %s\n", strerror(errno));
	close(rootfd);
	/* Top-down: binfmt_misc covers the autofs mount. */
	if (mounted_bm && umount2(dir, 0) < 0 && umount2(dir, MNT_DETACH) < 0)
		fprintf(stderr, "autofsd: umount binfmt_misc on %s: %s\n", dir, strerror(errno));
	if (fs_type(dir) == AUTOFS_SUPER_MAGIC && umount2(dir, MNT_DETACH) < 0)
		fprintf(stderr, "autofsd: umount autofs on %s: %s\n", dir, strerror(errno));
	close(pfd[0]);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Does this host run a target's code itself? Its own platform does. The rest
 * of its QEMU family (i386 on x86-64, arm on arm64) only usually: an x86-64
 * kernel booted with ia32_emulation=0, or an arm64 CPU without AArch32, says
 * "exec format error". So the target's probe program (binfmt/lib/probe.c, a
 * static ELF that only exits) is executed here, natively.
 *
 * That answer is only true where no binfmt_misc handler can take the probe:
 * handlers come before the kernel's own ELF loader, so with an i386 entry
 * registered, a plain exec "succeeds" through QEMU. emulation.c therefore
 * runs it in our fresh private instance before registering anything in it, or,
 * without one, only when the visible registry has no entry that takes it
 * (native_probe_taken_by).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu.h"
#include "probe.h"
#include "util.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3: executable memfd, whatever vm.memfd_noexec says by default */
#endif

#define PROBE_TIMEOUT_MS 3000

const struct probe *native_probe_for(const struct target *t)
{
	/* The kernel's ia32 loader takes EM_386 and EM_486 alike, so i386's
	 * probe answers for i486, which has none of its own. */
	const char *cpu = strcmp(t->cpu, "i486") ? t->cpu : "i386";

	for (size_t i = 0; i < probes_count(); i++)
		if (!strcmp(probe_at(i)->cpu, cpu))
			return probe_at(i);
	return NULL;
}

/* The kernel's match (fs/binfmt_misc.c check_file): magic at offset, masked. */
static bool takes(const struct binfmt_entry *e, const uint8_t *img, size_t len)
{
	return e->enabled && entry_matches(e, img, len);
}

const struct binfmt_entry *native_probe_taken_by(const struct probe *p, const struct binfmt_entry *entries,
						 size_t n)
{
	uint8_t img[PROBE_MAX_SIZE];
	int len = probe_image(p, img, sizeof(img));

	for (size_t i = 0; len > 0 && i < n; i++)
		if (takes(&entries[i], img, (size_t)len))
			return &entries[i];
	return NULL;
}

/* Read-only, so that exec cannot meet ETXTBSY (our write descriptor) on
 * kernels that still refuse to execute files open for writing. */
static int reopen_ro(int fd)
{
	char path[64];
	int ro;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0)
		return fd;
	close(fd);
	return ro;
}

static int write_all(int fd, const uint8_t *img, size_t len)
{
	return write(fd, img, len) == (ssize_t)len ? 0 : -EIO;
}

/* A file on a tmpfs of our own that is never attached anywhere, for where
 * memfds may not be executed (vm.memfd_noexec = 2). Needs a mount namespace
 * of our own or CAP_SYS_ADMIN: the sandbox has both. */
static int probe_on_tmpfs(const uint8_t *img, size_t len)
{
	_cleanup_close_ int fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
	_cleanup_close_ int mnt = -1, wr = -1;
	int ro;

	if (fsfd < 0 || fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	mnt = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (mnt < 0)
		return -errno;
	wr = openat(mnt, "probe", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0555);
	if (wr < 0)
		return -errno;
	if (write_all(wr, img, len) < 0)
		return -EIO;
	/* The open file keeps the detached mount alive. */
	ro = openat(mnt, "probe", O_RDONLY | O_CLOEXEC);
	return ro < 0 ? -errno : ro;
}

/* An executable, read-only descriptor of the probe's image. */
static int probe_file(const struct probe *p)
{
	uint8_t img[PROBE_MAX_SIZE];
	int len = probe_image(p, img, sizeof(img)), fd;

	if (len < 0)
		return len;
	fd = memfd_create("emu-run-probe", MFD_CLOEXEC | MFD_EXEC);
	if (fd < 0 && errno == EINVAL) /* before Linux 6.3: every memfd is executable */
		fd = memfd_create("emu-run-probe", MFD_CLOEXEC);
	if (fd < 0)
		return probe_on_tmpfs(img, (size_t)len);
	if (write_all(fd, img, (size_t)len) < 0) {
		close(fd);
		return -EIO;
	}
	return reopen_ro(fd);
}

/* Wait for the probe, killing it after the deadline. Returns 0 with its
 * status, or -ETIME. */
static int reap_probe(pid_t pid, int *status)
{
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int r = 1;

	if (pidfd >= 0)
		while ((r = poll(&p, 1, PROBE_TIMEOUT_MS)) < 0 && errno == EINTR)
			;
	if (r == 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return r == 0 ? -ETIME : 0;
}

static bool expected_exit(const struct probe *p, int code)
{
	/* The amd64 probe exits 64 + the x86-64 level it finds. */
	return p->expect_exit < 0 ? code >= 65 && code <= 68 : code == p->expect_exit;
}

static int classify(const struct probe *p, int exec_errno, int r, int status, char *why, size_t n)
{
	if (exec_errno) {
		snprintf(why, n, "%s", exec_errno == ENOEXEC ? "exec format error" : strerror(exec_errno));
		return -exec_errno;
	}
	if (r < 0) {
		snprintf(why, n, "%s", r == -ETIME ? "timed out" : strerror(-r));
		return r;
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, n, "killed by signal %d", WTERMSIG(status));
		return -EIO;
	}
	if (!expected_exit(p, WEXITSTATUS(status))) {
		snprintf(why, n, "exited %d", WEXITSTATUS(status));
		return -EIO;
	}
	snprintf(why, n, "probe ran");
	return 0;
}

int native_probe_run(const struct probe *p, char *why, size_t n)
{
	_cleanup_close_ int exe = probe_file(p);
	int pfd[2], e = 0, status = 0, r;
	pid_t pid;

	if (exe < 0) {
		snprintf(why, n, "cannot write the probe: %s", strerror(-exe));
		return exe;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(why, n, "pipe: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid == 0) {
		char *argv[] = { (char *)EMU_PROBE_ARGV0, NULL }, *envp[] = { NULL };

		close(pfd[0]);
		execveat(exe, "", argv, envp, AT_EMPTY_PATH);
		e = errno;
		/* The close-on-exec pipe: EOF means the exec happened. */
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pfd[1]);
	if (pid < 0) {
		r = -errno;
		close(pfd[0]);
		snprintf(why, n, "fork: %s", strerror(-r));
		return r;
	}
	while ((r = (int)read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (r != (int)sizeof(e))
		e = 0;
	close(pfd[0]);
	r = reap_probe(pid, &status);
	return classify(p, e, r, status, why, n);
}

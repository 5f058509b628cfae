/* SPDX-License-Identifier: MIT */
/*
 * Creating the sandbox process: clone3 into new user, mount and pid namespaces
 * (plus uts and ipc with --rootfs, net with --network none), and the id maps
 * emu-run writes for it from outside.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu.h"
#include "util.h"

pid_t clone3_fork(uint64_t flags)
{
	struct clone_args args = { .flags = flags, .exit_signal = SIGCHLD };
	long pid;

	/* No stack: fork semantics, the child continues right here. */
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid >= 0 || errno != ENOSYS)
		return (pid_t)pid;
	/* Kernels before 5.3, and valgrind: clone(2), whose first two
	 * arguments swap places on s390. */
#if defined(__s390__)
	return (pid_t)syscall(SYS_clone, 0, flags | SIGCHLD, NULL, NULL, 0);
#else
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
#endif
}

int ns_write_proc(pid_t pid, const char *name, const char *text)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	size_t len = strlen(text);

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Each map is parsed from one write. */
	if (write(fd, text, len) != (ssize_t)len)
		return -errno;
	return 0;
}

/* Our own map, "inside outside count" per line, as "inside inside count":
 * every id that exists here exists as itself in the new namespace. */
static int identity_map(const char *file, char *out, size_t n)
{
	_cleanup_fclose_ FILE *f = fopen(file, "re");
	unsigned long in, outside, count;
	size_t used = 0;

	if (!f)
		return -errno;
	out[0] = '\0';
	while (fscanf(f, "%lu %lu %lu", &in, &outside, &count) == 3) {
		int k = snprintf(out + used, n - used, "%lu %lu %lu\n", in, in, count);
		if (k < 0 || (size_t)k >= n - used)
			return -E2BIG;
		used += (size_t)k;
	}
	return used ? 0 : -EINVAL;
}

/* Single ids: an ordinary user may map only its own ids, to 0, and must deny
 * setgroups before the gid map (or a process could drop a group that denies
 * it access to something). */
static int write_single_maps(pid_t pid, bool uid_done, bool gid_done)
{
	char map[64];
	int r = 0;

	if (!uid_done) {
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)geteuid());
		r = ns_write_proc(pid, "uid_map", map);
	}
	if (r == 0 && !gid_done) {
		r = ns_write_proc(pid, "setgroups", "deny");
		if (r == -ENOENT)
			r = 0;
		if (r == 0) {
			snprintf(map, sizeof(map), "0 %u 1", (unsigned)getegid());
			r = ns_write_proc(pid, "gid_map", map);
		}
	}
	return r;
}

/*
 * Root keeps every id it has as itself, so --user, setgroups and file owners
 * work as without emu-run. Anyone else gets its subordinate ranges as 1..N
 * where it has them (subid.c), its own ids only otherwise.
 */
static int write_id_maps(pid_t pid, bool root, struct ns_child *out, struct bi_error *err)
{
	char map[8192];
	int r;

	if (root) {
		r = identity_map("/proc/self/uid_map", map, sizeof(map));
		if (r == 0)
			r = ns_write_proc(pid, "uid_map", map);
		if (r == 0)
			r = identity_map("/proc/self/gid_map", map, sizeof(map));
		if (r == 0)
			r = ns_write_proc(pid, "gid_map", map);
	} else if (subid_write_maps(pid, &out->idmap) == 0) {
		r = 0;
	} else {
		out->single_ids = true;
		r = write_single_maps(pid, out->idmap.uid_map_written, out->idmap.gid_map_written);
	}
	if (r < 0)
		return bi_error_set(err, r, "cannot write the user namespace's id maps: %s", strerror(-r));
	return 0;
}

bool ns_id_mapped(const char *map_file, unsigned id)
{
	_cleanup_fclose_ FILE *f = fopen(map_file, "re");
	unsigned long in, outside, count;

	while (f && fscanf(f, "%lu %lu %lu", &in, &outside, &count) == 3)
		if (id >= in && id - in < count)
			return true;
	return false;
}

bool ns_setgroups_allowed(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/setgroups", "re");
	char buf[16] = "";

	/* No file: a kernel before 3.19, where setgroups was always allowed. */
	return !f || (fgets(buf, sizeof(buf), f) && !strncmp(buf, "allow", 5));
}

static uint64_t ns_flags(const struct emu_config *c)
{
	uint64_t f = CLONE_NEWNS | CLONE_NEWPID;

	if (c->rootfs)
		f |= CLONE_NEWUTS | CLONE_NEWIPC;
	if (c->network == EMU_NET_NONE)
		f |= CLONE_NEWNET;
	return f;
}

/* "g", then why only the caller's own ids are mapped, if they are. */
static char go_msg[1 + sizeof(((struct idmap_result *)0)->why)];

const char *ns_single_ids_why(void)
{
	return go_msg[0] == 'g' && go_msg[1] ? go_msg + 1 : NULL;
}

/* In the child: die with emu-run, and wait until it has written our maps. */
static pid_t child_wait_go(int pfd[2])
{
	ssize_t n;

	close(pfd[1]);
	/* getppid() is 0 across a pid namespace, so the pipe tells whether
	 * emu-run is still there: EOF means it died before saying go. The go
	 * message is one write below PIPE_BUF, so one read gets all of it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || (n = read(pfd[0], go_msg, sizeof(go_msg) - 1)) < 1 ||
	    go_msg[0] != 'g')
		_exit(EMU_EXIT_ERROR);
	go_msg[n] = '\0';
	close(pfd[0]);
	return 0;
}

/*
 * Where no user namespace can be made, root could still have the others, but
 * then a step is the host's root: with --rootfs that needs the explicit
 * --unsafe-no-userns (the step is then confined by capabilities and seccomp,
 * sandbox.c). Without --rootfs the step is root's own host command anyway.
 */
static int no_userns(const struct emu_config *c, int e, struct bi_error *err)
{
	if (c->rootfs && !c->unsafe_no_userns)
		return bi_error_set(err, -EPERM,
				    "cannot create a user namespace (%s), and without one a --rootfs step would be the "
				    "host's root: enable user namespaces (sysctl user.max_user_namespaces > 0, "
				    "kernel.unprivileged_userns_clone=1, kernel.apparmor_restrict_unprivileged_userns=0) "
				    "or pass --unsafe-no-userns", strerror(e));
	return 0;
}

pid_t ns_spawn(const struct emu_config *c, struct ns_child *out, struct bi_error *err)
{
	uint64_t flags = ns_flags(c);
	int pfd[2], r;
	pid_t pid;

	memset(out, 0, sizeof(*out));
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return bi_error_set(err, -errno, "pipe: %s", strerror(errno));
	/* Set before the clone: the child keeps its copy of *out. */
	out->userns = true;
	pid = clone3_fork(flags | CLONE_NEWUSER);
	if (pid < 0 && geteuid() == 0) {
		/* User namespaces disabled: root can still have the others
		 * (but then no private binfmt_misc instance). */
		r = errno;
		if (no_userns(c, r, err) < 0) {
			close(pfd[0]);
			close(pfd[1]);
			return -EPERM;
		}
		out->userns = false;
		pid = clone3_fork(flags);
	}
	if (pid < 0) {
		r = -errno;
		close(pfd[0]);
		close(pfd[1]);
		out->no_namespaces = true;
		return bi_error_set(err, r, "cannot create a user namespace: %s", strerror(-r));
	}
	if (pid == 0)
		return child_wait_go(pfd);
	close(pfd[0]);
	out->pid = pid;
	r = out->userns ? write_id_maps(pid, geteuid() == 0, out, err) : 0;
	if (r == 0) {
		char go[sizeof(go_msg)];
		int len = snprintf(go, sizeof(go), "g%s", out->single_ids ? out->idmap.why : "");
		if (write(pfd[1], go, (size_t)len) != len)
			r = bi_error_set(err, -errno, "cannot start the sandbox: %s", strerror(errno));
	}
	close(pfd[1]);
	if (r < 0)
		waitpid(pid, NULL, 0); /* it saw EOF instead of go, and exited */
	return r < 0 ? r : pid;
}

/*
 * The step's ids in its own user namespace: a root caller's step in its
 * unprivileged range (idmap.c; our own namespace keeps the host's ids, so
 * these are host ids too), anyone else's as the sandbox's own.
 */
static int step_id_maps(const struct step_ids *ids, char *uid_map, char *gid_map, size_t n)
{
	int r;

	if (ids && ids->on)
		return copy_str(uid_map, n, ids->uid_map) < 0 || copy_str(gid_map, n, ids->gid_map) < 0 ? -E2BIG : 0;
	r = identity_map("/proc/self/uid_map", uid_map, n);
	return r < 0 ? r : identity_map("/proc/self/gid_map", gid_map, n);
}

pid_t ns_spawn_step(const struct step_ids *ids, int *go_fd, struct bi_error *err)
{
	char uid_map[8192], gid_map[8192];
	int pfd[2], r;
	pid_t pid;

	*go_fd = -1;
	if ((r = step_id_maps(ids, uid_map, gid_map, sizeof(uid_map))) < 0)
		return bi_error_set(err, r, "cannot read the sandbox's id maps: %s", strerror(-r));
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return bi_error_set(err, -errno, "pipe: %s", strerror(errno));
	pid = clone3_fork(CLONE_NEWUSER);
	if (pid < 0) {
		r = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return bi_error_set(err, r,
				    "cannot create the step's user namespace (nested in the sandbox's): %s%s",
				    strerror(-r), r == -ENOSPC ? " (raise sysctl user.max_user_namespaces)" : "");
	}
	if (pid == 0)
		return child_wait_go(pfd);
	close(pfd[0]);
	/* We have CAP_SETUID/SETGID in the parent namespace: no setgroups
	 * "deny" needed (where ours has it, the child inherits it). */
	r = ns_write_proc(pid, "uid_map", uid_map);
	if (r == 0)
		r = ns_write_proc(pid, "gid_map", gid_map);
	if (r < 0) {
		close(pfd[1]);
		waitpid(pid, NULL, 0);
		return bi_error_set(err, r, "cannot write the step's id maps: %s", strerror(-r));
	}
	*go_fd = pfd[1];
	return pid;
}

int ns_step_go(int go_fd)
{
	int r = write(go_fd, "g", 1) == 1 ? 0 : -errno;

	close(go_fd);
	return r;
}

bool ns_root_is_host_root(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/uid_map", "re");
	unsigned long in, outside, count;

	/* Our uid_map maps into the parent namespace; emu-run's own was the
	 * initial one or one where it is root (tests), either way the step's
	 * uid 0 is emu-run's uid 0 when the line says "0 0". */
	while (f && fscanf(f, "%lu %lu %lu", &in, &outside, &count) == 3)
		if (in == 0)
			return outside == 0;
	return false;
}

int ns_loopback_up(void)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Finding or making a binfmt_misc instance: mounting it (libmount), loading
 * the module (libkmod), automount points, and whether registrations made
 * through a fresh mount will outlive us (the Linux >= 6.7 trap). Kept apart
 * from binfmtfs.c so programs that only use an existing instance (emu-run)
 * do not load these libraries.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libkmod.h>
#include <libmount.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "binfmtfs.h"
#include "util.h"

#define AUTOFS_MAGIC 0x0187
/* Since 6.7 an instance lives only while one of its mounts does. */
#define KERNEL_PER_USERNS_INSTANCES 6007
#define AUTOFS_TRIGGER_TIMEOUT_MS 5000

bool bfs_have_cap_sys_admin(void)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (!caps)
		return false;
	if (cap_get_flag(caps, CAP_SYS_ADMIN, CAP_EFFECTIVE, &v) < 0)
		v = CAP_CLEAR;
	cap_free(caps);
	return v == CAP_SET;
}

static bool filesystem_listed(const char *proc_filesystems)
{
	_cleanup_fclose_ FILE *f = fopen(proc_filesystems, "re");
	char line[256];

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *tab = strrchr(line, '\t');
		const char *fs = tab ? tab + 1 : line;
		if (!strcmp(fs, "binfmt_misc\n") || !strcmp(fs, "binfmt_misc"))
			return true;
	}
	return false;
}

/*
 * libkmod and libmount serve rare paths (binfmt_misc neither built in nor
 * loaded; not mounted yet) but, linked, cost every run the mapping and
 * relocation of eight more libraries (libcrypto, liblzma, libzstd, libblkid,
 * libselinux, libpcre2...): about two thirds of binfmt's start-up. They are
 * dlopen()ed where needed and closed after. Their headers still type every
 * pointer (__typeof__), so a changed prototype fails the build as a direct
 * call would.
 */
#define KMOD_SONAME "libkmod.so.2"
#define KMOD_SYMS(X) X(kmod_new) X(kmod_unref) X(kmod_set_log_fn) X(kmod_module_new_from_name) \
		     X(kmod_module_probe_insert_module) X(kmod_module_unref)
#define MNT_SONAME "libmount.so.1"
#define MNT_SYMS(X) X(mnt_new_context) X(mnt_free_context) X(mnt_context_set_source) \
		    X(mnt_context_set_target) X(mnt_context_set_fstype) X(mnt_context_set_mflags) \
		    X(mnt_context_disable_helpers) X(mnt_context_disable_mtab) X(mnt_context_mount) \
		    X(mnt_context_get_syscall_errno) X(mnt_context_get_status)
#define DL_MEMBER(sym) __typeof__(&sym) sym;
#define DL_RESOLVE(sym) && (api->sym = (__typeof__(&sym))dlsym(api->handle, #sym)) != NULL

struct kmod_api {
	void *handle;
	KMOD_SYMS(DL_MEMBER)
};

struct mnt_api {
	void *handle;
	MNT_SYMS(DL_MEMBER)
};

static void dl_close(void **handle)
{
	if (*handle)
		dlclose(*handle);
	*handle = NULL;
}

static void kmod_api_close(struct kmod_api *api)
{
	dl_close(&api->handle);
}

static void mnt_api_close(struct mnt_api *api)
{
	dl_close(&api->handle);
}

/* After dlopen and the dlsym calls: 0, or -ELIBACC with dlerror()'s words in *why. */
static int dl_result(void **handle, bool resolved, const char **why)
{
	if (*handle && resolved)
		return 0;
	*why = dlerror();
	if (!*why)
		*why = "unknown error";
	dl_close(handle);
	return -ELIBACC;
}

/* RTLD_LOCAL: their symbols serve these calls only, never resolve ours. */
static int kmod_api_open(struct kmod_api *api, const char **why)
{
	api->handle = dlopen(KMOD_SONAME, RTLD_NOW | RTLD_LOCAL);
	return dl_result(&api->handle, api->handle && (true KMOD_SYMS(DL_RESOLVE)), why);
}

static int mnt_api_open(struct mnt_api *api, const char **why)
{
	api->handle = dlopen(MNT_SONAME, RTLD_NOW | RTLD_LOCAL);
	return dl_result(&api->handle, api->handle && (true MNT_SYMS(DL_RESOLVE)), why);
}

/* libkmod logs to stderr by default; the library never prints. */
static void kmod_silent(void *data, int priority, const char *file, int line, const char *fn,
			const char *format, va_list args)
{
	(void)data, (void)priority, (void)file, (void)line, (void)fn, (void)format, (void)args;
}

static int load_module(struct bi_error *err)
{
	_cleanup_(kmod_api_close) struct kmod_api api = { 0 };
	struct kmod_ctx *ctx;
	struct kmod_module *mod = NULL;
	const char *why;
	int r = kmod_api_open(&api, &why);

	if (r < 0)
		return bi_error_set(err, r,
				    "binfmt_misc is not in this kernel, and loading its module needs " KMOD_SONAME
				    ", which cannot be used (%s): install libkmod2, or run 'modprobe binfmt_misc' "
				    "on the host", why);
	if (!(ctx = api.kmod_new(NULL, NULL)))
		return bi_error_set(err, -ENOMEM, "cannot initialise libkmod");
	api.kmod_set_log_fn(ctx, kmod_silent, NULL);
	r = api.kmod_module_new_from_name(ctx, "binfmt_misc", &mod);
	if (r == 0)
		r = api.kmod_module_probe_insert_module(mod, 0, NULL, NULL, NULL, NULL);
	if (mod)
		api.kmod_module_unref(mod);
	api.kmod_unref(ctx);
	if (r < 0)
		return bi_error_set(err, r,
				    "binfmt_misc is not in this kernel and its module could not be loaded (%s): "
				    "run 'modprobe binfmt_misc' on the host (needs CONFIG_BINFMT_MISC)",
				    strerror(-r));
	return 0;
}

/* Make sure the kernel knows the filesystem, loading the module when needed. */
static int ensure_filesystem(const struct bfs_options *o, struct bi_error *err)
{
	const char *pf = o->proc_filesystems ? o->proc_filesystems : "/proc/filesystems";
	int r;

	if (filesystem_listed(pf))
		return 0;
	r = load_module(err);
	if (r < 0)
		return r;
	if (!filesystem_listed(pf))
		return bi_error_set(err, -ENODEV,
				    "binfmt_misc is not available in this kernel even after loading its module: "
				    "use a kernel built with CONFIG_BINFMT_MISC");
	return 0;
}

/* Trigger an automount by touching the path in a child, so a dead automount
 * daemon cannot hang us: we give up after a timeout and kill the child. */
static void trigger_automount(const char *path)
{
	pid_t pid = fork();
	struct stat st;

	if (pid < 0)
		return;
	if (pid == 0) {
		char p[4200];
		/* A child stuck waiting on a hung automounter must not outlive us
		 * (timeout(1) and docker stop signal only the main process). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
			_exit(1);
		snprintf(p, sizeof(p), "%s/status", path);
		_exit(stat(p, &st) < 0 ? 1 : 0);
	}
	for (int waited = 0; waited < AUTOFS_TRIGGER_TIMEOUT_MS; waited += 10) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* As mount(8) would, minus fstab, helpers and utab: returns 0 or -errno. */
static int mount_with(const struct mnt_api *api, struct libmnt_context *cxt, const char *path)
{
	int r;

	api->mnt_context_set_source(cxt, "binfmt_misc");
	api->mnt_context_set_target(cxt, path);
	api->mnt_context_set_fstype(cxt, "binfmt_misc");
	api->mnt_context_set_mflags(cxt, MS_NOSUID | MS_NODEV | MS_NOEXEC);
	/* No /etc/fstab or utab lookups: mount exactly what we say. */
	api->mnt_context_disable_helpers(cxt, 1);
	api->mnt_context_disable_mtab(cxt, 1);
	r = api->mnt_context_mount(cxt);
	if (r > 0) { /* libmount: positive = mount(2) failed; its errno is kept aside */
		int e = api->mnt_context_get_syscall_errno(cxt);
		r = -(e ? e : EIO);
	} else if (r == 0 && api->mnt_context_get_status(cxt) != 1) {
		r = -EIO;
	}
	return r;
}

static int do_mount(const char *path, struct bi_error *err)
{
	_cleanup_(mnt_api_close) struct mnt_api api = { 0 };
	struct libmnt_context *cxt;
	const char *why;
	int r = mnt_api_open(&api, &why);

	if (r < 0)
		return bi_error_set(err, r, "cannot mount binfmt_misc at %s: mounting needs " MNT_SONAME
				    ", which cannot be used (%s): install libmount1, or mount it first "
				    "('mount -t binfmt_misc binfmt_misc %s')", path, why, path);
	if (!(cxt = api.mnt_new_context()))
		return bi_error_set(err, -ENOMEM, "cannot initialise libmount");
	r = mount_with(&api, cxt, path);
	api.mnt_free_context(cxt);
	if (r == 0)
		return 0;
	if (r == -EPERM || r == -EACCES || r == -EROFS)
		return bi_error_set(err, r,
				    "cannot mount binfmt_misc at %s (%s): run as root, or the container with --privileged",
				    path, strerror(-r));
	return bi_error_set(err, r, "cannot mount binfmt_misc at %s: %s", path, strerror(-r < 0 ? -r : EIO));
}

static bool status_created_since(int dirfd, const struct timespec *t0)
{
	struct stat st;

	if (fstatat(dirfd, "status", &st, 0) < 0)
		return false;
	/* The root and status inodes are created when the superblock is filled:
	 * a ctime from before our mount means the instance already existed. The
	 * kernel stamps inodes from the coarse clock, so t0 is read from that
	 * clock too (CLOCK_REALTIME_COARSE): then a fresh instance's ctime is
	 * never below t0. Compared with the fine clock, the coarse one lags by a
	 * tick or more (6.7 ms seen with HZ=250; more on a loaded VM), and a
	 * fresh instance looked old: binfmt then said OK for registrations that
	 * died with its mount namespace. */
	if (st.st_ctim.tv_sec != t0->tv_sec)
		return st.st_ctim.tv_sec > t0->tv_sec;
	return st.st_ctim.tv_nsec >= t0->tv_nsec;
}

/* Find a mount namespace that outlives us: the initial one. Returns an open
 * fd on its nsfs file, or -1. Our own namespace counts as "found" via *ours. */
static int host_mntns_fd(bool *ours)
{
	ino_t self = bfs_ns_inode("/proc/self/ns/mnt");
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	*ours = self == PROC_MNT_INIT_INO;
	if (*ours)
		return -1;
	/* Kernels before the fixed inode: pid 1 of the initial pid namespace. */
	if (bfs_ns_inode("/proc/self/ns/pid") == PROC_PID_INIT_INO) {
		ino_t init = bfs_ns_inode("/proc/1/ns/mnt");
		if (init && init == self) {
			*ours = true;
			return -1;
		}
		if (init)
			return open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
	}
	/* pid 1 may be unreadable (a sandbox supervisor): any process in the
	 * initial mount namespace will do. */
	d = opendir("/proc");
	while (d && (de = readdir(d))) {
		char p[300];
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/ns/mnt", de->d_name);
		if (bfs_ns_inode(p) == PROC_MNT_INIT_INO)
			return open(p, O_RDONLY | O_CLOEXEC);
	}
	return -1;
}

/* A note for the user: cut at the buffer's end when the path is very long. */
__attribute__((format(printf, 3, 4))) static void set_text(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}

/* In a child: enter the mount namespace nsfd names and make sure binfmt_misc
 * is mounted at path there. The child reports the instance's st_dev so we can
 * check it is the one we registered into (a mount already there, say one our
 * own mount propagated to, counts when it is the same instance). */
static int mount_in_ns(int nsfd, const char *path, dev_t want)
{
	int pfd[2];
	pid_t pid;
	dev_t got = 0;
	int status;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return e;
	}
	if (pid == 0) {
		struct stat st;
		char status_path[sizeof(((struct binfmtfs *)0)->path) + 8];
		close(pfd[0]);
		if (setns(nsfd, CLONE_NEWNS) < 0)
			_exit(1);
		if (bfs_fs_type(path) != BINFMTFS_MAGIC &&
		    mount("binfmt_misc", path, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			_exit(2);
		snprintf(status_path, sizeof(status_path), "%s/status", path);
		if (stat(status_path, &st) < 0)
			_exit(3);
		if (write(pfd[1], &st.st_dev, sizeof(st.st_dev)) != sizeof(st.st_dev))
			_exit(4);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &got, sizeof(got)) != sizeof(got))
		got = 0;
	close(pfd[0]);
	/* No status without a reaped child: then it did not work. */
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -EPERM;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EPERM;
	return got == want ? 0 : -EXDEV;
}

/*
 * A fresh instance in a user namespace (Linux >= 6.7): it lives while one of
 * its mounts does, and ours dies with our mount namespace unless another
 * process keeps that namespace. The oldest process of the user namespace we
 * can see is the best keeper: when it shares our mount namespace, our mount
 * stays with it; otherwise mount the instance in its mount namespace too, at
 * the same path. With none visible (a rootless container without --pid=host:
 * its own pid namespace), nothing outlives us.
 */
static int keep_userns_instance(struct binfmtfs *fs, const struct bfs_options *o, struct bi_error *err)
{
	struct ns_holder h = { 0 };
	_cleanup_close_ int nsfd = bfs_userns_holder(&h);
	char why[256] = "no other process of this user namespace is visible to keep a mount of it (a pid namespace of its own)";
	struct stat st;
	int r;

	if (nsfd >= 0 && h.same_mntns) {
		set_text(fs->lifetime, sizeof(fs->lifetime),
			 "these registrations are private to this user namespace and last as long as its mount at %s "
			 "in this mount namespace, which pid %d (%s) shares",
			 fs->path, (int)h.pid, h.comm);
		return 0;
	}
	if (nsfd >= 0 && fstatat(fs->dirfd, "status", &st, 0) == 0) {
		r = mount_in_ns(nsfd, fs->path, st.st_dev);
		if (r == 0) {
			set_text(fs->lifetime, sizeof(fs->lifetime),
				 "these registrations are private to this user namespace and last as long as the mount "
				 "at %s binfmt made in the mount namespace of pid %d (%s), its oldest process",
				 fs->path, (int)h.pid, h.comm);
			set_text(fs->note, sizeof(fs->note),
				 "binfmt_misc was not mounted in this user namespace: mounted it at %s in the mount "
				 "namespace of pid %d (%s) as well, so the registrations outlive this one",
				 fs->path, (int)h.pid, h.comm);
			return 0;
		}
		set_text(why, sizeof(why), "mounting it at %s in the mount namespace of pid %d (%s), the namespace's oldest process, failed", fs->path,
			 (int)h.pid, h.comm);
	}
	fs->persistent = false;
	if (!o->need_persistent)
		return 0;
	return bi_error_set(err, -EXDEV,
			    "binfmt_misc is not mounted in this user namespace, and registrations made through this "
			    "mount namespace would vanish when binfmt exits, as Linux >= 6.7 keeps them only while a "
			    "mount lasts, and %s: mount it where the engine lives first ('podman unshare mount -t binfmt_misc binfmt_misc %s' for rootless "
			    "Podman; 'nsenter -U --preserve-credentials -m -t $(cat $XDG_RUNTIME_DIR/docker.pid) "
			    "mount -t binfmt_misc binfmt_misc %s' for rootless Docker), or run the container with "
			    "--pid=host",
			    why, fs->path, fs->path);
}

/* Decide whether what we register through a mount we made will survive us. */
static int check_persistence(struct binfmtfs *fs, const struct bfs_options *o, struct bi_error *err)
{
	struct stat st;
	bool ours;
	_cleanup_close_ int nsfd = -1;
	int r;

	fs->persistent = true;
	if (!fs->fresh_instance || bfs_kernel_version() < KERNEL_PER_USERNS_INSTANCES)
		return 0;
	if (fs->private_userns)
		return keep_userns_instance(fs, o, err);
	nsfd = host_mntns_fd(&ours);
	if (ours)
		return 0; /* our mount is in the host's namespace and stays there */
	if (nsfd >= 0 && fstatat(fs->dirfd, "status", &st, 0) == 0) {
		r = mount_in_ns(nsfd, BINFMTFS_DEFAULT_MOUNT, st.st_dev);
		if (r == 0) {
			set_text(fs->note, sizeof(fs->note),
				 "binfmt_misc was not mounted on the host: mounted it at %s in the host's mount namespace",
				 BINFMTFS_DEFAULT_MOUNT);
			return 0;
		}
	}
	fs->persistent = false;
	if (!o->need_persistent)
		return 0;
	return bi_error_set(err, -EXDEV,
			    "binfmt_misc is not mounted on the host, and registrations made from this private mount "
			    "namespace would vanish when it exits (Linux >= 6.7): run the container with --pid=host, "
			    "or first run 'mount -t binfmt_misc binfmt_misc %s' on the host",
			    BINFMTFS_DEFAULT_MOUNT);
}

static int mount_fresh(struct binfmtfs *fs, const struct bfs_options *o, struct bi_error *err)
{
	struct timespec t0;
	int r;

	if (!bfs_have_cap_sys_admin())
		return bi_error_set(err, -EPERM,
				    "binfmt_misc is not mounted at %s and mounting it needs CAP_SYS_ADMIN: "
				    "run as root, or the container with --privileged", fs->path);
	clock_gettime(CLOCK_REALTIME_COARSE, &t0);
	r = do_mount(fs->path, err);
	if (r < 0)
		return r;
	fs->mounted_here = true;
	r = bfs_attach(fs, err);
	if (r < 0)
		return r;
	fs->fresh_instance = status_created_since(fs->dirfd, &t0);
	if (o->read_only)
		return 0;
	r = check_persistence(fs, o, err);
	if (r < 0) {
		/* Leave nothing behind: the instance dies with this mount. */
		close(fs->dirfd);
		fs->dirfd = -1;
		umount2(fs->path, MNT_DETACH);
		fs->mounted_here = false;
	}
	return r;
}

int bfs_open(struct binfmtfs *fs, const struct bfs_options *o, struct bi_error *err)
{
	const char *mp = o->mountpoint ? o->mountpoint : BINFMTFS_DEFAULT_MOUNT;
	long type;
	int r;

	memset(fs, 0, sizeof(*fs));
	fs->dirfd = -1;
	fs->private_userns = bfs_in_private_userns();
	if (copy_str(fs->path, sizeof(fs->path), mp) < 0)
		return bi_error_set(err, -ENAMETOOLONG, "mount point path is too long");
	/* "dir/" makes the O_PATH lookup a directory lookup, which triggers an
	 * automount in this process, with no timeout: drop trailing slashes. */
	for (size_t l = strlen(fs->path); l > 1 && fs->path[l - 1] == '/'; l--)
		fs->path[l - 1] = '\0';
	mp = fs->path;

	type = bfs_fs_type(mp);
	if (type == -ENOENT && !strcmp(mp, BINFMTFS_DEFAULT_MOUNT)) {
		/* /proc/sys/fs/binfmt_misc only exists once the fs is registered. */
		r = ensure_filesystem(o, err);
		if (r < 0)
			return r;
		type = bfs_fs_type(mp);
	}
	if (type < 0)
		return bi_error_set(err, (int)type, "cannot use %s as binfmt_misc mount point: %s", mp,
				    strerror((int)-type));
	if (type == AUTOFS_MAGIC && o->may_mount) {
		/* systemd's proc-sys-fs-binfmt_misc.automount: let it mount the host's
		 * instance rather than shadowing it with one of our own. */
		trigger_automount(mp);
		type = bfs_fs_type(mp);
		if (type == AUTOFS_MAGIC)
			return bi_error_set(err, -EHOSTDOWN,
					    "%s is an automount point that did not mount binfmt_misc: "
					    "run 'systemctl start proc-sys-fs-binfmt_misc.mount' on the host", mp);
		set_text(fs->note, sizeof(fs->note), "triggered the automount at %s", mp);
	}
	if (type == BINFMTFS_MAGIC) {
		if (fs->private_userns)
			set_text(fs->lifetime, sizeof(fs->lifetime),
				 "these registrations are private to this user namespace and last while a mount of "
				 "its binfmt_misc instance does (this one is at %s)", fs->path);
		return bfs_attach(fs, err);
	}
	if (!o->may_mount)
		return 0; /* not mounted: an empty registry as far as readers care */
	r = ensure_filesystem(o, err);
	if (r < 0)
		return r;
	return mount_fresh(fs, o, err);
}

void bfs_close_unmount(struct binfmtfs *fs)
{
	bfs_close(fs);
	if (fs->mounted_here)
		umount2(fs->path, MNT_DETACH);
	fs->mounted_here = false;
}

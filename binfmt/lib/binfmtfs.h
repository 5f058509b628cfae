/* SPDX-License-Identifier: MIT */
/*
 * The only code that touches binfmt_misc: find or mount an instance, decide
 * whether registrations made through it will outlive this process, read its
 * entries, and write register / -1 / 0 / 1 with one write(2) each.
 */
#ifndef BINFMT_BINFMTFS_H
#define BINFMT_BINFMTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "entry.h"
#include "error.h"

#define BINFMTFS_DEFAULT_MOUNT "/proc/sys/fs/binfmt_misc"

struct bfs_options {
	const char *mountpoint;        /* NULL: BINFMTFS_DEFAULT_MOUNT */
	bool may_mount;                /* false: report "not mounted" instead of mounting */
	bool need_persistent;          /* fail when registrations would vanish at exit */
	bool read_only;                /* only reading: skip persistence checks and host mounts */
	const char *proc_filesystems;  /* NULL: /proc/filesystems (tests point it elsewhere) */
};

struct binfmtfs {
	int dirfd;                     /* the instance's root directory, -1 when not mounted */
	char path[4096];
	bool mounted_here;             /* this process mounted path */
	bool fresh_instance;           /* our mount created the instance: nothing else keeps it */
	bool private_userns;           /* not the initial user namespace: entries are private */
	bool persistent;               /* entries outlive this process */
	char note[512];                /* what was done to get here, for --verbose / warnings */
	char lifetime[512];            /* in a user namespace: how long the entries last */
};

/* Open (and if allowed, mount) binfmt_misc (mount.c). Returns 0 or -errno with err set. */
int bfs_open(struct binfmtfs *fs, const struct bfs_options *o, struct bi_error *err);
/* Open an instance only if one is mounted at mountpoint (NULL: the default):
 * never mounts, never triggers an automount, loads no library. dirfd stays -1
 * when nothing is mounted there. Returns 0 or -errno with err set. */
int bfs_open_mounted(struct binfmtfs *fs, const char *mountpoint, struct bi_error *err);
void bfs_close(struct binfmtfs *fs);
/* Close, and unmount when this process mounted it: for readers (status,
 * dry-run) that must leave the system as they found it. */
void bfs_close_unmount(struct binfmtfs *fs);

/* Every entry of the instance, sorted by name. Caller frees *entries. */
int bfs_list(struct binfmtfs *fs, struct binfmt_entry **entries, size_t *n, struct bi_error *err);
/* One entry; -ENOENT when there is none. */
int bfs_read_entry(struct binfmtfs *fs, const char *name, struct binfmt_entry *e);

/* Register e (one write). Returns 0 or -errno with a message naming the cause. */
int bfs_register(struct binfmtfs *fs, const struct binfmt_entry *e, struct bi_error *err);
/* Remove one entry (writes -1). -ENOENT when it does not exist. */
int bfs_remove(struct binfmtfs *fs, const char *name, struct bi_error *err);
/* Enable (write 1) or disable (write 0) one entry. */
int bfs_set_enabled(struct binfmtfs *fs, const char *name, bool enabled, struct bi_error *err);
/* Register e and, when e is disabled, disable it again: what was there before. */
int bfs_restore(struct binfmtfs *fs, const struct binfmt_entry *e, struct bi_error *err);
/* Whole-instance switch from the status file. */
int bfs_status_enabled(struct binfmtfs *fs, bool *enabled);

/*
 * Serialize changes with other binfmt runs on the same instance (flock on its
 * root directory, shared by every mount of the instance), waiting up to
 * timeout_ms. Read, plan and apply under it, so concurrent runs each plan
 * against what the previous one left. Released by bfs_unlock or bfs_close.
 * Returns 0, or -ETIMEDOUT with err set.
 */
int bfs_lock(struct binfmtfs *fs, unsigned timeout_ms, struct bi_error *err);
void bfs_unlock(struct binfmtfs *fs);

/* Helpers the CLIs share. */
bool bfs_have_cap_sys_admin(void);
/* Kernel version as major*1000+minor (6.7 -> 6007); 0 when unknown. */
unsigned bfs_kernel_version(void);
/* Not the initial user namespace? */
bool bfs_in_private_userns(void);

/* The oldest process of our user namespace we can see, other than us: the one
 * most likely to keep a mount of its instance after we exit (holder.c). */
struct ns_holder {
	pid_t pid;
	char comm[64];
	bool same_mntns;               /* it shares our mount namespace */
};
/* Returns an O_RDONLY fd of its mount namespace, or -ESRCH when none is visible. */
int bfs_userns_holder(struct ns_holder *h);

/* Shared by binfmtfs.c and mount.c, not for the CLIs. */
#define BINFMTFS_MAGIC 0x42494e4d
/* Fixed inode numbers of the initial namespaces (include/linux/proc_ns.h).
 * The mount namespace got one only in recent kernels (seen on 6.18). */
#define PROC_USER_INIT_INO 0xEFFFFFFDU
#define PROC_PID_INIT_INO 0xEFFFFFFCU
#define PROC_MNT_INIT_INO 0xEFFFFFF8U
ino_t bfs_ns_inode(const char *path);
/* The fs type at path without triggering an automount (O_PATH), or -errno. */
long bfs_fs_type(const char *path);
/* fs->path holds a mounted instance: open it into fs->dirfd. */
int bfs_attach(struct binfmtfs *fs, struct bi_error *err);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * emu-run: run a command (a Dockerfile RUN step) for a foreign architecture,
 * rootless where the kernel allows. Declarations shared by the emu-runner
 * modules; each module's comment block says what it owns.
 *
 * Processes:  emu-run (the caller's namespaces: options, QEMU lookup, signal
 * forwarding, placeholder removal) -> sandbox (pid 1 of new user, mount, pid
 * [, uts, ipc, net] namespaces: binfmt_misc, mounts, pivot_root, reaper)
 * -> step (credentials, exec); and, when the sandbox made placeholders in the
 * rootfs, emu-run -> janitor (removes them should emu-run be SIGKILLed).
 */
#ifndef EMU_RUN_H
#define EMU_RUN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "entry.h"
#include "error.h"
#include "platform.h"
#include "targets.h"

/* Exit codes of emu-run's own failures (as docker run, chroot and env use them). */
enum {
	EMU_EXIT_ERROR = 125,      /* emu-run itself failed: usage, set-up, emulation unavailable */
	EMU_EXIT_CANNOT_EXEC = 126, /* the command was found but could not be executed */
	EMU_EXIT_NOT_FOUND = 127,  /* the command was not found */
};

#define EMU_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define EMU_HOSTNAME "buildkitsandbox"
/* Set (to anything but empty, 0, false, no or off) to skip the private binfmt_misc instance. */
#define EMU_ENV_NO_PRIVATE "EMU_RUN_NO_PRIVATE_BINFMT"
/* --accel and --accel-root defaults. */
#define EMU_ENV_ACCEL "EMU_RUN_ACCEL"
#define EMU_ENV_ACCEL_ROOT "EMU_RUN_ACCEL_ROOT"
/* argv[0] of the probe programs emu-run executes natively (native.c). */
#define EMU_PROBE_ARGV0 "emu-run-probe"

struct emu_bind {
	const char *src;           /* host path */
	const char *dst;           /* path inside the root (or the host, without --rootfs) */
	bool ro;
};

enum emu_network { EMU_NET_HOST, EMU_NET_NONE };

struct emu_config {
	const char *arch;          /* as given to --arch */
	const struct target *target;
	const struct target *host; /* NULL when this machine is not in the table */
	bool native;               /* the host's own platform: runs natively, never probed */
	bool compat;               /* the rest of the host's QEMU family (i386 on x86-64,
				    * arm on arm64): native only if its probe runs here */
	struct platform platform;  /* TARGET*: os, arch, variant ("" when none) */
	struct platform build_platform; /* BUILD* */
	const char *rootfs;        /* --rootfs, or the cached root of --image */
	const char *image;         /* --image PATH */
	char *image_rootfs;        /* what rootfs points to after --image (owned) */
	const char *workdir;
	const char *user;
	char **env;                /* -e and --env-file, in order, repeated keys kept: "K=V" (NULL-terminated) */
	size_t nenv;
	struct emu_bind *binds;
	size_t nbinds;
	enum emu_network network;
	const char *qemu;          /* --qemu FILE|DIR */
	const char *cpu;           /* --cpu MODEL -> QEMU_CPU */
	bool accel_off, accel_set; /* --accel off; --accel given (or EMU_RUN_ACCEL) */
	const char *accel_root;    /* --accel-root DIR: where the cross tools are (NULL: /) */
	bool overlay, verbose;
	bool unsafe_no_userns;     /* --unsafe-no-userns: a --rootfs step as real root where
				    * no user namespace can be made (confined by seccomp) */
	bool no_private_binfmt;    /* EMU_RUN_NO_PRIVATE_BINFMT */
	char **argv;               /* the step (NULL-terminated) */
};

/* main.c: messages, all prefixed "emu-run: ". */
/* argv -> c (options.c). Returns -1 to go on, or the exit code (0 after
 * --help/--version, 125 after a usage error, with the message printed). */
int emu_parse_args(int argc, char **argv, struct emu_config *c);
/* Free what emu_parse_args allocated (argv: the array it was given). */
void emu_config_free(struct emu_config *c, char **argv);

void emu_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void emu_note(const struct emu_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- emulation.c: which way foreign code runs ------------------------------------ */

enum emu_path {
	EMU_PATH_NONE,     /* not chosen yet */
	EMU_PATH_NATIVE,   /* the host runs it */
	EMU_PATH_PRIVATE,  /* path 1: a private binfmt_misc instance of our user namespace */
	EMU_PATH_HOST,     /* path 2: the host's registration (with F) */
};

struct emulation {
	enum emu_path path;
	char qemu[PATH_MAX];       /* verified emulator for path 1, "" when none */
	char qemu_problem[1024];   /* why there is none */
	char private_problem[1024];/* why path 1 was not taken */
	char registration[ENTRY_REGISTER_MAX + 1]; /* path 1: what was registered */
	char host_entry[ENTRY_NAME_MAX + 1];       /* path 2: the entry used */
	int instance_fd;           /* path 1 (or native by probe): keeps the private instance alive; -1 */
	char native_note[600];     /* --verbose: the host's family, native or not and why */
	char probe_failed[300];    /* why the family's probe did not run natively, "" */
	bool own_instance;         /* our user namespace has its own instance now: the
				    * host's registrations no longer apply in it */
	const char *cpu;           /* the CPU model to pass (--cpu, or emu-run's default for
				    * the target), NULL: QEMU's own default */
	bool cpu_is_default;       /* it is emu-run's default, not --cpu */
	bool cpu_by_launcher;      /* the launcher passes it (-cpu): not in the step's environment */
	char cpu_note[300];        /* --verbose: why the default is not used, "" */
};

/* --cpu MODEL (its name before any ',') among the models qemu lists (-cpu
 * help)? 0 when it is, or when qemu cannot list them (QEMU then judges);
 * -EINVAL with err naming the model, the QEMU and the models it accepts. */
int cpu_model_check(const char *qemu, const char *model, struct bi_error *err);
/* emu-run's default CPU model for a target (docs/benchmarks.md, section 9),
 * or NULL: QEMU's own. */
const char *cpu_default_model(const struct target *t);
/* In emu-run, after emulation_prepare: the model to pass (em->cpu): --cpu,
 * checked (-EINVAL with err as cpu_model_check), or the target's default
 * where this QEMU lists it. */
int cpu_choose(const struct emu_config *c, struct emulation *em, struct bi_error *err);
/* The QEMU_CPU value the step's environment gets: --cpu's model when no
 * launcher passes it (the host's registration, no --rootfs), else NULL. A
 * default is never put there: without the launcher, QEMU's own default. */
const char *cpu_env_value(const struct emulation *em);
/* --verbose: the model in use and how it is passed. */
void cpu_report(const struct emu_config *c, const struct emulation *em);

/* In emu-run: native or not, and the emulator path 1 would use. Returns 0 or
 * -errno with err set for a --qemu that cannot be used. */
int emulation_prepare(const struct emu_config *c, struct emulation *em, struct bi_error *err);
/* Where the step will run (in the sandbox, before the root changes; or in
 * emu-run without namespaces): path 1 when possible, else 2, else -ENOEXEC
 * with err naming what is missing and how to fix it (path 3). no_private:
 * why path 1 is impossible here (no user namespace of our own), or NULL. */
int emulation_choose(const struct emu_config *c, struct emulation *em, const char *no_private, struct bi_error *err);
/* Path 1: replace the private entry's interpreter by interp (the same magic,
 * flags FP; opened now, in our view). On failure the QEMU entry is back,
 * with qemu_here: em->qemu as our view names it now (after pivot_root the
 * host's path is gone); -ENOEXEC when it could not be put back either (the
 * step cannot run). 0 or -errno with err set. */
int emulation_set_interpreter(const struct emu_config *c, struct emulation *em, const char *interp,
			      const char *qemu_here, struct bi_error *err);
/* --verbose lines and the path-2 note. */
void emulation_report(const struct emu_config *c, const struct emulation *em);

/* --- native.c: does the host run the target's code itself? ---------------------- */

struct probe;

/* The probe program that answers for t, or NULL when there is none. */
const struct probe *native_probe_for(const struct target *t);
/* The first entry that would take the probe (enabled, magic matching), or NULL. */
const struct binfmt_entry *native_probe_taken_by(const struct probe *p, const struct binfmt_entry *entries,
						 size_t n);
/* Execute the probe here, natively (truthful only where no binfmt_misc entry
 * can take it). Returns 0 when it ran as expected, else -errno (-ENOEXEC:
 * exec format error); why says which in a few words for --verbose. */
int native_probe_run(const struct probe *p, char *why, size_t n);

/* --- resolve.c: paths inside a hostile root ------------------------------------- */

/* What set-up created inside the root, to be removed afterwards, in order. */
struct placeholders {
	char **paths;              /* relative to the root, as resolved */
	size_t n;
};

/* openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS [| RESOLVE_NO_XDEV]). */
int root_open(int rootfd, const char *path, int flags, bool no_xdev);
/* Resolve path inside the root without crossing a mount, creating what is
 * missing (0755 directories; the last component as a directory or an empty
 * file) and recording it. Returns an O_PATH fd or -errno with err set. */
int root_resolve_create(int rootfd, const char *path, bool dir, struct placeholders *ph, struct bi_error *err);
/* Remove recorded placeholders that are still empty, newest first. Returns
 * -EBUSY when one was still a mount point (try again later), else 0. */
int placeholders_remove(int rootfd, const struct placeholders *ph);
void placeholders_free(struct placeholders *ph);
/* Over a pipe: NUL-separated paths. */
int placeholders_send(int fd, const struct placeholders *ph);
int placeholders_recv(int fd, struct placeholders *ph);

/* --- user.c: USER[:GROUP] from the root's /etc/passwd and /etc/group ------------ */

#define EMU_MAX_GROUPS 64

struct emu_user {
	uid_t uid;
	gid_t gid;
	gid_t groups[EMU_MAX_GROUPS]; /* supplementary */
	size_t ngroups;
	char home[PATH_MAX];
};

int user_resolve(int rootfd, const char *spec, struct emu_user *u, struct bi_error *err);

/* --- env.c: the step's environment --------------------------------------------- */

/* NULL-terminated "K=V" list, each key once; NULL when out of memory. Free
 * with env_free. O(n log n) in the number of variables. */
char **env_build(const struct emu_config *c, const struct emu_user *u, const char *qemu_cpu);
void env_free(char **env);
/* Read --env-file FILE and append its variables to *list (n entries; *list
 * NULL or made by these functions). Repeated keys are kept: env_build
 * resolves them. Invalid lines: -EINVAL naming FILE and the line number. */
int env_file_append(const char *file, char ***list, size_t *n, struct bi_error *err);
/* -e K=V or -e K (K's value in emu-run's environment; dropped when unset). */
int env_arg_append(const char *arg, char ***list, size_t *n, struct bi_error *err);

/* --- rootfs.c: the root a step sees ----------------------------------------------- */

#define EMU_DEV_NODES 6 /* null zero full random urandom tty */

struct rootfs {
	int rootfd;                /* the rootfs directory (O_PATH), in our mount namespace */
	int mntfd;                 /* the root mount, -1 until attached */
	int scratch;               /* our tmpfs: /etc/hosts source, overlay upper */
	int devfd;                 /* the root's /dev tmpfs once mounted */
	/* Host sources, opened before anything covers a host path: */
	int dev[EMU_DEV_NODES];    /* clones of the host's device nodes, -1 when missing */
	int sys;                   /* recursive clone of /sys, -errno when not permitted */
	int resolv;                /* clone of the host's resolv.conf, -1 when none */
	int console;               /* clone of the caller's terminal, -1 when none */
	int *binds;                /* clones of the --bind sources */
	bool *bind_dir;
	size_t nbinds;
	struct placeholders ph;    /* created inside the root (empty with --overlay) */
	struct step_ids *ids;      /* a root caller's idmapped root and binds (taken), or NULL */
};

void rootfs_init(struct rootfs *r, int rootfd);
void rootfs_release(struct rootfs *r);

/* Mount the root (a bind of the directory, or an overlay) in our mount namespace. */
int rootfs_attach(const struct emu_config *c, struct rootfs *r, struct bi_error *err);
/* /proc, /dev, /sys, /etc/hosts, /etc/resolv.conf and --bind, all resolved inside the root. */
int rootfs_mount_all(const struct emu_config *c, struct rootfs *r, struct bi_error *err);
/* Make the root the process root; the host's tree is gone from this namespace. */
int rootfs_pivot(struct rootfs *r, struct bi_error *err);
/* Without --rootfs: a fresh /proc and --bind onto existing host paths. */
int hostfs_mount_all(const struct emu_config *c, struct bi_error *err);
/* mkdir -p the working directory (inside the root, after pivot_root). */
int workdir_create(const char *dir, struct bi_error *err);

/* --- namespace.c: creating the sandbox process -------------------------------------- */

/* An owner's subordinate ranges, as libsubid reads them (subid.c). */
#define SUBID_MAX_RANGES 32        /* the kernel takes 340 lines; 1 + 32 is plenty */
struct subid_ranges {
	unsigned long start[SUBID_MAX_RANGES], count[SUBID_MAX_RANGES];
	size_t n;
	unsigned long total;
};
/* owner's /etc/subuid and /etc/subgid ranges (or its nsswitch "subid:"
 * service) through libsubid, loaded only now. 0 (perhaps none: n == 0), or
 * -ENOENT with msg saying why libsubid cannot be used. */
int subid_ranges(const char *owner, struct subid_ranges *uids, struct subid_ranges *gids, char *msg, size_t n);

/* How an ordinary user's ids were mapped (subid.c). */
struct idmap_result {
	unsigned long uids, gids;  /* subordinate ids mapped as 1..N */
	bool uid_map_written;      /* newuidmap worked (when the other did not) */
	bool gid_map_written;      /* newgidmap worked (when the other did not) */
	char why[640];             /* why not (with the fix), when not */
};
/* Map the caller as root and its subordinate ranges as 1..N in pid's user
 * namespace with newuidmap/newgidmap. 0, or -errno with res->why set; then
 * only the maps res->uid_map_written / gid_map_written say were written. */
int subid_write_maps(pid_t pid, struct idmap_result *res);

/* --- idmap.c: a root caller's step in an unprivileged range (issue 19) ------------- */

/* Without ranges for root in /etc/subuid and /etc/subgid: the last 64K block
 * of systemd's container range (524288..1879048191, docs/UIDS-GIDS.md), which
 * no distribution gives to users. */
#define EMU_ROOT_IDS_START 1878982656UL
#define EMU_ROOT_IDS_COUNT 65536UL

struct step_ids {
	bool on;                   /* the step's ids are these ranges, its root idmapped */
	bool from_subid;           /* root's own ranges (else the default block) */
	char uid_map[1024], gid_map[1024]; /* "inside outside count" lines, inside from 0 */
	unsigned long uids, gids;  /* how many ids, as 0..N-1 */
	unsigned long uid0, gid0;  /* the host's ids of the step's root */
	int root_mnt;              /* the rootfs, idmapped and detached; -1 */
	int *bind_mnt;             /* per --bind: idmapped and detached, or -1 (bound as is) */
	size_t nbinds;
	char why[640];             /* off: why; on: a --bind bound as is */
};

/* In emu-run, as the host's root with --rootfs: choose the ranges, idmap
 * the root and the --bind sources. ids->on false (why set) where it cannot
 * be done, and always for other callers. 0, or -ENOMEM. */
int idmap_prepare(const struct emu_config *c, int rootfd, struct step_ids *ids);
/* Close the fds (on and why stay, for the report). */
void idmap_release(struct step_ids *ids);
/* Is id inside one of map's lines? Then *host (when not NULL) is its outside id. */
bool idmap_to_host(const char *map, unsigned long id, unsigned long *host);

struct ns_child {
	pid_t pid;
	bool userns;               /* in a new user namespace */
	bool no_namespaces;        /* clone failed: none could be created */
	bool single_ids;           /* an ordinary user's own ids only: idmap.why says why */
	struct idmap_result idmap;
};

/* Fork-like clone3 into new namespaces: returns 0 in the child once emu-run
 * has written its id maps, the child's pid in emu-run, or -errno with err set.
 * Without user namespaces, root still gets the others; anyone else gets
 * -EPERM (the caller may then run the step without namespaces). */
/* fork-like clone3 (clone where there is none) with these namespace flags. */
pid_t clone3_fork(uint64_t flags);
/* Write text to /proc/PID/NAME in one write (uid_map, gid_map, setgroups). 0 or -errno. */
int ns_write_proc(pid_t pid, const char *name, const char *text);
pid_t ns_spawn(const struct emu_config *c, struct ns_child *out, struct bi_error *err);
/* In the sandbox, once its mounts are final: fork-like clone3 into the
 * step's own user namespace (a child of the sandbox's, so the sandbox's
 * mounts are locked to it), its id maps written. The child waits until
 * ns_step_go(*go_fd) and then returns 0; the parent gets its pid, or -errno
 * with err set. */
pid_t ns_spawn_step(const struct step_ids *ids, int *go_fd, struct bi_error *err);
int ns_step_go(int go_fd);
/* In the sandbox: why only the caller's own ids are mapped (with the fix),
 * or NULL when they are not the only ones. */
const char *ns_single_ids_why(void);
/* Is our uid 0 emu-run's uid 0 (root called emu-run, identity map)? */
bool ns_root_is_host_root(void);
/* Bring up lo in a new network namespace (--network none). */
int ns_loopback_up(void);
/* Does id exist in our user namespace (/proc/self/uid_map or gid_map)? */
bool ns_id_mapped(const char *map_file, unsigned id);
/* May this namespace call setgroups(2)? */
bool ns_setgroups_allowed(void);

/* --- confine.c: what keeps the step from the host beyond its namespaces ----------- */

enum {
	CONFINE_NO_SETUID = 1,     /* no setuid/setgid files (openat2, io_uring: ENOSYS) */
	CONFINE_NO_KERNEL = 2,     /* no mount API, modules, bpf, kexec, ptrace, unshare, setns */
};

/* Close every descriptor from 3 up but those in keep (ascending). */
int confine_close_inherited(const int *keep, size_t n);
/* PR_SET_DUMPABLE 0: /proc/self/{fd,root,cwd,exe,mem} and ptrace closed to others. */
int confine_not_dumpable(void);
/* Capability bounding, permitted, effective and inheritable sets cut to
 * Docker's default; without CAP_SETFCAP when host_root, without CAP_MKNOD
 * when no_userns. */
int confine_caps(bool host_root, bool no_userns);
/* Install the filters in what (CONFINE_*); needs no_new_privs first. */
int confine_seccomp(int what);

/* --- accel.c: the root's compiler proper and assembler as native tools (issue 15) ---- */

#define ACCEL_MAX_TOOLS 16

struct accel_tool {
	char root[PATH_MAX];       /* the root's tool, absolute inside the root */
	char host[PATH_MAX];       /* the same Debian version's cross tool, a host path */
	char what[400];            /* its package and version, for --verbose */
	const char *kind;          /* the launcher's: "c" (cc1), "c++" (cc1plus), "plain" */
	bool gcc;                  /* a GCC tool (else binutils' as) */
	char want[300], want2[80]; /* what its version output must say */
};

struct accel {
	char libdir[PATH_MAX];     /* the host loader's directory (its libraries too) */
	char loader[NAME_MAX + 1]; /* the loader's file name in it */
	struct accel_tool tools[ACCEL_MAX_TOOLS];
	size_t n;                  /* 0: nothing accelerated */
};

/* In emu-run, with --rootfs or --image: which of the root's tools have the
 * same Debian version's cross tool on the host (or in --accel-root).
 * --verbose says why each other one stays emulated. */
void accel_prepare(const struct emu_config *c, int rootfd, struct accel *a);
/* In the sandbox, before pivot_root (the host's tree still visible), after
 * the root's own mounts: ACCEL_DIR in the root's /dev (devfd) with the
 * launcher, QEMU (em->qemu) and the host tools; the launcher and QEMU alone
 * when nothing is accelerated but em->cpu is to be passed. Returns how many
 * tools are mounted (what could not be done stays emulated, with a
 * --verbose line). */
int accel_mount(const struct emu_config *c, const struct accel *a, const struct emulation *em, int rootmnt,
		int devfd);
/* After pivot_root: run each mounted host tool once in the step's view, write
 * the table of those that pass (and em->cpu), make ACCEL_DIR read-only and,
 * when any passed or a model is to be passed, make the launcher the
 * interpreter of em's private entry (em->cpu_by_launcher then). Returns
 * how many tools are accelerated; what fails stays emulated (a --verbose
 * line), except that the private entry is gone: -ENOEXEC with fatal set. */
int accel_check(const struct emu_config *c, const struct accel *a, struct emulation *em, struct bi_error *fatal);

/* --- init.c: pid 1 and the forwarding parent -------------------------------------- */

/* Block the signals we forward (and SIGCHLD), before any child exists. */
void init_block_signals(void);
/* Forward signals to child and wait for it; in pid 1 also reap everything.
 * Returns the exit code: the child's, or 128+N when it was killed by N. */
int init_wait_forward(pid_t child, bool reap_all);

/* --- exec.c: becoming the step ----------------------------------------------------- */

struct step {
	char **argv;
	char **envp;
	const struct emu_user *user;
	bool set_groups;           /* setgroups(2) is allowed (every id mapped) */
	const char *workdir;       /* NULL: stay */
	bool die_with_parent;      /* no pid namespace to clean up after us */
	bool confine;              /* cut capabilities to Docker's set (sandboxed steps) */
	bool host_root;            /* the step's uid 0 is the host's */
	bool no_userns;            /* ... and of the initial user namespace */
	int seccomp;               /* CONFINE_* filters */
};

/* Never returns: execs the step or exits 125/126/127. */
__attribute__((noreturn)) void step_exec(const struct step *s);

/* --- sandbox.c: inside the namespaces ------------------------------------------------ */

struct sandbox_args {
	const struct emu_config *c;
	struct step_ids *ids;      /* idmap.c (its fds are ours) */
	struct emulation *em;
	const struct accel *accel; /* accel.c, or NULL */
	int report_fd;             /* write end: placeholders, then closed */
	int rootfd;                /* emu-run's fd of --rootfs (its mount namespace), or -1 */
	bool userns;
};

/* Returns the exit code (the step's, or 125 for a set-up failure). */
int sandbox_main(const struct sandbox_args *a);

/* --- janitor.c: placeholders removed even when emu-run is SIGKILLed ------------------ */

struct janitor {
	pid_t pid;                 /* -1: none */
	int lifeline;              /* our end; closing it without "done" means we died */
};

/* Fork the janitor for the placeholders of the (unreaped) sandbox. Returns 0
 * or -errno (no pidfd_open before Linux 5.3: no janitor). */
int janitor_start(struct janitor *j, int rootfd, pid_t sandbox, const struct placeholders *ph);
/* emu-run has removed the placeholders itself: tell the janitor, reap it. */
void janitor_dismiss(struct janitor *j);

/* --- image.c: OCI and docker-archive metadata, layer entry paths (pure) ---------- */

struct image_desc {
	char hex[65];              /* sha256 of the manifest (or nested index) */
	char media_type[128];
	bool is_index;             /* an image index / manifest list, not a manifest */
	bool has_platform;
	struct platform platform;  /* normalized; valid when has_platform */
};

struct image_index {
	struct image_desc *descs;
	size_t n;
};

struct image_manifest {
	char *config;              /* OCI: the config's sha256 hex; docker: its path */
	char **layers;             /* OCI: sha256 hex of each layer; docker: paths; in order */
	size_t nlayers;
};

enum { IMAGE_ENTRY_PLAIN, IMAGE_ENTRY_WHITEOUT, IMAGE_ENTRY_OPAQUE };

/* "sha256:<64 lowercase hex>" -> hex. -EINVAL otherwise (other algorithms too). */
int image_digest_hex(const char *digest, char hex[65]);
/* The hex of a docker-archive blob path: <hex>.json, <hex>.tar, blobs/sha256/<hex>. */
int image_path_hex(const char *path, char hex[65]);
/* index.json (or a nested index); what names it in messages. -EINVAL with err set. */
int image_index_parse(const char *json, size_t len, const char *what, struct image_index *x, struct bi_error *err);
void image_index_free(struct image_index *x);
/* The index of the first descriptor whose platform is want, else -ENOENT with
 * err listing the platforms the index has. */
int image_choose(const struct image_index *x, const struct platform *want, const char *what, struct bi_error *err);
int image_manifest_parse(const char *json, size_t len, const char *what, struct image_manifest *m,
			 struct bi_error *err);
void image_manifest_free(struct image_manifest *m);
/* An image config: its platform, and (diff non-NULL) rootfs.diff_ids as layers. */
int image_config_parse(const char *json, size_t len, const char *what, struct platform *p, struct image_manifest *diff,
		       struct bi_error *err);
/* docker save's manifest.json, image k: Config and Layers paths. -ENOENT
 * (err untouched) past the last image. */
int image_docker_parse(const char *json, size_t len, size_t k, struct image_manifest *m, struct bi_error *err);
/* A layer entry's path, normalized ("./a//b" -> "a/b", "" the root), into out:
 * IMAGE_ENTRY_PLAIN; IMAGE_ENTRY_WHITEOUT (out: the path it deletes);
 * IMAGE_ENTRY_OPAQUE (out: the directory made opaque). -EXDEV for ".." or a
 * whiteout naming nothing, -ENAMETOOLONG. */
int image_entry_path(const char *raw, char *out, size_t n);

/* --- unpack.c: --image to a cached root -------------------------------------------- */

/* Choose the manifest for c->platform in c->image, verify and unpack it into
 * the cache (or find it there), and point c->rootfs at it with --overlay.
 * Returns 0 or -errno with err set (one line). */
int image_prepare(struct emu_config *c, struct bi_error *err);

/* --- run.c: emu-run's own process -------------------------------------------------- */

int emu_run(const struct emu_config *c);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * What keeps a step from the host beyond its namespaces (issue 19):
 *  - pid 1 holds no descriptor the step could use and is not dumpable, so
 *    /proc/1/{fd,root,cwd,exe,mem} and ptrace are closed to the step;
 *  - the step's capability bounding set is what a Docker RUN step gets;
 *  - seccomp filters, for steps whose root is the host's root: against
 *    mounts, modules, bpf, kexec and ptrace where no user namespace exists
 *    (--unsafe-no-userns), and against creating setuid/setgid files, which
 *    would be the host's.
 *
 * The filters are hand-written BPF rather than libseccomp: a dozen rules,
 * and emu-run links as little as it can (every library costs each run's
 * start-up, Makefile).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "emu.h"
#include "util.h"

/* Docker's default set for a container (and so a RUN step). */
static const int step_caps[] = {
	CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW, CAP_SETGID,
	CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
};

int confine_close_inherited(const int *keep, size_t n)
{
	unsigned from = 3;

	/* keep is short and sorted by the caller; close the gaps between. */
	for (size_t i = 0; i <= n; i++) {
		unsigned to = i < n ? (unsigned)keep[i] : ~0U;

		if (i < n && (keep[i] < 3 || (unsigned)keep[i] < from))
			continue;
		if (to > from && syscall(SYS_close_range, from, to - 1, 0) < 0) {
			if (errno != ENOSYS)
				return -errno;
			for (unsigned fd = from; fd < to && fd < 65536; fd++)
				close((int)fd);
		}
		from = to + 1;
	}
	return 0;
}

int confine_not_dumpable(void)
{
	/* Also gives /proc/1/... to the root of the initial user namespace (pid 1
	 * never exec'd, so its mm belongs there): ptrace_may_access() then
	 * wants CAP_SYS_PTRACE there, which nothing in the sandbox has. */
	return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ? -errno : 0;
}

static bool kept(int cap, bool host_root, bool no_userns)
{
	/* Without a user namespace the step is the initial namespace's root,
	 * for which mknod makes real device nodes in a rootfs on the host's
	 * filesystem (nodev holds only inside our mounts). */
	if (cap == CAP_MKNOD && no_userns)
		return false;
	/* File capabilities set by a step whose root is the host's root are
	 * written as the host's (the xattr's rootid is host uid 0): a
	 * cap_sys_admin+ep file in the rootfs would be a root shell for any
	 * host user who can reach it. */
	if (cap == CAP_SETFCAP && host_root)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(step_caps); i++)
		if (step_caps[i] == cap)
			return true;
	return false;
}

int confine_caps(bool host_root, bool no_userns)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	int cap;

	/* The kernel's own count (cap_last_cap) may exceed our headers'. */
	for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (!kept(cap, host_root, no_userns) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	/* Until exec (which recomputes them from the bounding set) our own
	 * sets would still hold the rest. */
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		uint32_t mask = 0;
		for (int b = 0; b < 32; b++)
			if (kept(i * 32 + b, host_root, no_userns))
				mask |= 1U << b;
		d[i].effective &= mask;
		d[i].permitted &= mask;
		d[i].inheritable &= mask;
	}
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* --- seccomp ------------------------------------------------------------------------ */

#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif

/* A rule: deny nr (with errno), always (arg < 0) or when arg & mask; with
 * flags >= 0, only when that argument (open's flags) asks to create a file. */
struct rule {
	int nr;
	int arg;
	uint32_t mask;
	int err;
	int flags;
};

/* O_CREAT and O_TMPFILE's own bit, the same in every ABI we filter (the
 * generic values, which x86 and arm share). */
#define CREATE_BITS (0100U | 020000000U)

#define SUID_BITS ((uint32_t)(S_ISUID | S_ISGID))
#define MODE_RULES(chmod_, fchmod_, fchmodat_, open_, openat_, creat_, mknod_, mknodat_)                          \
	{ chmod_, 1, SUID_BITS, EPERM, -1 }, { fchmod_, 1, SUID_BITS, EPERM, -1 },                                \
		{ fchmodat_, 2, SUID_BITS, EPERM, -1 }, { __NR_fchmodat2, 2, SUID_BITS, EPERM, -1 },                \
		{ open_, 2, SUID_BITS, EPERM, 1 }, { openat_, 3, SUID_BITS, EPERM, 2 },                             \
		{ creat_, 1, SUID_BITS, EPERM, -1 }, { mknod_, 1, SUID_BITS, EPERM, -1 },                           \
		{ mknodat_, 2, SUID_BITS, EPERM, -1 },                                                              \
		/* Its mode is in a struct BPF cannot read; glibc falls back to openat. */                          \
		{ 437 /* openat2 */, -1, 0, ENOSYS, -1 },                                                            \
		/* io_uring's IORING_OP_OPENAT would bypass all of this. */                                          \
		{ 425 /* io_uring_setup */, -1, 0, ENOSYS, -1 }

/* The same numbers on every architecture since Linux 5.2 (the unified table). */
#define NEW_MOUNT_RULES                                                                                       \
	{ 428 /* open_tree */, -1, 0, EPERM, -1 }, { 429 /* move_mount */, -1, 0, EPERM, -1 },                          \
		{ 430 /* fsopen */, -1, 0, EPERM, -1 }, { 431 /* fsconfig */, -1, 0, EPERM, -1 },                           \
		{ 432 /* fsmount */, -1, 0, EPERM, -1 }, { 433 /* fspick */, -1, 0, EPERM, -1 },                            \
		{ 442 /* mount_setattr */, -1, 0, EPERM, -1 }

static const struct rule native_mode[] = {
#ifdef __NR_open
	MODE_RULES(__NR_chmod, __NR_fchmod, __NR_fchmodat, __NR_open, __NR_openat, __NR_creat, __NR_mknod,
		   __NR_mknodat),
#else /* arm64, riscv64: only the *at calls; -1 never matches a syscall */
	MODE_RULES(-1, __NR_fchmod, __NR_fchmodat, -1, __NR_openat, -1, -1, __NR_mknodat),
#endif
};

static const struct rule native_kernel[] = {
	{ __NR_mount, -1, 0, EPERM, -1 },
	{ __NR_umount2, -1, 0, EPERM, -1 },
	{ __NR_pivot_root, -1, 0, EPERM, -1 },
	NEW_MOUNT_RULES,
	{ __NR_init_module, -1, 0, EPERM, -1 },
	{ __NR_finit_module, -1, 0, EPERM, -1 },
	{ __NR_delete_module, -1, 0, EPERM, -1 },
	{ __NR_bpf, -1, 0, EPERM, -1 },
	{ __NR_kexec_load, -1, 0, EPERM, -1 },
#ifdef __NR_kexec_file_load
	{ __NR_kexec_file_load, -1, 0, EPERM, -1 },
#endif
	{ __NR_ptrace, -1, 0, EPERM, -1 },
	{ __NR_open_by_handle_at, -1, 0, EPERM, -1 },
	{ __NR_unshare, -1, 0, EPERM, -1 },
	{ __NR_setns, -1, 0, EPERM, -1 },
};

/*
 * The host's compat ABI, which a static i386 (or arm) program in the rootfs
 * reaches natively: its numbers differ, and a filter of the native ones
 * alone would let it through. i386 from asm/unistd_32.h; arm (EABI) from
 * the kernel's arch/arm/tools/syscall.tbl.
 */
#if defined(__x86_64__)
#define COMPAT_ARCH AUDIT_ARCH_I386
static const struct rule compat_mode[] = { MODE_RULES(15, 94, 306, 5, 295, 8, 14, 297) };
static const struct rule compat_kernel[] = {
	{ 21, -1, 0, EPERM, -1 },  { 22, -1, 0, EPERM, -1 },  { 52, -1, 0, EPERM, -1 },  { 217, -1, 0, EPERM, -1 },
	NEW_MOUNT_RULES,       { 128, -1, 0, EPERM, -1 }, { 350, -1, 0, EPERM, -1 }, { 129, -1, 0, EPERM, -1 },
	{ 357, -1, 0, EPERM, -1 }, { 283, -1, 0, EPERM, -1 }, { 26, -1, 0, EPERM, -1 },  { 342, -1, 0, EPERM, -1 },
	{ 310, -1, 0, EPERM, -1 }, { 346, -1, 0, EPERM, -1 },
};
#elif defined(__aarch64__)
#define COMPAT_ARCH AUDIT_ARCH_ARM
static const struct rule compat_mode[] = { MODE_RULES(15, 94, 333, 5, 322, 8, 14, 324) };
static const struct rule compat_kernel[] = {
	{ 21, -1, 0, EPERM, -1 },  { 52, -1, 0, EPERM, -1 },  { 218, -1, 0, EPERM, -1 }, NEW_MOUNT_RULES,
	{ 128, -1, 0, EPERM, -1 }, { 379, -1, 0, EPERM, -1 }, { 129, -1, 0, EPERM, -1 }, { 386, -1, 0, EPERM, -1 },
	{ 347, -1, 0, EPERM, -1 }, { 401, -1, 0, EPERM, -1 }, { 26, -1, 0, EPERM, -1 },  { 372, -1, 0, EPERM, -1 },
	{ 337, -1, 0, EPERM, -1 }, { 375, -1, 0, EPERM, -1 },
};
#endif

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define NATIVE_ARCH AUDIT_ARCH_S390X
#endif

#define MAX_INSNS 256
#define ARG_LO(n) (offsetof(struct seccomp_data, args) + (n) * sizeof(uint64_t) + \
		   (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0 : sizeof(uint32_t)))

struct prog {
	struct sock_filter f[MAX_INSNS];
	size_t n;
	bool full;
};

static void emit(struct prog *p, struct sock_filter s)
{
	if (p->n < MAX_INSNS)
		p->f[p->n++] = s;
	else
		p->full = true;
}

/* Each rule: if nr matches (and the argument has a masked bit), return the
 * errno; else fall through to the next. The accumulator holds nr on entry. */
static void emit_rules(struct prog *p, const struct rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i].nr < 0)
			continue;
		if (r[i].arg < 0) {
			emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r[i].nr, 0, 1));
			emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (uint32_t)r[i].err));
			continue;
		}
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r[i].nr, 0,
						     r[i].flags >= 0 ? 6 : 4));
		if (r[i].flags >= 0) {
			/* Not creating: the mode is garbage or 0, and harmless. */
			emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)ARG_LO(r[i].flags)));
			emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CREATE_BITS, 0, 3));
		}
		emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)ARG_LO(r[i].arg)));
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, r[i].mask, 0, 1));
		emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (uint32_t)r[i].err));
		/* Not denied: nr back into the accumulator for the next rule. */
		emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
	}
}

static void emit_arch(struct prog *p, uint32_t arch, const struct rule *mode, size_t nmode,
		      const struct rule *kern, size_t nkern, int what)
{
	size_t jump_at = p->n;

	/* if (arch != this one) skip this block: patched below. */
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, 0));
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
#if defined(__x86_64__)
	/* x32 calls are the same numbers with a high bit: none are needed. */
	if (arch == AUDIT_ARCH_X86_64) {
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U, 0, 1));
		emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
	}
#endif
	if (what & CONFINE_NO_SETUID)
		emit_rules(p, mode, nmode);
	if (what & CONFINE_NO_KERNEL)
		emit_rules(p, kern, nkern);
	emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
	if (!p->full)
		p->f[jump_at].jf = (uint8_t)(p->n - jump_at - 1 > 255 ? 255 : p->n - jump_at - 1);
	if (p->n - jump_at - 1 > 255)
		p->full = true;
}

#ifndef NATIVE_ARCH
int confine_seccomp(int what)
{
	return what ? -ENOSYS : 0; /* no table for this host: refuse rather than pretend */
}
#else
int confine_seccomp(int what)
{
	struct prog p = { .n = 0 };
	struct sock_fprog fp;

	if (!what)
		return 0;
	emit(&p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
	emit_arch(&p, NATIVE_ARCH, native_mode, ARRAY_SIZE(native_mode), native_kernel, ARRAY_SIZE(native_kernel),
		  what);
	/* The native block ends in a return: the compat block (or the
	 * default) starts with the arch loaded again. */
	emit(&p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
#ifdef COMPAT_ARCH
	emit_arch(&p, COMPAT_ARCH, compat_mode, ARRAY_SIZE(compat_mode), compat_kernel, ARRAY_SIZE(compat_kernel),
		  what);
#endif
	/* Any other ABI: nothing the step needs, and nothing we filter. */
	emit(&p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
	if (p.full)
		return -E2BIG;
	fp = (struct sock_fprog){ .len = (unsigned short)p.n, .filter = p.f };
	/* no_new_privs (set by the caller first) lets us do this without
	 * CAP_SYS_ADMIN, and is what makes the filter stick across exec. */
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) < 0 ? -errno : 0;
}
#endif

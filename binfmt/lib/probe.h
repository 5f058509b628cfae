/* SPDX-License-Identifier: MIT */
/*
 * Probe programs: per platform, a minimal static ELF whose entry point makes
 * the exit system call, generated here from hand-encoded instructions (no
 * cross toolchain). Executing one proves the platform runs; executing it
 * chrooted in an empty directory proves an F registration (what builders
 * need). Pure byte generation here; running them lives in detect.c.
 */
#ifndef BINFMT_PROBE_H
#define BINFMT_PROBE_H

#include <stddef.h>
#include <stdint.h>

#define PROBE_MAX_SIZE 1024

struct probe {
	const char *platform;   /* normalized OCI platform the probe proves: "linux/arm64" */
	const char *cpu;        /* QEMU cpu name of the target it needs: "aarch64" */
	int expect_exit;        /* exit status meaning "runs": 0, or -1 for the amd64 level probe */
};

/* Every probe, in BuildKit's probe order (amd64, arm64, riscv64, ppc64,
 * ppc64le, s390x, 386, mips64le, mips64, loong64, arm), then mipsle, mips. */
size_t probes_count(void);
const struct probe *probe_at(size_t i);
const struct probe *probe_for_platform(const char *platform);

/*
 * Write the probe's ELF image into buf. Returns its length, -ENOSPC when
 * buf is too small, or -EINVAL for a NULL or unknown probe.
 * The amd64 probe reads CPUID and exits with 64 + the x86-64
 * micro-architecture level it finds (65 = v1, 66 = v2, 67 = v3, 68 = v4);
 * every other probe exits 0.
 */
int probe_image(const struct probe *p, uint8_t *buf, size_t n);

#endif

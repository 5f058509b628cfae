/* SPDX-License-Identifier: MIT */
/*
 * OCI platform strings ("os/arch[/variant]") parsed and normalized by
 * containerd's rules (platforms.Parse followed by platforms.Normalize), the
 * host's platform, and the amd64 micro-architecture level from CPUID.
 */
#ifndef BINFMT_PLATFORM_H
#define BINFMT_PLATFORM_H

#include <stddef.h>

struct platform {
	char os[32];
	char arch[32];
	char variant[32];  /* "" when none */
};

/*
 * Parse and normalize like containerd: lowercase; aliases (aarch64->arm64,
 * x86_64/x86-64->amd64, i386->386, armhf->arm/v7, armel->arm/v6, arm->arm/v7);
 * bare digit variants get "v"; arm64 v8/v8.0 and amd64 v1 dropped; a single
 * component must be a known OS or arch (OS defaults to linux, arch to the host's).
 * Returns 0 or -EINVAL (empty, leading/trailing slash, spaces, characters
 * outside [A-Za-z0-9_.-] (the dot for arm64 v8.2), more than 3 components, wildcards, unknown single name).
 */
int platform_parse(const char *s, struct platform *p);

/* "os/arch" or "os/arch/variant" into buf. Returns 0 or -ENAMETOOLONG. */
int platform_format(const struct platform *p, char *buf, size_t n);

/* The host's platform from uname -m, normalized (linux/amd64, linux/arm64...). */
int platform_host(struct platform *p);

#endif

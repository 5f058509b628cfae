/* SPDX-License-Identifier: MIT */
/*
 * emu-run's command line: argv -> struct emu_config, the usage text and usage
 * errors. Separate from main() so it can be fuzzed (tests/fuzz/fuzz_emucli.c):
 * it never exits; --help and --version print and return 0.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "emu.h"
#include "entry.h"
#include "platform.h"
#include "util.h"

enum {
	OPT_ARCH = CHAR_MAX + 1,
	OPT_ROOTFS,
	OPT_IMAGE,
	OPT_ENV_FILE,
	OPT_BIND,
	OPT_NETWORK,
	OPT_QEMU,
	OPT_CPU,
	OPT_ACCEL,
	OPT_ACCEL_ROOT,
	OPT_SHELL,
	OPT_OVERLAY,
	OPT_UNSAFE_NO_USERNS,
};

static const char *prog = "emu-run";

/* emu-run's one "emu-run: message" printer, for errors, --verbose notes and
 * usage errors alike: one line, escaped as binfmt's are (entry_escape), since
 * messages carry names from images and roots (layer paths, users, commands)
 * whose control bytes must not reach the terminal. */
__attribute__((format(printf, 1, 0))) static void vmsg(const char *fmt, va_list ap)
{
	_cleanup_free_ char *esc = entry_vformat_escaped(fmt, ap);

	fprintf(stderr, "%s: %s\n", prog, esc ? esc : "out of memory");
}

void emu_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void emu_note(const struct emu_config *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->verbose)
		return;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

static void usage(void)
{
	printf("Usage:\n"
	       " %s --arch PLATFORM [--rootfs DIR] [options] [--] COMMAND [ARG...]\n"
	       " %s --arch PLATFORM [--rootfs DIR] [options] --shell 'STEP' [ARG...]\n"
	       " %s --arch PLATFORM --image PATH [options] [--] COMMAND [ARG...]\n"
	       "\n"
	       "Run a command for another CPU architecture through QEMU user-mode emulation: a\n"
	       "Dockerfile RUN step inside a root filesystem, or a foreign program from this host.\n"
	       "Rootless on Linux >= 6.7: a private binfmt_misc instance in a user namespace; the\n"
	       "host's registrations are never changed.\n"
	       "\n"
	       "Options:\n"
	       "     --arch PLATFORM       what to run: arm64, linux/arm/v7, armhf, riscv64, ppc64el,\n"
	       "                           s390x, ... (every name binfmt accepts); the host's own\n"
	       "                           platform runs without emulation, and so does the rest\n"
	       "                           of its family (386 on amd64, arm on arm64) when its\n"
	       "                           probe program runs here\n"
	       "     --rootfs DIR          run inside DIR as a RUN step: fresh /proc, minimal /dev,\n"
	       "                           read-only /sys, /etc/hosts, the host's resolv.conf;\n"
	       "                           changes persist in DIR\n"
	       "     --overlay             with --rootfs: write to a throw-away overlay instead\n"
	       "     --image PATH          run in the image at PATH for --arch: an OCI image layout\n"
	       "                           directory, an OCI archive or a docker-archive (docker\n"
	       "                           save) tarball; its layers are checked, unpacked once\n"
	       "                           into $XDG_CACHE_HOME/emu-run/images and used as with\n"
	       "                           --rootfs and --overlay (the cached root never changes)\n"
	       " -w, --workdir DIR         working directory (created with --rootfs; default /)\n"
	       " -e, --env KEY[=VALUE]     set a variable (KEY alone: emu-run's own value); a later\n"
	       "                           value for a KEY replaces an earlier one in its place\n"
	       "     --env-file FILE       set the KEY=VALUE (or KEY) lines of FILE, in order\n"
	       " -u, --user USER[:GROUP]   run as USER (name or id from the root's /etc/passwd)\n"
	       "     --bind SRC:DST[:ro]   bind-mount host path SRC at DST, writable unless :ro\n"
	       "                           (repeatable)\n"
	       "     --network host|none   share the host's network (default) or only lo\n"
	       "     --shell STEP          run /bin/sh -c STEP, a RUN step's shell form\n"
	       "     --qemu FILE|DIR       the static QEMU to use (default: the staged payload\n"
	       "                           <bindir>/../qemu, then /usr/bin)\n"
	       "     --cpu MODEL           QEMU CPU model, on QEMU's command line (default: arm64\n"
	       "                           neoverse-n1, riscv64 rva23u64, else QEMU's own; --cpu\n"
	       "                           max: QEMU's arm64 and riscv64 default); one its QEMU\n"
	       "                           does not list (-cpu help) is a usage error (125)\n"
	       "     --accel auto|off      auto (default): with --rootfs or --image, the root's GCC\n"
	       "                           compiler proper (cc1, cc1plus, lto1) and assembler run as\n"
	       "                           the host's Debian cross tools where those are the same\n"
	       "                           Debian version (same output); off: all emulated\n"
	       "     --accel-root DIR      take the cross tools from the root DIR of this host's\n"
	       "                           architecture instead of from / (e.g. a trixie amd64 root\n"
	       "                           with gcc-14-aarch64-linux-gnu for trixie arm64 steps)\n"
	       "     --unsafe-no-userns    where user namespaces are unavailable, run a --rootfs step\n"
	       "                           as real root anyway (fewer capabilities, a seccomp filter\n"
	       "                           against mounts, modules, bpf, kexec and ptrace); without\n"
	       "                           it emu-run refuses (125), as the step could reach the host\n"
	       " -v, --verbose             say which emulation path, QEMU and registration is used,\n"
	       "                           or why the platform runs natively or not\n"
	       " -h, --help                display this help\n"
	       " -V, --version             display version\n"
	       "\n"
	       "Environment:\n"
	       " %s=1  skip the private binfmt_misc instance: use the host's\n"
	       "                               registrations (which must have the F flag)\n"
	       " EMU_RUN_ACCEL=auto|off       as --accel (the option wins)\n"
	       " EMU_RUN_ACCEL_ROOT=DIR       as --accel-root (the option wins)\n"
	       "\n"
	       "Exit status: the command's; 128+N when it was killed by signal N;\n"
	       "125 emu-run failed; 126 the command cannot be executed; 127 it was not found.\n",
	       prog, prog, prog, EMU_ENV_NO_PRIVATE);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	return EMU_EXIT_ERROR;
}

static int add_bind(struct emu_config *c, const char *arg)
{
	struct emu_bind *v, b = { 0 };
	char *mode, *spec = strdup(arg);

	/* A copy: argv stays as the user gave it (and parsing is repeatable). */
	if (!spec)
		return usage_error("out of memory");
	/* SRC:DST[:ro|rw]; paths with ':' are not supported (as docker -v). */
	b.src = spec;
	b.dst = strchr(spec, ':');
	if (!b.dst) {
		free(spec);
		return usage_error("--bind '%s': expected SRC:DST[:ro]", arg);
	}
	*(char *)b.dst++ = '\0';
	mode = strchr(b.dst, ':');
	if (mode) {
		*mode++ = '\0';
		if (strcmp(mode, "ro") && strcmp(mode, "rw")) {
			int rc = usage_error("--bind: unknown mode '%s' (ro or rw)", mode);
			free(spec);
			return rc;
		}
		b.ro = !strcmp(mode, "ro");
	}
	if (!*b.src || !*b.dst) {
		free(spec);
		return usage_error("--bind: SRC and DST must not be empty");
	}
	v = realloc(c->binds, (c->nbinds + 1) * sizeof(*v));
	if (!v) {
		free(spec);
		return usage_error("out of memory");
	}
	v[c->nbinds++] = b;
	c->binds = v;
	return -1;
}

void emu_config_free(struct emu_config *c, char **argv)
{
	for (size_t i = 0; i < c->nbinds; i++)
		free((char *)c->binds[i].src); /* owns the SRC:DST copy */
	free(c->binds);
	free(c->image_rootfs);
	if (c->argv && c->argv != argv + optind)
		free(c->argv);
	env_free(c->env);
}

static int add_env(struct emu_config *c, const char *arg, bool file)
{
	struct bi_error err = { 0 };
	int r = file ? env_file_append(arg, &c->env, &c->nenv, &err) : env_arg_append(arg, &c->env, &c->nenv, &err);

	return r < 0 ? usage_error("%s", err.msg) : -1;
}

static int set_accel(struct emu_config *c, const char *v, const char *what)
{
	if (strcmp(v, "auto") && strcmp(v, "off"))
		return usage_error("%s '%s': auto or off", what, v);
	c->accel_off = !strcmp(v, "off");
	c->accel_set = true;
	return -1;
}

static int parse_option(struct emu_config *c, int opt, const char **shell)
{
	switch (opt) {
	case OPT_ARCH: c->arch = optarg; break;
	case OPT_ROOTFS: c->rootfs = optarg; break;
	case OPT_IMAGE: c->image = optarg; break;
	case OPT_OVERLAY: c->overlay = true; break;
	case OPT_UNSAFE_NO_USERNS: c->unsafe_no_userns = true; break;
	case 'w': c->workdir = optarg; break;
	case 'e': return add_env(c, optarg, false);
	case OPT_ENV_FILE: return add_env(c, optarg, true);
	case 'u': c->user = optarg; break;
	case OPT_BIND: return add_bind(c, optarg);
	case OPT_NETWORK:
		if (strcmp(optarg, "host") && strcmp(optarg, "none"))
			return usage_error("--network '%s': host or none", optarg);
		c->network = strcmp(optarg, "none") ? EMU_NET_HOST : EMU_NET_NONE;
		break;
	case OPT_QEMU: c->qemu = optarg; break;
	case OPT_CPU: c->cpu = optarg; break;
	case OPT_ACCEL: return set_accel(c, optarg, "--accel");
	case OPT_ACCEL_ROOT: c->accel_root = optarg; break;
	case OPT_SHELL: *shell = optarg; break;
	case 'v': c->verbose = true; break;
	case 'h': usage(); return 0;
	case 'V': printf("%s from binfmt-installer %s\n", prog, BINFMT_VERSION); return 0;
	default:
		fprintf(stderr, "Try '%s --help' for more information.\n", prog);
		return EMU_EXIT_ERROR;
	}
	return -1;
}

/* --shell STEP [ARG...] is /bin/sh -c STEP [ARG...]: the args become $0, $1... */
static int set_command(struct emu_config *c, const char *shell, int argc, char **argv)
{
	int n = argc - optind;

	if (!shell) {
		if (n == 0)
			return usage_error("no command given");
		c->argv = argv + optind;
		return -1;
	}
	c->argv = calloc((size_t)n + 4, sizeof(*c->argv));
	if (!c->argv)
		return usage_error("out of memory");
	c->argv[0] = (char *)"/bin/sh";
	c->argv[1] = (char *)"-c";
	c->argv[2] = (char *)shell;
	memcpy(c->argv + 3, argv + optind, (size_t)n * sizeof(*argv));
	return -1;
}

/* TARGET*: the platform as typed when it names the same target (keeps
 * linux/arm/v6 or amd64/v3), else the target's own platform. */
static void set_platforms(struct emu_config *c)
{
	const struct target *t;
	struct platform p;

	snprintf(c->platform.os, sizeof(c->platform.os), "linux");
	snprintf(c->platform.arch, sizeof(c->platform.arch), "%s", c->target->cpu);
	if (c->target->platform && platform_parse(c->target->platform, &p) == 0)
		c->platform = p;
	if (strchr(c->arch, '/') && target_resolve(c->arch, &t) == 0 && t == c->target &&
	    platform_parse(c->arch, &p) == 0)
		c->platform = p;
	if (platform_host(&p) == 0)
		c->build_platform = p;
}

static int resolve_arch(struct emu_config *c)
{
	struct utsname u;
	int r;

	if (!c->arch)
		return usage_error("missing --arch PLATFORM");
	r = target_resolve(c->arch, &c->target);
	if (r == -EOPNOTSUPP)
		return usage_error("--arch %s: emu-run runs Linux programs only", c->arch);
	if (r < 0) {
		/* The library's list ends with the installer's "all". */
		const char *names = targets_accepted_names(), *all = strstr(names, ", or 'all'");
		return usage_error("unknown architecture '%s'; accepted: %.*s", c->arch,
				   (int)(all ? (size_t)(all - names) : strlen(names)), names);
	}
	uname(&u);
	c->host = target_for_machine(u.machine);
	/* The host's own platform needs no emulator, and registering it would
	 * make every exec loop. The rest of its family usually runs natively
	 * too, but not always (ia32_emulation=0, arm64 cores without AArch32):
	 * that is decided by executing its probe (emulation.c). */
	c->native = c->host && c->target == c->host;
	c->compat = !c->native && target_same_family(c->target, c->host);
	set_platforms(c);
	return -1;
}

int emu_parse_args(int argc, char **argv, struct emu_config *c)
{
	static const struct option longopts[] = {
		{ "arch", required_argument, NULL, OPT_ARCH },
		{ "rootfs", required_argument, NULL, OPT_ROOTFS },
		{ "image", required_argument, NULL, OPT_IMAGE },
		{ "overlay", no_argument, NULL, OPT_OVERLAY },
		{ "unsafe-no-userns", no_argument, NULL, OPT_UNSAFE_NO_USERNS },
		{ "workdir", required_argument, NULL, 'w' },
		{ "env", required_argument, NULL, 'e' },
		{ "env-file", required_argument, NULL, OPT_ENV_FILE },
		{ "user", required_argument, NULL, 'u' },
		{ "bind", required_argument, NULL, OPT_BIND },
		{ "network", required_argument, NULL, OPT_NETWORK },
		{ "qemu", required_argument, NULL, OPT_QEMU },
		{ "cpu", required_argument, NULL, OPT_CPU },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "accel-root", required_argument, NULL, OPT_ACCEL_ROOT },
		{ "shell", required_argument, NULL, OPT_SHELL },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *shell = NULL, *e;
	int opt, rc;

	/* "+": options end at the command, whose own options are its business.
	 * optind = 0 makes glibc start afresh, so a second parse works too. */
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+w:e:u:vhV", longopts, NULL)) != -1)
		if ((rc = parse_option(c, opt, &shell)) >= 0)
			return rc;
	if ((rc = resolve_arch(c)) >= 0)
		return rc;
	if (c->image && c->rootfs)
		return usage_error("--image and --rootfs are mutually exclusive");
	if (c->overlay && !c->rootfs && !c->image)
		return usage_error("--overlay needs --rootfs (--image implies it)");
	/* The environment's value only where no option gave one; an empty one is unset. */
	e = getenv(EMU_ENV_ACCEL);
	if (!c->accel_set && e && *e && (rc = set_accel(c, e, EMU_ENV_ACCEL)) >= 0)
		return rc;
	e = getenv(EMU_ENV_ACCEL_ROOT);
	if (!c->accel_root && e && *e)
		c->accel_root = e;
	e = getenv(EMU_ENV_NO_PRIVATE);
	/* Off as binfmt reads QEMU_PRESERVE_ARGV0: empty, 0, false, no, off. */
	c->no_private_binfmt = e && *e && strcmp(e, "0") != 0 && strcasecmp(e, "false") != 0 &&
			       strcasecmp(e, "no") != 0 && strcasecmp(e, "off") != 0;
	return set_command(c, shell, argc, argv);
}


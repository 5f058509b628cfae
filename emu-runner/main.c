/* SPDX-License-Identifier: MIT */
/*
 * emu-run: run a command for a foreign architecture - a Dockerfile RUN step
 * in a rootfs, or a foreign program from the host's filesystem - rootless
 * where the kernel allows, leaving the host's binfmt_misc registry untouched.
 * options.c turns argv into a configuration; unpack.c turns --image into a
 * cached root; run.c does the work.
 */
#include <getopt.h>
#include <stdlib.h>

#include "emu.h"

int main(int argc, char **argv)
{
	struct emu_config c = { 0 };
	int rc = emu_parse_args(argc, argv, &c);

	if (rc < 0 && c.image) {
		struct bi_error err = { 0 };
		if (image_prepare(&c, &err) < 0) {
			emu_err("%s", err.msg);
			rc = EMU_EXIT_ERROR;
		}
	}
	if (rc < 0)
		rc = emu_run(&c);
	emu_config_free(&c, argv);
	return rc;
}

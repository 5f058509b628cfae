/* SPDX-License-Identifier: MIT */
/* Write the project's probe program for a platform (a minimal static ELF whose
 * entry point makes the exit system call; binfmt/lib/probe.c) to a file:
 *   mkprobe linux/arm64 FILE
 * bench/execcost.sh uses it to time a foreign exec from execve to exit. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "probe.h"

int main(int argc, char **argv)
{
	uint8_t buf[PROBE_MAX_SIZE];
	const struct probe *p;
	int n, fd;

	if (argc != 3 || !(p = probe_for_platform(argv[1]))) {
		fprintf(stderr, "usage: mkprobe PLATFORM FILE\n");
		return 2;
	}
	n = probe_image(p, buf, sizeof(buf));
	if (n < 0)
		return 1;
	fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) < 0) {
		perror(argv[2]);
		return 1;
	}
	return 0;
}

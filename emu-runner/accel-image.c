/* SPDX-License-Identifier: MIT */
/*
 * The launcher (launcher/emu-run-accel.c, a static program of the host's
 * architecture) inside emu-run, so that emu-run needs no file beside it:
 * accel.c writes these bytes into the step's ACCEL_DIR. ACCEL_LAUNCHER is
 * its path in the build tree (the Makefile builds it first).
 */
#ifndef ACCEL_LAUNCHER
#error "ACCEL_LAUNCHER (the launcher's path) must be defined"
#endif

__asm__(".section .rodata.emu_run_accel,\"a\"\n"
	".balign 16\n"
	".globl accel_launcher_start\n"
	".hidden accel_launcher_start\n"
	"accel_launcher_start:\n"
	".incbin \"" ACCEL_LAUNCHER "\"\n"
	"accel_launcher_end:\n"
	/* Its size, as a constant: the two labels are one object to the assembler only. */
	".balign 8\n"
	".globl accel_launcher_size\n"
	".hidden accel_launcher_size\n"
	"accel_launcher_size:\n"
	".quad accel_launcher_end - accel_launcher_start\n"
	".previous\n");

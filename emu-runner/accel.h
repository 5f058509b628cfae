/* SPDX-License-Identifier: MIT */
/*
 * What emu-run (accel.c) and its launcher (launcher/emu-run-accel.c) agree on:
 * where the step finds the native tools, and the table naming them.
 */
#ifndef EMU_ACCEL_H
#define EMU_ACCEL_H

/* A read-only tmpfs of emu-run's in the step's /dev (emu-run's own tmpfs
 * too): nothing in the root is created for it, on disk or in the tree. */
#define ACCEL_DIR "/dev/.emu-run-accel"
#define ACCEL_TABLE "tools"
#define ACCEL_TABLE_MAX 65536

#endif

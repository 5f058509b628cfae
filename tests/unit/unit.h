/* SPDX-License-Identifier: MIT */
/* Common includes for cmocka unit tests. Run with CMOCKA_MESSAGE_OUTPUT=TAP. */
#ifndef UNIT_H
#define UNIT_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#endif

/* SPDX-License-Identifier: MIT */
/* A static "emulator" that misbehaves on purpose, registered in private
 * binfmt_misc instances to test how detection explains failures. Built three
 * times: -DCRASH (dies of SIGSEGV), -DHANG (never exits), -DEXIT=N. */
#include <signal.h>
#include <unistd.h>

int main(void)
{
#if defined(CRASH)
	raise(SIGSEGV);
#elif defined(HANG)
	for (;;)
		pause();
#elif defined(EXIT)
	return EXIT;
#endif
	return 0;
}

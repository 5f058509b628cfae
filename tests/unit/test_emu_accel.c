/* SPDX-License-Identifier: MIT */
/*
 * The compile-acceleration gate (emu-runner/accel.c, compiled into this test
 * with resolve.c; emu_note collects the --verbose lines here): dpkg's status and file lists read as dpkg
 * writes them, the cross suffix, and accel_prepare over a made-up root and
 * host tree, where only equal Debian versions pass and the host's absolute
 * symlinks (its loader's) resolve inside the host tree. What runs natively and
 * that its output is the emulated one's is tests/integration/80-emu-run-accel.sh.
 */
#include "../../emu-runner/accel.c"
#include "../../emu-runner/resolve.c"

#include <sys/stat.h>

#include "unit.h"

/* The --verbose lines, one per line. */
#include "emu-notes.h"

/* accel_check's (never called here: it needs the sandbox). */
int emulation_set_interpreter(const struct emu_config *c, struct emulation *em, const char *interp,
			      const char *qemu_here, struct bi_error *err)
{
	(void)c, (void)em, (void)interp, (void)qemu_here;
	return bi_error_set(err, -ENOSYS, "not in this test");
}

/* accel-image.c's symbols: accel_prepare never writes the launcher. */
const unsigned char accel_launcher_start[1] = { 0 };
const uint64_t accel_launcher_size = 1;

static const char status[] = "Package: cpp-14-aarch64-linux-gnu\n"
			     "Status: deinstall ok config-files\n"
			     "Version: 14.1.0-1\n"
			     "\n"
			     "Package: cpp-14\n"
			     "Status: install ok installed\n"
			     "Version: 14.2.0-19\n"
			     "\n"
			     "Package: cpp-14-aarch64-linux-gnu\n"
			     "Status: install ok installed\n"
			     "Priority: optional\n"
			     "Version: 14.2.0-19\n"
			     "\n";

static void test_pkg_version(void **state)
{
	char v[64];

	(void)state;
	pkg_version(status, "cpp-14-aarch64-linux-gnu", v, sizeof(v));
	assert_string_equal(v, "14.2.0-19"); /* the installed stanza, not the removed one */
	pkg_version(status, "cpp-14", v, sizeof(v));
	assert_string_equal(v, "14.2.0-19");
	pkg_version(status, "cpp-1", v, sizeof(v)); /* a prefix of a name is no name */
	assert_string_equal(v, "");
	pkg_version(status, "aarch64-linux-gnu", v, sizeof(v)); /* nor a suffix */
	assert_string_equal(v, "");
	pkg_version(NULL, "cpp-14", v, sizeof(v));
	assert_string_equal(v, "");
}

static void test_strip_cross(void **state)
{
	char a[] = "14.2.0-19cross1", b[] = "2.44-3", c[] = "1.0-1crossX", d[] = "1.0-1cross";

	(void)state;
	strip_cross(a);
	strip_cross(b);
	strip_cross(c);
	strip_cross(d);
	assert_string_equal(a, "14.2.0-19");
	assert_string_equal(b, "2.44-3");
	assert_string_equal(c, "1.0-1crossX");
	assert_string_equal(d, "1.0-1cross");
}

static void put(const char *dir, const char *rel, const char *text)
{
	char p[PATH_MAX], cmd[PATH_MAX + 32];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", p);
	assert_int_equal(system(cmd), 0);
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	fclose(f);
}

/* A root with cc1 and as, a host tree with their cross tools at `hver`. */
static void make_trees(const char *root, const char *host, const char *hver)
{
	char st[512], lnk[PATH_MAX];

	put(root, "usr/libexec/gcc/aarch64-linux-gnu/14/cc1", "");
	put(root, "usr/bin/aarch64-linux-gnu-as", "");
	put(root, "var/lib/dpkg/info/cpp-14-aarch64-linux-gnu.list",
	    "/usr/libexec\n/usr/libexec/gcc/aarch64-linux-gnu/14/cc1\n");
	put(root, "var/lib/dpkg/info/binutils-aarch64-linux-gnu.list", "/usr/bin/aarch64-linux-gnu-as\n");
	put(root, "var/lib/dpkg/status",
	    "Package: cpp-14-aarch64-linux-gnu\nStatus: install ok installed\nVersion: 14.2.0-19\n\n"
	    "Package: binutils-aarch64-linux-gnu\nStatus: install ok installed\nVersion: 2.44-3\n\n");
	put(host, "usr/libexec/gcc-cross/aarch64-linux-gnu/14/cc1", "");
	put(host, "usr/bin/aarch64-linux-gnu-as", "");
	put(host, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "");
	put(host, "var/lib/dpkg/info/cpp-14-aarch64-linux-gnu.list", "/usr/libexec/gcc-cross/aarch64-linux-gnu/14/cc1\n");
	put(host, "var/lib/dpkg/info/binutils-aarch64-linux-gnu.list", "/usr/bin/aarch64-linux-gnu-as\n");
	snprintf(st, sizeof(st),
		 "Package: cpp-14-aarch64-linux-gnu\nStatus: install ok installed\nVersion: %scross1\n\n"
		 "Package: binutils-aarch64-linux-gnu\nStatus: install ok installed\nVersion: 2.44-3\n\n",
		 hver);
	put(host, "var/lib/dpkg/status", st);
	/* Debian's: /lib64 -> usr/lib64, whose loader is an absolute symlink. */
	snprintf(lnk, sizeof(lnk), "%s/usr/lib64", host);
	mkdir(lnk, 0755);
	snprintf(lnk, sizeof(lnk), "%s/usr/lib64/ld-linux-x86-64.so.2", host);
	assert_int_equal(symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", lnk), 0);
	snprintf(lnk, sizeof(lnk), "%s/lib64", host);
	assert_int_equal(symlink("usr/lib64", lnk), 0);
	snprintf(lnk, sizeof(lnk), "%s/lib", host);
	assert_int_equal(symlink("usr/lib", lnk), 0);
}

/* valgrind 3.19 has no openat2 (syscall 437: ENOSYS), which root_open needs:
 * under it the gate's tests are skipped, saying so; they run natively and
 * under ASan. */
static bool have_openat2(void)
{
	int fd = root_open(AT_FDCWD, "/", O_PATH | O_CLOEXEC, false);

	if (fd >= 0)
		close(fd);
	return fd != -ENOSYS;
}

static void prepare(const char *hver, struct accel *a, char *host_real)
{
	char root[] = "/tmp/test-accel-root.XXXXXX", host[] = "/tmp/test-accel-host.XXXXXX", cmd[128];
	struct emu_config c = { 0 };
	int rootfd;

	assert_non_null(mkdtemp(root));
	assert_non_null(mkdtemp(host));
	make_trees(root, host, hver);
	c.target = target_by_cpu("aarch64");
	c.host = target_by_cpu("x86_64");
	c.accel_root = host;
	notes[0] = '\0';
	assert_true((rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0);
	accel_prepare(&c, rootfd, a);
	close(rootfd);
	assert_non_null(realpath(host, host_real));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", root, host);
	assert_int_equal(system(cmd), 0);
}

static void test_prepare_same_version(void **state)
{
	static struct accel a;
	char host[PATH_MAX], want[PATH_MAX + 64];

	(void)state;
	if (!have_openat2()) {
		print_message("no openat2 here (valgrind): skipped\n");
		skip();
	}
	prepare("14.2.0-19", &a, host);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.tools[0].root, "/usr/libexec/gcc/aarch64-linux-gnu/14/cc1");
	snprintf(want, sizeof(want), "%s/usr/libexec/gcc-cross/aarch64-linux-gnu/14/cc1", host);
	assert_string_equal(a.tools[0].host, want);
	assert_string_equal(a.tools[0].kind, "c");
	assert_true(a.tools[0].gcc);
	assert_string_equal(a.tools[0].want, "(Debian 14.2.0-19) version ");
	assert_string_equal(a.tools[0].want2, "(aarch64-linux-gnu)");
	assert_string_equal(a.tools[1].root, "/usr/bin/aarch64-linux-gnu-as");
	assert_string_equal(a.tools[1].kind, "plain");
	assert_string_equal(a.tools[1].want, "GNU assembler (GNU Binutils for Debian) 2.44");
	/* The loader: /lib64/ld-linux-x86-64.so.2 resolved inside the host tree. */
	snprintf(want, sizeof(want), "%s/usr/lib/x86_64-linux-gnu", host);
	assert_string_equal(a.libdir, want);
	assert_string_equal(a.loader, "ld-linux-x86-64.so.2");
}

static void test_prepare_other_revision(void **state)
{
	static struct accel a;
	char host[PATH_MAX];

	(void)state;
	if (!have_openat2()) {
		print_message("no openat2 here (valgrind): skipped\n");
		skip();
	}
	/* The upstream version alone (14.2.0) is not the same compiler: only as passes. */
	prepare("14.2.0-18", &a, host);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.tools[0].root, "/usr/bin/aarch64-linux-gnu-as");
	assert_non_null(strstr(notes, "accel: /usr/libexec/gcc/aarch64-linux-gnu/14/cc1 stays emulated: the root has "
				      "cpp-14-aarch64-linux-gnu 14.2.0-19, the host's cross tool is "
				      "cpp-14-aarch64-linux-gnu 14.2.0-18cross1: not the same compiler\n"));
}

static void test_prepare_off(void **state)
{
	static struct accel a;
	struct emu_config c = { 0 };
	int fd;

	(void)state;
	c.target = target_by_cpu("aarch64");
	c.host = target_by_cpu("x86_64");
	c.accel_off = true;
	assert_true((fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0);
	notes[0] = '\0';
	accel_prepare(&c, fd, &a);
	close(fd);
	assert_int_equal(a.n, 0);
	assert_non_null(strstr(notes, "accel: off"));
	c.accel_off = false;
	accel_prepare(&c, -1, &a); /* no root: nothing to accelerate */
	assert_int_equal(a.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkg_version),
		cmocka_unit_test(test_strip_cross),
		cmocka_unit_test(test_prepare_same_version),
		cmocka_unit_test(test_prepare_other_revision),
		cmocka_unit_test(test_prepare_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

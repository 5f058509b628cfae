# binfmt-installer — see README.md.
#   make            build build/bin/binfmt (and emu-run once it exists)
#   make run        deps, build, stage pinned QEMU, register every emulator here, print the status
#   make qemu       stage the pinned static QEMU emulators into build/qemu (see qemu-static/)
#   make check      build and run every test (installs missing test deps first)
#   make corpus     real Debian roots bootstrapped under the staged QEMU (tests/corpus/corpus.sh)
#   make deps       install Debian 12 build and test dependencies (idempotent)
#   make install    PREFIX=/usr/local DESTDIR=

VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
BUILD     ?= build
CC        ?= cc
PKG_CONFIG ?= pkg-config
PKGS      := mount libkmod jansson libcap libelf   # libmount's module is called 'mount'

# Make sure a missing -dev package fails loudly instead of silently dropping flags.
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null || echo PKG_CONFIG_FAILED)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo PKG_CONFIG_FAILED)
ifneq ($(filter PKG_CONFIG_FAILED,$(PKG_CFLAGS) $(PKG_LIBS)),)
ifeq ($(filter deps check clean,$(MAKECMDGOALS)),)
$(error pkg-config cannot find $(PKGS): run 'make deps' (Debian: libmount-dev libkmod-dev libjansson-dev libcap-dev libelf-dev))
endif
endif

WARNINGS := -Wall -Wextra -Werror -Wformat=2 -Wformat-security -Wshadow \
            -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
            -Wvla -Wundef -Wcast-align -Wwrite-strings -Wimplicit-fallthrough \
            -Wno-missing-field-initializers
CFLAGS   ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -DBINFMT_VERSION='"$(VERSION)"' -Ibinfmt/lib
ALL_CFLAGS = -std=gnu11 $(WARNINGS) -fstack-protector-strong -fPIE $(CFLAGS) $(PKG_CFLAGS)
LDFLAGS  += -pie -Wl,-z,relro,-z,now

ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS    += -fsanitize=$(SANITIZE)
else
CPPFLAGS   += -D_FORTIFY_SOURCE=2
endif

# Quiet by default; V=1 shows the commands.
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

LIB_SRC  := $(sort $(wildcard binfmt/lib/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libbinfmt.a
BINFMT_SRC := $(sort $(wildcard binfmt/cli/*.c))
BINFMT_OBJ := $(BINFMT_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all check deps install uninstall clean fixtures unit run

all: $(BUILD)/bin/binfmt $(BUILD)/bin/emu-run

$(BUILD)/obj/%.o: %.c $(wildcard binfmt/lib/*.h)
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# libkmod and libmount are dlopen()ed only when the module must be loaded or
# binfmt_misc mounted (binfmt/lib/mount.c): binfmt does not link them, so every
# run does not load them and the six libraries they pull in.
BINFMT_LIBS := $(filter-out -lkmod -lmount,$(PKG_LIBS))
$(BUILD)/bin/binfmt: $(BINFMT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(BINFMT_OBJ) $(LIB) $(BINFMT_LIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(LIB)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -DTEST_DATA_DIR='"$(CURDIR)/tests/data"' $(ALL_CFLAGS) $(LDFLAGS) \
		-o $@ $< $(LIB) $(PKG_LIBS) -lcmocka

deps:
	tests/deps.sh

fixtures:
	tests/fixtures/fetch.sh
	tests/fixtures/sources.sh
	BUILD=$(BUILD) tests/fixtures/debian-roots.sh

# A minimal autofs daemon the integration tests use to test automount handling.
AUTOFSD := $(BUILD)/tests/autofsd
$(AUTOFSD): tests/helpers/autofsd.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE $(WARNINGS) -O2 -o $@ $<

# Static emulators that crash, hang or exit 3, for the detection tests.
FAKE_EMUS := $(BUILD)/tests/fake-emu-crash $(BUILD)/tests/fake-emu-hang $(BUILD)/tests/fake-emu-exit3
$(BUILD)/tests/fake-emu-%: tests/helpers/fake-emulator.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 $(WARNINGS) -O2 -static $(if $(filter crash,$*),-DCRASH,$(if $(filter hang,$*),-DHANG,-DEXIT=3)) -o $@ $<

# What CPU levels a program sees, run the way binfmt is run (under valgrind when
# binfmt is), for the tests' expectations: built like binfmt, so a sanitized
# build's helper carries the same runtime (tests/helpers/cpu-view.c).
# It needs gcc >= 12's x86-64-vN names of __builtin_cpu_supports: a clang build
# (make CC=clang) builds this one helper with gcc (flags alike; a clang-only
# flag in CFLAGS would need CPU_VIEW_CC set by hand).
CPU_VIEW := $(BUILD)/tests/cpu-view
CPU_VIEW_CC ?= $(if $(findstring clang,$(CC)),gcc,$(CC))
$(CPU_VIEW): tests/helpers/cpu-view.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CPU_VIEW_CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $<

unit: $(UNIT_BIN) $(AUTOFSD) $(FAKE_EMUS) $(CPU_VIEW)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

# The test command: dependencies, build, fixtures, then every test through prove(1).
check:
	tests/deps.sh
	$(MAKE) all unit
	$(MAKE) qemu
	tests/fixtures/fetch.sh
	tests/fixtures/sources.sh
	BUILD=$(BUILD) tests/fixtures/debian-roots.sh
	BUILD=$(BUILD) tests/run

# The main job: dependencies, build, register every emulator on this host, show the result.
run:
	tests/deps.sh
	$(MAKE) all qemu
	$(BUILD)/bin/binfmt --install all

install: all
	install -D -m 0755 $(BUILD)/bin/binfmt $(DESTDIR)$(PREFIX)/sbin/binfmt
	install -D -m 0644 binfmt/binfmt.8 $(DESTDIR)$(PREFIX)/share/man/man8/binfmt.8
	install -D -m 0755 $(BUILD)/bin/emu-run $(DESTDIR)$(PREFIX)/bin/emu-run
	install -D -m 0644 emu-runner/emu-run.1 $(DESTDIR)$(PREFIX)/share/man/man1/emu-run.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/binfmt $(DESTDIR)$(PREFIX)/share/man/man8/binfmt.8
	rm -f $(DESTDIR)$(PREFIX)/bin/emu-run $(DESTDIR)$(PREFIX)/share/man/man1/emu-run.1

clean:
	rm -rf $(BUILD)

# --- QEMU user-mode emulators (qemu-static/) ------------------------------------------
#   make qemu                  stage the pinned static emulators for this machine in build/qemu
#   make qemu HOST_ARCH=arm64  ... for an arm64 host, in build/qemu-arm64
#   make qemu-pin              refresh qemu-static/manifest to the current Debian package
#   QEMU_SERIES=11.1           another pinned QEMU series: qemu-static/manifest-11.1 instead of
#                              qemu-static/manifest (the default series, QEMU 10.0)
#   QEMU_PAYLOAD=debian        Debian's qemu-user binaries, as the manifest pins them (the
#                              default for a binary-only pin: one without a src record)
#   QEMU_PAYLOAD=rebuilt       the same QEMU rebuilt here from Debian's pinned source without
#                              capstone, linked static (qemu-static/build.sh; cached, about
#                              15 minutes the first time); other host architectures: debian
QEMU_BUILD_ARCH = $(shell dpkg --print-architecture 2>/dev/null)
QEMU_HOST_ARCH  = $(or $(HOST_ARCH),$(QEMU_BUILD_ARCH))
QEMU_OUT        = $(if $(filter $(QEMU_BUILD_ARCH),$(QEMU_HOST_ARCH)),$(BUILD)/qemu,$(BUILD)/qemu-$(QEMU_HOST_ARCH))
# The series of the default manifest ("10.0"), from its deb record's QEMU version.
QEMU_DEFAULT_SERIES := $(shell awk '$$1 == "deb" { split($$4, v, "."); print v[1] "." v[2]; exit }' qemu-static/manifest 2>/dev/null)
QEMU_SERIES    ?= $(QEMU_DEFAULT_SERIES)
QEMU_MANIFEST   = $(if $(filter $(QEMU_DEFAULT_SERIES),$(QEMU_SERIES)),qemu-static/manifest,qemu-static/manifest-$(QEMU_SERIES))
QEMU_SERIES_ALL = $(QEMU_DEFAULT_SERIES) $(patsubst qemu-static/manifest-%,%,$(wildcard qemu-static/manifest-*))
QEMU_PAYLOAD   ?= $(if $(shell awk '$$1 == "src" { print; exit }' $(QEMU_MANIFEST) 2>/dev/null),rebuilt,debian)
QEMU_PAYLOAD_FOR_HOST = $(if $(filter $(QEMU_BUILD_ARCH),$(QEMU_HOST_ARCH)),$(QEMU_PAYLOAD),debian)
QEMU_ELFCHECK   = $(BUILD)/bin/elfcheck
QEMU_ELF_LIBS   = $(shell $(PKG_CONFIG) --libs libelf 2>/dev/null || echo -lelf)

.PHONY: qemu qemu-pin qemu-series-check

$(QEMU_ELFCHECK): qemu-static/elfcheck.c
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(QEMU_ELF_LIBS)

qemu-series-check:
	@test -r $(QEMU_MANIFEST) || { echo "make: QEMU_SERIES=$(QEMU_SERIES): no $(QEMU_MANIFEST); pinned series: $(QEMU_SERIES_ALL)" >&2; exit 2; }

qemu: $(QEMU_ELFCHECK) qemu-series-check
	QEMU_STATIC_MANIFEST=$(QEMU_MANIFEST) ELFCHECK=$(QEMU_ELFCHECK) qemu-static/stage.sh --host-arch $(QEMU_HOST_ARCH) --payload $(QEMU_PAYLOAD_FOR_HOST) --out $(QEMU_OUT)

qemu-pin: $(QEMU_ELFCHECK) qemu-series-check
	QEMU_STATIC_MANIFEST=$(QEMU_MANIFEST) ELFCHECK=$(QEMU_ELFCHECK) qemu-static/pin.sh

# --- emu-run (emu-runner/) ---------------------------------------------------------------
# --as-needed: every library loaded costs each run startup time (emu-run's
# overhead over bare QEMU is what users feel); link only what is used.
EMU_SRC := $(sort $(wildcard emu-runner/*.c))
EMU_OBJ := $(EMU_SRC:%.c=$(BUILD)/obj/%.o)
# tests/unit/test_emu_*.c compile the emu-runner source they test into themselves.
$(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_emu_*.c)): $(EMU_SRC) emu-runner/emu.h tests/unit/emu-notes.h

$(BUILD)/obj/emu-runner/%.o: emu-runner/%.c emu-runner/emu.h $(wildcard binfmt/lib/*.h)
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# --image (unpack.c): libarchive reads the tars and their compression, nettle
# (which libarchive links anyway) checks sha256 digests. emu-run only. libarchive
# is dlopen()ed by unpack.c (its header types the calls), so only nettle is linked.
EMU_PKGS   := libarchive nettle
EMU_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(EMU_PKGS) 2>/dev/null || echo PKG_CONFIG_FAILED)
EMU_LIBS   := $(shell $(PKG_CONFIG) --libs nettle 2>/dev/null || echo PKG_CONFIG_FAILED)
# Checked when emu-run is built, not at parse time: the image's cross builds of
# binfmt alone (packaging/image/build.sh, an arm64 sysroot) have no libarchive.
EMU_PKG_CHECK = $(if $(filter PKG_CONFIG_FAILED,$(EMU_CFLAGS) $(EMU_LIBS)), \
	@echo "pkg-config cannot find $(EMU_PKGS): run 'make deps' (Debian: libarchive-dev nettle-dev)" >&2; exit 1)
$(BUILD)/obj/emu-runner/unpack.o: emu-runner/unpack.c emu-runner/emu.h $(wildcard binfmt/lib/*.h)
	$(EMU_PKG_CHECK)
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(EMU_CFLAGS) -c -o $@ $<

# The compile-acceleration launcher (emu-runner/accel.c): static, of the host's
# architecture, without sanitizers (it runs in foreign roots, where no runtime
# of ours is), embedded into emu-run by accel-image.c.
ACCEL_LAUNCHER := $(BUILD)/libexec/emu-run-accel
$(ACCEL_LAUNCHER): emu-runner/launcher/emu-run-accel.c emu-runner/accel.h
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE $(WARNINGS) -O2 -static -s -o $@ $<
$(BUILD)/obj/emu-runner/accel-image.o: emu-runner/accel-image.c $(ACCEL_LAUNCHER)
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) -DACCEL_LAUNCHER='"$(ACCEL_LAUNCHER)"' $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/bin/emu-run: $(EMU_OBJ) $(LIB)
	$(EMU_PKG_CHECK)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Wl,--as-needed -o $@ $(EMU_OBJ) $(LIB) $(PKG_LIBS) $(EMU_LIBS)

# === hardening: fuzzing, sanitizers, valgrind, lint (issue 7; docs/security.md) ===========
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="register entry ..."]
#                          libFuzzer (clang, ASan+UBSan): each target for FUZZ_SECONDS, seeded
#                          from tests/fuzz/corpus/<target>; new inputs go to $(FUZZ_BUILD)/corpus,
#                          findings to $(FUZZ_BUILD)/artifacts (keep each as a corpus file)
#   make sanitize-check    make check with ASan+UBSan, in its own build dir (build-asan)
#   make valgrind-check    unit tests and fuzz replays under valgrind, then the test scripts
#                          with binfmt under valgrind (tests/faults/valgrind-binfmt)
#   make lint              cppcheck and clang-tidy with the committed configuration
# make check builds fuzz-replay-<target> (the targets without libFuzzer, any compiler) and
# the errno shim; tests/integration/90-fuzz-corpus.sh and 95-faults*.sh use them.
FUZZ_TARGETS ?= register entry platform cli elf emu emucli image
FUZZ_SECONDS ?= 60
FUZZ_BUILD   ?= build-fuzz
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CPPFLAGS = -D_GNU_SOURCE -DBINFMT_VERSION='"$(VERSION)"' -Ibinfmt/lib -Ibinfmt/cli -Iemu-runner -Itests/fuzz
FUZZ_EMU_SRC := emu-runner/user.c emu-runner/env.c emu-runner/resolve.c emu-runner/options.c emu-runner/image.c
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_BUILD)/obj/binfmt/cli/options.o $(FUZZ_BUILD)/obj/binfmt/cli/message.o \
                $(FUZZ_BUILD)/obj/tests/fuzz/kmodel.o $(FUZZ_EMU_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_HDRS     = $(wildcard binfmt/lib/*.h) binfmt/cli/options.h binfmt/cli/message.h emu-runner/emu.h tests/fuzz/fuzz.h tests/fuzz/kmodel.h
FUZZ_REPLAY  := $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz-replay-%)
ERRNO_SHIM   := $(BUILD)/tests/errno_shim.so
VALGRIND_BINFMT := $(BUILD)/valgrind/binfmt
VALGRIND     ?= valgrind
VALGRIND_OPTS ?= --error-exitcode=99 -q --leak-check=full --errors-for-leak-kinds=definite \
                 --show-leak-kinds=definite --trace-children=no
CPPCHECK     ?= cppcheck
CLANG_TIDY   ?= clang-tidy
# Every C file: the library, both programs, the tests, their helpers, the benchmarks.
LINT_SRC      = $(LIB_SRC) $(BINFMT_SRC) $(filter-out emu-runner/accel-image.c,$(EMU_SRC)) emu-runner/launcher/emu-run-accel.c $(wildcard tests/fuzz/*.c) tests/faults/errno_shim.c \
                $(wildcard tests/unit/*.c tests/helpers/*.c bench/*.c)
LINT_INC      = -Ibinfmt/lib -Ibinfmt/cli -Iemu-runner -Itests/fuzz

.PHONY: fuzz fuzz-build sanitize-check valgrind-check lint

$(BINFMT_OBJ): binfmt/cli/options.h binfmt/cli/message.h

# The libFuzzer build: everything instrumented for coverage, objects in $(FUZZ_BUILD)/obj.
$(FUZZ_BUILD)/obj/%.o: %.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ) $(FUZZ_HDRS)
	$(call msg,LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $< $(FUZZ_LIB_OBJ) $(PKG_LIBS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
.SECONDARY: $(FUZZ_LIB_OBJ)

# -close_fd_mask=3: the CLI target's usage errors would flood the log; libFuzzer
# and the sanitizers still report on a duplicate of stderr.
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t || exit 1; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			-close_fd_mask=3 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
			$(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t >$(FUZZ_BUILD)/fuzz-$$t.log 2>&1; rc=$$?; \
		grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY|.*property failed|Test unit written)' \
			$(FUZZ_BUILD)/fuzz-$$t.log; \
		[ $$rc -eq 0 ] || { echo "fuzz: $$t FAILED (log $(FUZZ_BUILD)/fuzz-$$t.log)"; exit 1; }; \
	done

# The same targets as plain programs over files (tests/fuzz/replay.c), built like
# everything else, so make check and SANITIZE builds replay every corpus.
FUZZ_REPLAY_OBJ = $(BUILD)/obj/binfmt/cli/options.o $(BUILD)/obj/binfmt/cli/message.o $(FUZZ_EMU_SRC:%.c=$(BUILD)/obj/%.o)
$(BUILD)/tests/fuzz-replay-%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/kmodel.c $(FUZZ_HDRS) $(LIB) \
		$(FUZZ_REPLAY_OBJ)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) -Ibinfmt/cli -Iemu-runner -Itests/fuzz $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< \
		tests/fuzz/replay.c tests/fuzz/kmodel.c $(FUZZ_REPLAY_OBJ) $(LIB) $(PKG_LIBS)

# LD_PRELOAD trap for the fault tests; never sanitized (it is preloaded into
# sanitized programs, which then need ASAN_OPTIONS=verify_asan_link_order=0).
$(ERRNO_SHIM): tests/faults/errno_shim.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 $(WARNINGS) -O2 -fPIC -shared -o $@ $< -ldl

unit: $(FUZZ_REPLAY) $(ERRNO_SHIM)

sanitize-check:
	$(MAKE) check SANITIZE=address,undefined BUILD=build-asan

# binfmt under valgrind for every test script: a wrapper in $(BUILD)/valgrind,
# so scripts that find helpers next to $BINFMT ($(BUILD)/tests) still do.
VALGRIND_RUN := $(BUILD)/valgrind/run
$(VALGRIND_BINFMT): tests/faults/valgrind-binfmt $(VALGRIND_RUN)
	@mkdir -p $(dir $@)
	$(Q)cp $< $@ && chmod 755 $@
$(VALGRIND_RUN): tests/faults/valgrind-run
	@mkdir -p $(dir $@)
	$(Q)cp $< $@ && chmod 755 $@

# Valgrind 3.19 ends a probe child whose execve fails (ENOEXEC, the "no handler"
# answer) with status 101, so 70-detect.sh, which asserts how failed probes are told
# apart, is left to the native and sanitized runs; 95-faults.sh skips those few
# assertions under BINFMT_VALGRIND. emu-run's scripts do not run binfmt.
VALGRIND_SCRIPTS = $(filter-out tests/integration/70-detect.sh tests/integration/80-emu-run% tests/integration/95-faults-emu-run.sh, \
                   $(sort $(wildcard tests/integration/[0-9]*.sh)))
valgrind-check:
	tests/deps.sh
	$(MAKE) all unit
	$(MAKE) qemu
	tests/fixtures/fetch.sh
	tests/fixtures/sources.sh
	BUILD=$(BUILD) tests/fixtures/debian-roots.sh
	$(MAKE) $(VALGRIND_BINFMT)
	@for t in $(UNIT_BIN); do \
		CMOCKA_MESSAGE_OUTPUT=TAP $(VALGRIND) $(VALGRIND_OPTS) $$t >/dev/null || \
			{ echo "valgrind-check: $$t failed under valgrind"; exit 1; }; \
	done; echo "valgrind-check: $(words $(UNIT_BIN)) unit test programs clean under valgrind"
	@for t in $(FUZZ_TARGETS); do \
		$(VALGRIND) $(VALGRIND_OPTS) $(BUILD)/tests/fuzz-replay-$$t tests/fuzz/corpus/$$t >/dev/null 2>&1 || \
			{ echo "valgrind-check: fuzz-replay-$$t failed under valgrind"; exit 1; }; \
	done; echo "valgrind-check: every fuzz corpus replays clean under valgrind"
	BINFMT=$(CURDIR)/$(VALGRIND_BINFMT) BINFMT_WRAPPER=$(CURDIR)/$(VALGRIND_RUN) BINFMT_VALGRIND=1 \
		BUILD=$(BUILD) prove --norc --failures $(VALGRIND_SCRIPTS)

# The same code built as a debugger would (-O0 -g) and by clang: both must stay
# warning-free under -Werror (gcc finds different truncations at -O0, clang
# different format and initialisation problems). Unit tests run in each.
.PHONY: build-variants
build-variants:
	$(MAKE) BUILD=$(BUILD)/variant-O0 CFLAGS="-O0 -g" all unit
	$(MAKE) BUILD=$(BUILD)/variant-clang CC=clang all unit
	@for t in $(BUILD)/variant-O0/tests/test_* $(BUILD)/variant-clang/tests/test_*; do \
		[ -x "$$t" ] || continue; "$$t" >/dev/null 2>&1 || { echo "build-variants: $$t failed"; exit 1; }; \
	done; echo "build-variants: -O0 -g and clang builds and their unit tests pass"

lint:
	@command -v $(CPPCHECK) >/dev/null && command -v $(CLANG_TIDY) >/dev/null || \
		{ apt-get -o DPkg::Lock::Timeout=300 update -qq && \
		  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq cppcheck clang-tidy; }
	$(CPPCHECK) --quiet --error-exitcode=1 --enable=warning,style,performance,portability \
		--std=c11 --inline-suppr --suppressions-list=.cppcheck-suppressions \
		-D_GNU_SOURCE -DBINFMT_VERSION='"$(VERSION)"' $(LINT_INC) $(LINT_SRC)
	@echo "  TIDY   $(words $(LINT_SRC)) files (.clang-tidy)"
	$(Q)printf '%s\n' $(LINT_SRC) | xargs -P $$(nproc) -I{} $(CLANG_TIDY) --quiet {} -- -std=gnu11 \
		-D_GNU_SOURCE -DBINFMT_VERSION='"$(VERSION)"' -DTEST_DATA_DIR='"$(CURDIR)/tests/data"' \
		$(LINT_INC) $(PKG_CFLAGS) $(EMU_CFLAGS)
# === end of hardening ==================================================================

# === image / e2e (owner: packaging/image, tests/e2e) ====================================
#   make image   the installer image: localhost/binfmt-installer:latest (OCI index of
#                linux/amd64 + linux/arm64, buildah), build/image/*.oci.tar and
#                *.docker.tar; loaded into Docker when an engine answers. See
#                packaging/image/build.sh. Needs root for buildah (installs what is missing).
#   make e2e     only the end-to-end tests (root: installs docker.io, buildah; starts and
#                stops a private dockerd; changes and restores the host's binfmt_misc)
.PHONY: image e2e
# The image is a release artifact: never sanitized, whatever the outer make was
# told. make exports command-line variables into the environment, hence -u
# SANITIZE; a sanitized BUILD gets a link to the unsanitized image in build/.
IMAGE_BUILD = $(if $(SANITIZE),build,$(BUILD))
image:
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE BUILD=$(IMAGE_BUILD) MAKE="$(MAKE)" \
		packaging/image/build.sh
	$(if $(SANITIZE),mkdir -p $(BUILD) && ln -sfn $(CURDIR)/$(IMAGE_BUILD)/image $(BUILD)/image)

e2e: all
	$(MAKE) qemu
	tests/fixtures/fetch.sh
	ROOT=$(CURDIR) BUILD=$(BUILD) prove --norc --failures tests/e2e/[0-9]*.sh
# === end of image / e2e =================================================================

# === Debian packages, boot unit, bash completion (owner: packaging/debian, packaging/systemd,
#     packaging/completion, packaging/kubernetes; tests/integration/90-packaging.sh) ==========
#   make deb   build/deb/binfmt-installer_<version>_<arch>.deb (binfmt, emu-run, man pages,
#              unit, completion) and binfmt-installer-qemu_<version>_<arch>.deb (the staged
#              emulators, /usr/lib/binfmt-installer/qemu): dpkg-buildpackage -b -us -uc in a
#              copy of the tree (DEB_WORK, default build/deb-src) whose debian/ is
#              packaging/debian, so the repository root has no debian/. Needs debhelper.
#              QEMU_DEB_COMPRESS (default "-Zxz -z6") sets the payload's compression.
#   make install also installs the bash completions (BASH_COMPLETION_DIR).
DEB_WORK ?= $(BUILD)/deb-src
DEB_OUT  ?= $(BUILD)/deb
DEB_TREE  = $(DEB_WORK)/binfmt-installer-$(VERSION)
BASH_COMPLETION_DIR ?= $(PREFIX)/share/bash-completion/completions

.PHONY: deb install-completion uninstall-completion

deb: qemu
	@command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null || \
		{ echo "make deb: needs dpkg-dev and debhelper (apt-get install dpkg-dev debhelper)" >&2; exit 1; }
	rm -rf $(DEB_WORK)
	mkdir -p $(DEB_TREE) $(DEB_OUT)
	tar -cf - --exclude=./.git --exclude=./build --exclude='./build-*' --exclude=./debian . | \
		tar -xf - -C $(DEB_TREE)
	cp -R packaging/debian $(DEB_TREE)/debian
	cd $(DEB_TREE) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL QEMU_DIR=$(abspath $(QEMU_OUT)) \
		$(if $(QEMU_DEB_COMPRESS),QEMU_DEB_COMPRESS='$(QEMU_DEB_COMPRESS)') \
		dpkg-buildpackage -b -us -uc -jauto
	rm -f $(DEB_OUT)/binfmt-installer*
	mv $(DEB_WORK)/binfmt-installer*.deb $(DEB_WORK)/binfmt-installer*.buildinfo \
		$(DEB_WORK)/binfmt-installer*.changes $(DEB_OUT)/
	rm -rf $(DEB_WORK)
	@ls -l $(DEB_OUT)/*.deb

install: install-completion
uninstall: uninstall-completion

install-completion:
	install -D -m 0644 packaging/completion/binfmt $(DESTDIR)$(BASH_COMPLETION_DIR)/binfmt
	install -D -m 0644 packaging/completion/emu-run $(DESTDIR)$(BASH_COMPLETION_DIR)/emu-run

uninstall-completion:
	rm -f $(DESTDIR)$(BASH_COMPLETION_DIR)/binfmt $(DESTDIR)$(BASH_COMPLETION_DIR)/emu-run
# === end of Debian packages, boot unit, bash completion =================================

# === bench (issue 6) ======================================================================
#   make bench                 every benchmark, then docs/benchmarks.md + docs/bench-*.png
#   BENCH_QUICK=1 make bench   fewer runs; BENCH_WAIT_QUIET=SECS waits for load < 0.5 first
# Private binfmt_misc instances (bench/lib.sh), except the docker rows, which change the
# host's registry under the host lock and restore it (bench/docker.sh); see bench/run.sh.
# The real-root corpus (tests/corpus/corpus.sh, issue 16): mmdebstrap --variant=essential
# for arm64 armhf ppc64el s390x (bookworm) and riscv64 (trixie) under the staged payload,
# apt-get install in the arm64 root. CORPUS_TARGETS narrows it (.ci/run: arm64 riscv64);
# QEMU_STATIC_DIR picks another staged payload. Times: $(BUILD)/corpus/times.tsv.
.PHONY: corpus
corpus:
	tests/deps.sh
	$(MAKE) all unit qemu
	BUILD=$(BUILD) CORPUS_TARGETS="$(CORPUS_TARGETS)" tests/run tests/corpus/corpus.sh

.PHONY: bench
bench:
	$(MAKE) all $(BUILD)/bench/altbench $(BUILD)/bench/mkprobe $(BUILD)/bench/detect_bench
	BUILD=$(BUILD) bench/run.sh
# === end of bench =========================================================================

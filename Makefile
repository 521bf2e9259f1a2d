# tillpoints — the one entry point. `make help` lists the targets.

CC       ?= gcc
PREFIX   ?= /usr/local
DESTDIR  ?=
TRIPLET  := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
LIBDIR   ?= $(PREFIX)/lib/$(TRIPLET)
MANDIR   ?= $(PREFIX)/share/man
VERSION  := $(shell head -n 1 packaging/deb/changelog | cut -d ' ' -f 2 | tr -d '()')
BUILD    ?= build
SAN      ?=

# Libraries found through pkg-config, and libcsv (no .pc file in Debian).
# CORE_PKGS are what tillpoints.so itself links; the modules' libraries are
# their own (MOD_PKGS_* below); jansson is the shim's and the CLI's;
# libmicrohttpd is tillpoints-web's.
CORE_PKGS := sqlite3 inih libsodium libserialport
PKGS      := $(CORE_PKGS) zbar libevdev libpng libpq jansson libmicrohttpd
TEST_PKGS := cmocka

# pkg-config is asked when a recipe first needs the flags, not when make
# reads this file: `make demo` and `make check` install the packages first
# (deps) and compile in the same run. The answer is kept for the rest of the
# run. A package pkg-config cannot find stops the build with its name.
need_tool = $(if $(shell command -v $(1) 2>/dev/null),,$(error $(1) is not installed ($(2)): run `make deps` as root, or the apt-get line it prints))
pkg_missing = $(strip $(foreach p,$(1),$(if $(shell pkg-config --exists '$(p)' 2>/dev/null && echo y),,$(p))))
pkg_query = $(call need_tool,pkg-config,Debian package pkg-config)$(if $(call pkg_missing,$(1)),$(error pkg-config cannot find $(call pkg_missing,$(1)): install the build dependencies with `make deps` as root, or the apt-get line it prints))$(shell pkg-config $(2) $(1))
csv_check = $(if $(shell printf '\043include <csv.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 && echo y),,$(error libcsv is not installed (no csv.h): run `make deps` as root, or apt-get install libcsv-dev))
PKG_CFLAGS  = $(eval PKG_CFLAGS := $(call pkg_query,$(PKGS),--cflags))$(PKG_CFLAGS)
PKG_LIBS    = $(eval PKG_LIBS := $(csv_check)$(call pkg_query,$(PKGS),--libs) -lcsv)$(PKG_LIBS)
TEST_LIBS   = $(eval TEST_LIBS := $(call pkg_query,$(TEST_PKGS),--libs))$(TEST_LIBS)
CORE_LIBS   = $(eval CORE_LIBS := $(csv_check)$(call pkg_query,$(CORE_PKGS),--libs) -lcsv)$(CORE_LIBS)

# Debian's hardening flags (dpkg-buildflags, with every hardening feature)
# in every build, not only the package's. -g -O2 come from CFLAGS below, so
# a user's CFLAGS=-O0 is not undone. Sanitizer builds leave out
# _FORTIFY_SOURCE: its checked copies hide accesses from AddressSanitizer.
buildflags = $(call need_tool,dpkg-buildflags,Debian package dpkg-dev)$(shell DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get $(1))
HARDEN_CPPFLAGS = $(eval HARDEN_CPPFLAGS := $(call buildflags,CPPFLAGS))$(HARDEN_CPPFLAGS)
HARDEN_CFLAGS   = $(eval HARDEN_CFLAGS := $(filter-out -g -O%,$(call buildflags,CFLAGS)))$(HARDEN_CFLAGS)
HARDEN_LDFLAGS  = $(eval HARDEN_LDFLAGS := $(call buildflags,LDFLAGS))$(HARDEN_LDFLAGS)

# The project's own flags. The user's CPPFLAGS, CFLAGS and LDFLAGS are added
# after them (make CPPFLAGS=-DX keeps -Iinclude and -DNDEBUG).
# Warnings: beyond -Wall -Wextra, the ones that catch real bugs in C like
# this: shadowed names, format strings that are not literals, old-style and
# missing prototypes (a function meant to be static, or a header out of
# step), and variable-length arrays (unbounded stack use in a host's thread).
WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
        -Wmissing-prototypes -Wvla
# TP_INCLUDE: the public headers. The ABI compatibility test builds the
# plugin a second time against made-up 2.1 headers (tests/abi/compat.sh).
TP_INCLUDE ?= include
TP_CPPFLAGS := -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I$(TP_INCLUDE) \
            -DTP_INSTALLED_PLUGIN='"$(LIBDIR)/tillpoints/tillpoints.so"' -DTP_VERSION='"$(VERSION)"'
# Include paths by directory: each directory sees the public headers, its
# own headers and the directories listed here, so a dependency between
# directories is written down (docs/DESIGN.md §1). Tests, benches and
# fuzzers see everything; tests/abi/compat_host.c only the public headers.
INC_plugin    := -Iplugin -Idrivers
INC_drivers   := -Idrivers -Iplugin
INC_host-shim := -Ihost-shim
INC_ALL       := -Iplugin -Idrivers -Ihost-shim
dir_inc = $(or $(INC_$(firstword $(subst /, ,$(1)))),$(INC_ALL))
CFLAGS   ?= -g -O2
DEPFLAGS  = -MMD -MP -MT $@ -MF $@.d
# The shipped plugin must never abort its host, so assert() is compiled out
# of plain builds; sanitizer builds keep the invariant checks.
ifeq ($(SAN),1)
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  ALL_CPPFLAGS = $(TP_CPPFLAGS) $(CPPFLAGS)
  LDSAN := $(SANFLAGS)
else
  ALL_CPPFLAGS = $(TP_CPPFLAGS) -DNDEBUG $(HARDEN_CPPFLAGS) $(CPPFLAGS)
endif
ALL_CFLAGS = $(WARN) $(ALL_CPPFLAGS) $(HARDEN_CFLAGS) $(CFLAGS) $(SANFLAGS) $(PKG_CFLAGS) -pthread
ALL_LDFLAGS = $(LDSAN) $(HARDEN_LDFLAGS) $(LDFLAGS)
LDLIBS_PLUGIN = $(PKG_LIBS) -pthread
# The shipped plugin carries its own SQLite, linked statically and hidden
# (--exclude-libs,ALL below): a POS that has another SQLite loaded
# globally can never have the plugin's calls bound to its copy, nor the
# reverse (tests/test_sqlite_isolation.c). Debian's libsqlite3.a is
# position-independent; what it needs comes from its pkg-config --static.
SQLITE_STATIC = -Wl,-Bstatic -lsqlite3 -Wl,-Bdynamic -lm -lz
LDLIBS_SO     = $(filter-out -lsqlite3,$(CORE_LIBS)) $(SQLITE_STATIC) -ldl -pthread

# Modules (docs/DESIGN.md §14): the parts that need large libraries, each a
# shared object installed beside tillpoints.so and loaded with dlopen only
# when the config uses it. A driver module carries its own hidden copy of
# the pure helpers it calls (MOD_HELPERS_*). Tests, benches and fuzzers link
# the modules' objects statically instead (plugin/module.h).
MODULES            := camera wedge sync
MOD_SRC_camera     := drivers/camera.c
MOD_SRC_wedge      := drivers/wedge.c
MOD_SRC_sync       := plugin/pq.c
MOD_HELPERS_camera := drivers/framer.c drivers/drvutil.c plugin/util.c
MOD_HELPERS_wedge  := drivers/framer.c drivers/drvutil.c plugin/util.c
MOD_PKGS_camera    := zbar libpng
MOD_PKGS_wedge     := libevdev
MOD_PKGS_sync      := libpq

PLUGIN_SRC := $(sort $(wildcard plugin/*.c) $(wildcard drivers/*.c))
PLUGIN_OBJ := $(PLUGIN_SRC:%.c=$(BUILD)/obj/%.o)
MODULE_OBJ := $(foreach m,$(MODULES),$(MOD_SRC_$(m):%.c=$(BUILD)/obj/%.o))
MODULE_SOS := $(MODULES:%=$(BUILD)/tillpoints-%.so)
CORE_OBJ   := $(filter-out $(MODULE_OBJ),$(PLUGIN_OBJ))
HOST_OBJ   := $(BUILD)/obj/host-shim/host.o
FORMS_OBJ  := $(BUILD)/obj/host-shim/forms.o
HOSTCONF_OBJ := $(BUILD)/obj/host-shim/hostconf.o
# tillpoints-web (docs/DESIGN.md §15); WEB_PURE_OBJ are the parts
# tests/test_web.c checks without a server.
WEB_PURE_OBJ := $(patsubst %,$(BUILD)/obj/host-shim/%.o,web_session web_html web_config)
WEB_OBJ    := $(WEB_PURE_OBJ) $(patsubst %,$(BUILD)/obj/host-shim/%.o,web web_http web_pages web_forms web_jobs)
TEST_SRC   := $(sort $(wildcard tests/test_*.c))
TESTS      := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HEADERS    := $(wildcard include/tillpoints/*.h include/tillpoints/ext/*.h)

PROGRAMS := $(BUILD)/tillpoints.so $(MODULE_SOS) $(BUILD)/tillpoints-till \
            $(BUILD)/tillpoints-shim $(BUILD)/tillpoints $(BUILD)/tillpoints-web

.PHONY: all check check-run demo demo-web deps install uninstall clean help fuzz fuzz-check bench bench-smoke deb \
        check-tsan lint valgrind abi-baseline abi-check check-abi
.DEFAULT_GOAL := all

all: $(PROGRAMS) ## build the plugin and the reference till

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

deps: ## install the Debian packages the build and tests need (as root), or print the command
	@sh packaging/install-deps.sh

# Every object and test records the headers it includes (-MMD -MP), so a
# header change rebuilds exactly what uses it.
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call dir_inc,$<) $(DEPFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

# The version script exports tillpoints_entry only, whatever the build.
$(BUILD)/tillpoints.so: $(CORE_OBJ) plugin/tillpoints.map
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-z,defs -Wl,--exclude-libs,ALL \
	    -Wl,--version-script=plugin/tillpoints.map -o $@ $(CORE_OBJ) $(LDLIBS_SO)

# Each module exports tillpoints_module_<name> only (plugin/module.map).
# libc is named even when a module calls nothing of it (the sync module is a
# table of libpq's functions), as Debian asks of every shared library.
define module_rule
$(BUILD)/tillpoints-$(1).so: $(patsubst %.c,$(BUILD)/obj/%.o,$(MOD_SRC_$(1)) $(MOD_HELPERS_$(1))) plugin/module.map
	$$(CC) $$(ALL_LDFLAGS) -shared -Wl,-z,defs -Wl,--exclude-libs,ALL \
	    -Wl,--version-script=plugin/module.map -o $$@ $$(filter %.o,$$^) \
	    $$(call pkg_query,$(MOD_PKGS_$(1)),--libs) -pthread -Wl,--no-as-needed -lc
endef
$(foreach m,$(MODULES),$(eval $(call module_rule,$(m))))

# The core's objects; programs that link it link $(MODULE_OBJ) too.
$(BUILD)/libtillpoints-test.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tillpoints-till: $(BUILD)/obj/host-shim/till.o $(FORMS_OBJ) $(HOST_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -ldl

# test_alloc fails the Nth allocation: it wraps the allocator at link time.
LDFLAGS_test_alloc := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup
# test_sqlite_isolation exports its own SQLite functions, as a POS linked
# with its own SQLite would.
LDFLAGS_test_sqlite_isolation := -rdynamic
# test_modules checks which libraries loading the plugin maps into a
# process: it must not map the modules' libraries itself, neither through
# their objects nor through their libraries on its link line (a sanitizer
# build links every library named, --as-needed or not).
$(BUILD)/tests/test_modules: private MODULE_OBJ :=
$(BUILD)/tests/test_modules: private LDLIBS_PLUGIN = $(CORE_LIBS) -pthread
$(BUILD)/tests/test_%: tests/test_%.c $(BUILD)/libtillpoints-test.a $(MODULE_OBJ) $(HOST_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INC_ALL) $(DEPFLAGS) -o $@ $< $(TEST_EXTRA_OBJ) $(HOST_OBJ) $(MODULE_OBJ) $(BUILD)/libtillpoints-test.a \
	    $(ALL_LDFLAGS) $(LDFLAGS_test_$*) $(LDLIBS_PLUGIN) $(TEST_LIBS) -ldl

# The PTY harness (private mount namespace, PTY bound over /dev/ttyS*, seam
# preloaded): linked into the serial tests and bench_serial only.
PTY_HARNESS_OBJ := $(BUILD)/obj/tests/pty_harness.o
PTY_TESTS := $(BUILD)/tests/test_serial $(BUILD)/tests/test_scanners
$(PTY_TESTS): $(PTY_HARNESS_OBJ)
$(PTY_TESTS): TEST_EXTRA_OBJ := $(PTY_HARNESS_OBJ)

$(BUILD)/tillpoints: $(BUILD)/obj/host-shim/cli.o $(FORMS_OBJ) $(HOST_OBJ) $(HOSTCONF_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -ljansson -linih -ldl

# The terminal forms driver shared by the till and the CLI.
$(BUILD)/tests/test_forms: $(FORMS_OBJ)
$(BUILD)/tests/test_forms: TEST_EXTRA_OBJ := $(FORMS_OBJ)

# The back office in a browser: one more host of the plugin.
$(BUILD)/tillpoints-web: $(WEB_OBJ) $(FORMS_OBJ) $(HOST_OBJ) $(HOSTCONF_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lmicrohttpd -ljansson -lsodium -linih -ldl -pthread

$(BUILD)/tests/test_web: $(WEB_PURE_OBJ)
$(BUILD)/tests/test_web: TEST_EXTRA_OBJ := $(WEB_PURE_OBJ)

$(BUILD)/tillpoints-shim: $(BUILD)/obj/host-shim/shim.o $(BUILD)/obj/host-shim/protocol.o $(HOST_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -ljansson -lsodium -ldl

# The ABI compatibility host; tests/abi/compat.sh builds it (and the
# plugin) against the 2.0 headers and against a made-up 2.1.
$(BUILD)/compat_host: tests/abi/compat_host.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -o $@ $< $(ALL_LDFLAGS) $(TEST_LIBS) -ldl

# Header contract: the public headers compile alone as strict C11 and as C++
# (limits.h holds only macros, hence the one declaration after each).
$(BUILD)/headers.ok: $(HEADERS)
	@mkdir -p $(BUILD)
	for h in $(HEADERS); do \
	  printf '#include "%s"\ntypedef int header_check;\n' "$${h#include/}" | \
	    $(CC) -std=c11 -pedantic -Wall -Wextra -Werror -Iinclude -x c -fsyntax-only - || exit 1; \
	  printf '#include "%s"\ntypedef int header_check;\n' "$${h#include/}" | \
	    g++ -std=c++11 -pedantic -Wall -Wextra -Werror -Iinclude -x c++ -fsyntax-only - || exit 1; \
	done
	touch $@

check: deps ## every test: unit, end-to-end, ABI; then ASan+UBSan, TSan, valgrind; fuzzers briefly
	$(MAKE) check-run BUILD=build
	$(MAKE) check-abi BUILD=build
	$(MAKE) check-run BUILD=build/asan SAN=1
	$(MAKE) check-tsan
	$(MAKE) valgrind
	$(MAKE) fuzz-check
	@echo "make check: all suites passed (plain, ASan+UBSan, TSan, valgrind, fuzzers)"

# PTY test seam for the serial driver (docs/DESIGN.md §7): preloaded into
# test_serial, test_scanners, e2e_scanner_till and bench_serial only;
# never sanitized.
SEAM := $(BUILD)/serial_seam.so
$(SEAM): tests/serial_seam.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(TP_CPPFLAGS) $(INC_ALL) $(CPPFLAGS) -g -O2 -fPIC -shared $(LDFLAGS) -o $@ $< -ldl

check-run: $(PROGRAMS) $(TESTS) $(SEAM) $(BUILD)/headers.ok
	@set -e; for t in $(TESTS); do echo "== $$t"; \
	  TILLPOINTS_PLUGIN=$(BUILD)/tillpoints.so TP_SERIAL_SEAM=$(SEAM) $$t; done
	BUILD=$(BUILD) SAN=$(SAN) sh tests/test_exports.sh
	BUILD=$(BUILD) SAN=$(SAN) MAKE="$(MAKE)" sh tests/abi/compat.sh
	BUILD=$(BUILD) sh tests/e2e_till.sh
	BUILD=$(BUILD) sh tests/e2e_cli.sh
	BUILD=$(BUILD) TP_SERIAL_SEAM=$(SEAM) sh tests/e2e_scanner_till.sh
	BUILD=$(BUILD) python3 tests/e2e_shim.py
	BUILD=$(BUILD) python3 tests/e2e_balance.py
	BUILD=$(BUILD) sh tests/e2e_retro_tmux.sh
	BUILD=$(BUILD) /usr/bin/python3 tests/e2e_web.py
	BUILD=$(BUILD) sh tests/e2e_web_bad.sh
	[ "$(SAN)" = 1 ] || sh tests/package_test.sh

# The ABI baseline (docs/DESIGN.md §13): abi/ holds abidw's dumps of the
# plugin and of a surface generated from every public header. The surface
# is built with its own fixed flags, so CFLAGS and SAN do not change it.
ABI_TOOL = $(call need_tool,abidw,Debian package abigail-tools)sh tests/abi/abi.sh

abi-baseline: $(BUILD)/tillpoints.so ## write the ABI baseline abi/ from today's headers and plugin (commit it)
	$(ABI_TOOL) baseline include $(BUILD)/tillpoints.so abi $(BUILD)/abi

abi-check: $(BUILD)/tillpoints.so ## fail when the public ABI differs from the baseline in abi/
	$(ABI_TOOL) check include $(BUILD)/tillpoints.so abi $(BUILD)/abi

check-abi: ## the ABI check, then its self-check (incompatible changes must fail it)
	@echo "== ABI: headers and plugin against abi/, then the check's self-check"
	@$(MAKE) --no-print-directory abi-check
	$(call need_tool,abidw,Debian package abigail-tools)sh tests/abi/selfcheck.sh

# The threaded suites under ThreadSanitizer (TSan and ASan cannot share a
# build, so these are built from source separately).
TSAN_TESTS := test_checkout test_queue test_crash test_verify test_faults test_sidejournal test_storeday test_expiry test_redeem test_confirm
build/tsan/tests/%: tests/%.c tests/testutil.h $(PLUGIN_SRC) host-shim/host.c \
                    $(wildcard plugin/*.h drivers/*.h host-shim/*.h) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(TP_CPPFLAGS) $(INC_ALL) $(CPPFLAGS) -g -O1 -fsanitize=thread $(PKG_CFLAGS) -pthread $(LDFLAGS) -o $@ $< \
	    $(PLUGIN_SRC) host-shim/host.c $(PKG_LIBS) $(TEST_LIBS) -ldl -pthread

check-tsan: $(TSAN_TESTS:%=build/tsan/tests/%) ## the threaded suites under ThreadSanitizer
	@set -e; for t in $^; do echo "== $$t"; TSAN_OPTIONS=halt_on_error=1 TP_CRASH_KILLS=40 TP_CRASH_SLOW=6 $$t; done

lint: ## cppcheck and clang-tidy (checked-in .clang-tidy) over plugin/, drivers/, host-shim/
	sh tests/lint.sh

valgrind: all build/tests/test_checkout build/tests/test_redeem ## the end-to-end till test and test_checkout under memcheck
	BUILD=build sh tests/valgrind.sh

# libFuzzer targets: one per parser, each with a seed corpus in
# tests/fuzz/corpus/<name>/. check replays the corpus and fuzzes briefly;
# `make fuzz` runs longer (FUZZ_SECONDS each). New inputs go to a scratch
# directory, never into the checked-in corpus.
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZERS      := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 300
FUZZ_EXTRA_fuzz_shim := host-shim/protocol.c -ljansson -lsodium
FUZZ_EXTRA_fuzz_web := host-shim/web_session.c host-shim/web_html.c host-shim/web_config.c \
                       -lsodium -linih
FUZZ_CHECK_SECONDS ?= 10
FUZZ_CFLAGS   = $(WARN) $(TP_CPPFLAGS) $(INC_ALL) $(CPPFLAGS) -g -O1 \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
build/fuzz/%: tests/fuzz/%.c $(PLUGIN_SRC) $(wildcard plugin/*.h drivers/*.h host-shim/*.h) $(HEADERS)
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(PLUGIN_SRC) $(FUZZ_EXTRA_$*) $(PKG_LIBS) -pthread

define run_fuzzers
	@set -e; for f in $(FUZZERS); do n=$$(basename $$f); c=tests/fuzz/corpus/$${n#fuzz_}; \
	  s=build/fuzz/scratch-$$n; mkdir -p $$s; echo "== $$n ($(1) s)"; \
	  $$f -max_total_time=$(1) -rss_limit_mb=2048 -print_final_stats=1 $$s $$c \
	    > build/fuzz/$$n.log 2>&1 || { tail -40 build/fuzz/$$n.log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units' build/fuzz/$$n.log; done
endef

fuzz-check: $(FUZZERS) ## replay every fuzz corpus and fuzz each target briefly
	$(call run_fuzzers,$(FUZZ_CHECK_SECONDS))

fuzz: $(FUZZERS) ## fuzz every parser for FUZZ_SECONDS each
	$(call run_fuzzers,$(FUZZ_SECONDS))

# deps runs first; the build is a second make, which reads the flags of the
# packages deps has just installed.
demo: deps ## a scripted till session on a fresh demo database
	@$(MAKE) --no-print-directory all
	@rm -rf $(BUILD)/demo && mkdir -p $(BUILD)/demo
	@printf '[store]\ndatabase = demo.db\n' > $(BUILD)/demo/tillpoints.conf
	$(BUILD)/tillpoints-till --plugin $(BUILD)/tillpoints.so --config $(BUILD)/demo/tillpoints.conf \
	  --script host-shim/demo.till
	@echo "Points in the demo database ($(BUILD)/demo/demo.db):"
	@sqlite3 -column -header $(BUILD)/demo/demo.db \
	  "SELECT m.code, m.name, COALESCE(SUM(l.points),0) AS balance FROM members m LEFT JOIN ledger l ON l.member_id = m.id GROUP BY m.id ORDER BY m.code;"

# The back office on a fresh demo database: a manager (mia, PIN 246810),
# the demo till's members and sales, then tillpoints-web in the
# foreground on 127.0.0.1:8080 until Ctrl-C.
DEMO_WEB := $(BUILD)/demo-web
demo-web: all ## the back office in a browser on a fresh demo database (127.0.0.1:8080, Ctrl-C stops)
	@rm -rf $(DEMO_WEB) && mkdir -p $(DEMO_WEB)
	@printf '[store]\ndatabase = demo.db\n' > $(DEMO_WEB)/tillpoints.conf
	@printf '[web]\nlisten = 127.0.0.1:8080\nassets = %s\n' "$(CURDIR)/web" > $(DEMO_WEB)/web.conf
	@printf '246810\n' | $(BUILD)/tillpoints --plugin $(BUILD)/tillpoints.so \
	  --config $(DEMO_WEB)/tillpoints.conf manager add mia --name "Mia Manager" --staff demo
	@$(BUILD)/tillpoints-till --plugin $(BUILD)/tillpoints.so --config $(DEMO_WEB)/tillpoints.conf \
	  --script host-shim/demo.till > $(DEMO_WEB)/till.log
	@echo "Demo data: $(DEMO_WEB)/demo.db (the till's transcript: $(DEMO_WEB)/till.log)."
	@echo "Open http://127.0.0.1:8080/ and sign in as manager mia with PIN 246810. Ctrl-C stops it."
	$(BUILD)/tillpoints-web --plugin $(BUILD)/tillpoints.so --config $(DEMO_WEB)/tillpoints.conf \
	  --web-config $(DEMO_WEB)/web.conf

# Benchmarks: never timed tests. Each program prints one table with the
# value, the target and (where a baseline applies) the ratio to a baseline
# measured in the same run.
BENCH := $(BUILD)/bench/bench_checkout
BENCH_CFLAGS = $(WARN) $(ALL_CPPFLAGS) $(INC_ALL) $(HARDEN_CFLAGS) $(CFLAGS) -O2

$(BENCH): bench/bench_checkout.c bench/bench.h host-shim/host.c host-shim/host.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(ALL_LDFLAGS) -o $@ bench/bench_checkout.c host-shim/host.c \
	    -lsqlite3 -pthread -ldl

$(BUILD)/bench/bench_serial: bench/bench_serial.c bench/bench.h $(PTY_HARNESS_OBJ) $(BUILD)/libtillpoints-test.a $(MODULE_OBJ) $(SEAM)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(PKG_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(PTY_HARNESS_OBJ) \
	    $(MODULE_OBJ) $(BUILD)/libtillpoints-test.a $(LDLIBS_PLUGIN)

BENCH_ADMIN := $(BUILD)/bench/bench_admin
BENCH_SYNC := $(BUILD)/bench/bench_sync
BENCH_REDEEM := $(BUILD)/bench/bench_redeem
BENCH_STOREDAY := $(BUILD)/bench/bench_storeday

$(BENCH_SYNC): bench/bench_sync.c bench/bench.h $(BUILD)/libtillpoints-test.a $(MODULE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(PKG_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(MODULE_OBJ) $(BUILD)/libtillpoints-test.a $(LDLIBS_PLUGIN)

$(BENCH_REDEEM): bench/bench_redeem.c bench/bench.h $(BUILD)/libtillpoints-test.a $(MODULE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(PKG_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(MODULE_OBJ) $(BUILD)/libtillpoints-test.a $(LDLIBS_PLUGIN)

$(BENCH_ADMIN): bench/bench_admin.c bench/bench.h host-shim/host.c host-shim/host.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(ALL_LDFLAGS) -o $@ bench/bench_admin.c host-shim/host.c \
	    -lsqlite3 -ldl -pthread

# The store day drives the plugin (dlopen) and, as its admin jobs, the
# manager CLI (processes): bench and bench-smoke build both.
$(BENCH_STOREDAY): bench/bench_storeday.c bench/bench.h host-shim/host.c host-shim/host.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(ALL_LDFLAGS) -o $@ bench/bench_storeday.c host-shim/host.c \
	    -lsqlite3 -ldl -pthread

$(BUILD)/bench/bench_zbar: bench/bench_zbar.c bench/bench.h $(BUILD)/libtillpoints-test.a $(MODULE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(PKG_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(MODULE_OBJ) $(BUILD)/libtillpoints-test.a $(LDLIBS_PLUGIN)

bench: $(BUILD)/tillpoints.so $(BENCH) $(BUILD)/bench/bench_serial $(BUILD)/bench/bench_zbar $(BENCH_ADMIN) $(BENCH_SYNC) $(BENCH_REDEEM) $(BENCH_STOREDAY) $(BUILD)/tillpoints ## benchmarks: one table of figures, each against its target
	$(BENCH) --plugin $(BUILD)/tillpoints.so
	TP_SERIAL_SEAM=$(SEAM) $(BUILD)/bench/bench_serial
	$(BUILD)/bench/bench_zbar
	$(BENCH_SYNC)
	$(BENCH_REDEEM)
	$(BENCH_ADMIN) --plugin $(BUILD)/tillpoints.so
	$(BENCH_STOREDAY) --plugin $(BUILD)/tillpoints.so --cli $(BUILD)/tillpoints

bench-smoke: $(BUILD)/tillpoints.so $(BENCH) $(BUILD)/bench/bench_zbar $(BENCH_ADMIN) $(BENCH_SYNC) $(BENCH_REDEEM) $(BENCH_STOREDAY) $(BUILD)/tillpoints ## the benchmarks at CI size (--quick)
	$(BENCH) --quick --plugin $(BUILD)/tillpoints.so
	$(BUILD)/bench/bench_zbar --quick
	$(BENCH_SYNC) --quick
	$(BENCH_REDEEM) --quick
	$(BENCH_ADMIN) --quick --plugin $(BUILD)/tillpoints.so
	$(BENCH_STOREDAY) --quick --plugin $(BUILD)/tillpoints.so --cli $(BUILD)/tillpoints

# What loading costs a POS (docs/DESIGN.md §14): the libraries dlopen + create + init
# map and the RSS they add, for the default config, one serial scanner and
# everything on, each in a fresh process. Quick, so bench-smoke runs it too.
BENCH_FOOTPRINT := $(BUILD)/bench/bench_footprint
$(BENCH_FOOTPRINT): bench/bench_footprint.c bench/bench.h tests/procmaps.h host-shim/host.c host-shim/host.h $(HEADERS) \
                    $(BUILD)/tillpoints.so $(MODULE_SOS)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(ALL_LDFLAGS) -o $@ bench/bench_footprint.c host-shim/host.c -pthread -ldl
.PHONY: bench-footprint
bench-footprint: $(BENCH_FOOTPRINT) ## libraries mapped and RSS growth of loading the plugin, per config
	$(BENCH_FOOTPRINT) --plugin $(BUILD)/tillpoints.so
bench bench-smoke: bench-footprint

# The back office at store scale (docs/DESIGN.md §15): bench_admin loads
# its 1 M-member, 10 M-entry store ending now into a scratch directory,
# then bench_web runs tillpoints-web on it with a till selling beside.
BENCH_WEB := $(BUILD)/bench/bench_web
BENCH_WEB_DIR := $(BUILD)/bench-web-store
$(BENCH_WEB): bench/bench_web.c bench/bench.h host-shim/host.c host-shim/host.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(ALL_LDFLAGS) -o $@ bench/bench_web.c host-shim/host.c -ldl -pthread
.PHONY: bench-web bench-web-quick
bench-web: $(BUILD)/tillpoints.so $(BUILD)/tillpoints-web $(BENCH_ADMIN) $(BENCH_WEB) ## the back office at 1 M members / 10 M ledger rows, a till selling beside it
	rm -rf $(BENCH_WEB_DIR)
	$(BENCH_ADMIN) --load-only --end-now --dir $(BENCH_WEB_DIR) --plugin $(BUILD)/tillpoints.so
	$(BENCH_WEB) --dir $(BENCH_WEB_DIR) --plugin $(BUILD)/tillpoints.so --web $(BUILD)/tillpoints-web --assets web
	rm -rf $(BENCH_WEB_DIR)
bench-web-quick: $(BUILD)/tillpoints.so $(BUILD)/tillpoints-web $(BENCH_ADMIN) $(BENCH_WEB)
	rm -rf $(BENCH_WEB_DIR)
	$(BENCH_ADMIN) --quick --load-only --end-now --dir $(BENCH_WEB_DIR) --plugin $(BUILD)/tillpoints.so
	$(BENCH_WEB) --quick --members 100000 --dir $(BENCH_WEB_DIR) --plugin $(BUILD)/tillpoints.so \
	  --web $(BUILD)/tillpoints-web --assets web
	rm -rf $(BENCH_WEB_DIR)
bench: bench-web
bench-smoke: bench-web-quick

install: all ## install under $(DESTDIR)$(PREFIX)
	install -d $(DESTDIR)$(LIBDIR)/tillpoints $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)$(PREFIX)/include/tillpoints/ext
	install -m 0644 $(BUILD)/tillpoints.so $(MODULE_SOS) $(DESTDIR)$(LIBDIR)/tillpoints/
	install -m 0755 $(BUILD)/tillpoints-till $(DESTDIR)$(PREFIX)/bin/tillpoints-till
	install -m 0755 $(BUILD)/tillpoints-shim $(DESTDIR)$(PREFIX)/bin/tillpoints-shim
	install -m 0755 $(BUILD)/tillpoints $(DESTDIR)$(PREFIX)/bin/tillpoints
	install -m 0755 $(BUILD)/tillpoints-web $(DESTDIR)$(PREFIX)/bin/tillpoints-web
	install -d $(DESTDIR)$(PREFIX)/share/tillpoints/web
	install -m 0644 web/app.css web/dashboard.js $(DESTDIR)$(PREFIX)/share/tillpoints/web/
	install -m 0644 include/tillpoints/*.h $(DESTDIR)$(PREFIX)/include/tillpoints/
	install -m 0644 include/tillpoints/ext/*.h $(DESTDIR)$(PREFIX)/include/tillpoints/ext/
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(MANDIR)/man8
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	  packaging/tillpoints.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/tillpoints.pc
	install -m 0644 packaging/man/tillpoints.1 packaging/man/tillpoints-till.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 packaging/man/tillpoints.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 packaging/man/tillpoints-shim.8 packaging/man/tillpoints-web.8 $(DESTDIR)$(MANDIR)/man8/

uninstall: ## remove what install put there
	rm -f $(DESTDIR)$(LIBDIR)/tillpoints/tillpoints.so \
	  $(MODULES:%=$(DESTDIR)$(LIBDIR)/tillpoints/tillpoints-%.so) $(DESTDIR)$(PREFIX)/bin/tillpoints-till \
	  $(DESTDIR)$(PREFIX)/bin/tillpoints-shim $(DESTDIR)$(PREFIX)/bin/tillpoints \
	  $(DESTDIR)$(PREFIX)/bin/tillpoints-web
	rm -rf $(DESTDIR)$(PREFIX)/include/tillpoints $(DESTDIR)$(PREFIX)/share/tillpoints/web
	-rmdir $(DESTDIR)$(PREFIX)/share/tillpoints
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/tillpoints.pc $(DESTDIR)$(MANDIR)/man1/tillpoints.1 \
	  $(DESTDIR)$(MANDIR)/man1/tillpoints-till.1 $(DESTDIR)$(MANDIR)/man5/tillpoints.conf.5 \
	  $(DESTDIR)$(MANDIR)/man8/tillpoints-shim.8 $(DESTDIR)$(MANDIR)/man8/tillpoints-web.8
	-rmdir $(DESTDIR)$(LIBDIR)/tillpoints

deb: ## build the Debian packages tillpoints and tillpoints-dev into build/deb
	sh packaging/build-deb.sh

clean: ## remove build outputs
	rm -rf build

# The headers each object and test was built from (written by -MMD -MP).
-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/tests/*.d)

# The README's and docs' pictures of the back office (docs/DESIGN.md §15),
# taken by the browser test on its own store: commit what it writes.
.PHONY: screenshots
screenshots: all ## docs/screenshots/: the dashboard and the retro-visit form at desktop and phone widths
	BUILD=$(BUILD) /usr/bin/python3 tests/e2e_web.py --screenshots docs/screenshots

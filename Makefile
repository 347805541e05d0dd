# Maestro build. Sources are found by wildcard so each module adds files without editing this.
# Targets: all (default) demo test install uninstall deps test-norm test-asan fuzz bench pictures
# fresh-machine clean. Each target installs the Debian packages it needs first (tests/deps.sh).
.DEFAULT_GOAL := all
CC       ?= cc
CC_ASAN  ?= clang
CFLAGS   ?= -O2 -g
WERROR   ?= $(if $(CI),-Werror,)
PKGS      = libuv libcurl libnghttp2 libprotobuf-c yaml-0.1 libcjson libssl libcrypto zlib
PRIV_LIBS = -lhttp_parser -lm
# Asked of pkg-config on first use, i.e. inside a recipe, after the deps-* targets have
# installed pkg-config and the .pc files; then kept. A failure stops make with pkg-config's own
# message on stderr.
# libcurl is compiled against but not linked: transports/curl_dl.c loads libcurl.so.4 when the
# first HTTP call is made, so start-up and gRPC-only runs never map it and its ~30 libraries.
# libssl and libcrypto likewise: grpc_h2/grpc_tls.c loads libssl.so.3 for the first TLS context.
LINK_PKGS = $(filter-out libcurl libssl libcrypto,$(PKGS))
pkg_run   = $(shell pkg-config $(1) $(2) || echo PKG-CONFIG-FAILED)
pkg_check = $(if $(filter PKG-CONFIG-FAILED,$(2)),$(error pkg-config $(1) $(PKGS) failed (above); sh tests/deps.sh build installs them),$(2))
DEP_CFLAGS = $(eval DEP_CFLAGS := $(call pkg_check,--cflags,$(call pkg_run,--cflags,$(PKGS))))$(DEP_CFLAGS)
DEP_LIBS   = $(eval DEP_LIBS := $(call pkg_check,--libs,$(call pkg_run,--libs,$(LINK_PKGS))) -ldl $(PRIV_LIBS))$(DEP_LIBS)
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter $(WERROR) \
              -Iinclude -I. -Ibuild/gen $(DEP_CFLAGS)

MODULES  = workflow loop transports grpc_h2 proto stub serve
# stub/ (the `maestro stub` runtime) is not part of the embedding library: it has its own
# archive, linked into bin/maestro and the tests only.
LIB_MODULES = $(filter-out stub,$(MODULES))
# Only Maestro's private copies are compiled to C (package mae.pb, so no google__protobuf__ or
# maestro__v1__ symbol clashes with an embedder's); proto/maestro/v1/maestro.proto is the
# published contract that peers compile.
PROTOS   = $(shell find proto/maestro/internal -name '*.proto' 2>/dev/null)
GEN_C    = $(patsubst proto/%.proto,build/gen/%.pb-c.c,$(PROTOS))
GEN_H    = $(GEN_C:.c=.h)
LIB_SRC  = $(foreach m,$(LIB_MODULES),$(wildcard $(m)/*.c)) $(GEN_C)
STUB_SRC = $(wildcard stub/*.c)
CLI_SRC  = $(wildcard cli/*.c)
TEST_SRC = $(wildcard tests/test_*.c)
TH_SRC   = tests/harness.c
# Code only tests use (the scripted transport, the CLI's MAESTRO_SCRIPT wiring): linked into the
# test binaries and build/<flavour>/tests/maestro-test, never into libmaestro.a or bin/maestro.
SUPPORT_SRC = $(wildcard tests/support/*.c)
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)

# One tree per flavour: build/norm (plain), build/asan (ASan+UBSan), build/fuzz, and build/pic
# (position-independent, hidden visibility: the objects of libmaestro.so). $(1)_DEPS is the
# deps level its compiler needs; it is order-only, so it runs first but never forces a rebuild.
define flavour
$(1)_OBJ  = $$(patsubst %.c,build/$(1)/%.o,$$(LIB_SRC))
build/$(1)/%.o: %.c $$(GEN_H) | build/gen $$($(1)_DEPS)
	@mkdir -p $$(dir $$@)
	$$($(1)_CC) $$(BASE_CFLAGS) $$($(1)_CFLAGS) -MMD -MP -c $$< -o $$@
build/$(1)/libmaestro.a: $$($(1)_OBJ)
	@rm -f $$@
	@# P: members keep their paths, so loop/x.o and workflow/x.o cannot replace each other.
	ar rcsP $$@ $$^
build/$(1)/libmaestro_stub.a: $$(patsubst %.c,build/$(1)/%.o,$$(STUB_SRC))
	@rm -f $$@
	ar rcsP $$@ $$^
build/$(1)/tests/libsupport.a: $$(patsubst %.c,build/$(1)/%.o,$$(SUPPORT_SRC))
	@rm -f $$@
	ar rcsP $$@ $$^
build/$(1)/tests/%: build/$(1)/tests/%.o build/$(1)/tests/harness.o build/$(1)/tests/libsupport.a build/$(1)/libmaestro_stub.a build/$(1)/libmaestro.a
	$$($(1)_CC) $$($(1)_CFLAGS) -o $$@ $$^ $$(DEP_LIBS)
# The CLI's test build: the CLI compiled with -DMAE_TEST_BUILD, plus tests/support.
build/$(1)/tests/cli/%.o: cli/%.c $$(GEN_H) | build/gen $$($(1)_DEPS)
	@mkdir -p $$(dir $$@)
	$$($(1)_CC) $$(BASE_CFLAGS) $$($(1)_CFLAGS) -DMAE_TEST_BUILD -MMD -MP -c $$< -o $$@
build/$(1)/tests/maestro-test: $$(patsubst cli/%.c,build/$(1)/tests/cli/%.o,$$(CLI_SRC)) build/$(1)/tests/libsupport.a build/$(1)/libmaestro_stub.a build/$(1)/libmaestro.a
	$$($(1)_CC) $$($(1)_CFLAGS) -o $$@ $$^ $$(DEP_LIBS)
$(1)_TESTS = $$(patsubst tests/%.c,build/$(1)/tests/%,$$(TEST_SRC)) build/$(1)/tests/maestro-test
-include $$(shell find build/$(1) -name '*.d' 2>/dev/null)
endef
norm_CC = $(CC)
norm_CFLAGS = $(CFLAGS)
norm_DEPS = deps-build
asan_CC = $(CC_ASAN)
asan_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
asan_DEPS = deps-test
fuzz_CC = $(CC_ASAN)
fuzz_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
fuzz_DEPS = deps-test
pic_CC = $(CC)
pic_CFLAGS = $(CFLAGS) -fPIC -fvisibility=hidden
pic_DEPS = deps-build
$(eval $(call flavour,norm))
$(eval $(call flavour,asan))
$(eval $(call flavour,fuzz))
$(eval $(call flavour,pic))

.PHONY: typed-example-protoset
.PHONY: all build deps deps-build deps-demo deps-test test test-norm test-asan fuzz demo bench pictures \
        clean install uninstall shared fresh-machine
.SECONDARY:

all: bin/maestro libmaestro.a
build: all

bin/maestro: $(patsubst %.c,build/norm/%.o,$(CLI_SRC)) build/norm/libmaestro_stub.a build/norm/libmaestro.a
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(DEP_LIBS)
libmaestro.a: build/norm/libmaestro.a
	cp $< $@
build/asan/bin/maestro: $(patsubst %.c,build/asan/%.o,$(CLI_SRC)) build/asan/libmaestro_stub.a build/asan/libmaestro.a
	@mkdir -p $(dir $@)
	$(CC_ASAN) $(asan_CFLAGS) -o $@ $^ $(DEP_LIBS)

# The shared library exports only what the public headers mark MAE_API; it is linked with its
# dependencies (and --no-undefined proves it), so `-lmaestro` alone is a complete shared link.
VERSION := $(shell sed -n 's/^\#define MAE_VERSION "\(.*\)"/\1/p' include/maestro/*.h | head -n 1)
SOMAJOR  = $(firstword $(subst ., ,$(VERSION)))
SONAME   = libmaestro.so.$(SOMAJOR)
build/pic/libmaestro.so.$(VERSION): $(pic_OBJ)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -o $@ $^ $(DEP_LIBS)
build/pic/libmaestro.so: build/pic/libmaestro.so.$(VERSION)
	ln -sf libmaestro.so.$(VERSION) build/pic/$(SONAME)
	ln -sf $(SONAME) $@
shared: build/pic/libmaestro.so

build/gen:
	@mkdir -p build/gen
# Static patterns (only the listed protos): a stale dependency file naming a header of a proto
# that no longer exists must not make make try to generate it.
$(GEN_C): build/gen/%.pb-c.c: proto/%.proto | build/gen deps-build
	protoc-c --proto_path=proto --c_out=build/gen $<
$(GEN_H): build/gen/%.pb-c.h: build/gen/%.pb-c.c
	@test -f $@ || protoc-c --proto_path=proto --c_out=build/gen proto/$*.proto

# What each target needs, installed when missing (as root; else the apt-get line is printed).
# Each level runs after the one before, so two apt-get never run at once under -j.
deps-build:
	@sh tests/deps.sh build
deps-demo: deps-build
	@sh tests/deps.sh demo
deps-test: deps-demo
	@sh tests/deps.sh test
deps: deps-test

# Runs every test binary of both flavours; the last line is the total.
test: deps-test all build/asan/bin/maestro build/pic/libmaestro.so $(norm_TESTS) $(asan_TESTS)
	@sh tests/run.sh norm asan

test-norm: deps-test bin/maestro build/pic/libmaestro.so $(norm_TESTS)
	@sh tests/run.sh norm
test-asan: deps-test build/asan/bin/maestro build/pic/libmaestro.so $(asan_TESTS)
	@sh tests/run.sh asan

FUZZ_TIME ?= 60
FUZZ_BINS = $(patsubst tests/fuzz/%.c,build/fuzz/bin/%,$(FUZZ_SRC))
# Targets link against an archive, so a target pulls in only the modules it uses.
build/fuzz/bin/%: tests/fuzz/%.c build/fuzz/libmaestro.a | deps-test
	@mkdir -p build/fuzz/bin
	$(CC_ASAN) $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $^ $(DEP_LIBS) -lssl -lcrypto
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	  echo "== $$n ($(FUZZ_TIME)s)"; \
	  $$f -max_total_time=$(FUZZ_TIME) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	    build/fuzz/corpus-$$n $$( [ -d tests/fuzz/seed-$$n ] && echo tests/fuzz/seed-$$n ) \
	    2>build/fuzz/$$n.log || { tail -40 build/fuzz/$$n.log; exit 1; }; \
	  if grep -qE 'runtime error:|ERROR: AddressSanitizer' build/fuzz/$$n.log; then \
	    grep -E -A20 'runtime error:|ERROR: AddressSanitizer' build/fuzz/$$n.log | head -40; exit 1; fi; \
	  grep -E 'stat::number_of_executed_units|Done' build/fuzz/$$n.log | tail -2; done

# The typed example's descriptor set is committed; this regenerates it after deploy.proto changes.
typed-example-protoset: examples/typed-deploy/deploy.protoset
examples/typed-deploy/deploy.protoset: examples/typed-deploy/deploy.proto | deps-build
	protoc-c --proto_path=examples/typed-deploy --include_imports -o $@ deploy.proto

# The one-command demo: deploy_service against its stubs, healthy then failing (saga shown).
demo: deps-demo all
	@bash examples/demo.sh

# The picture in the README: deploy_service as `maestro graph` draws it (Graphviz from deps-demo).
pictures: deps-demo all
	bin/maestro graph examples/workflows/deploy_service.yaml --format svg > docs/deploy_service.svg

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, both libraries, every public header,
# maestro.pc, the man page and the bash and zsh completions. make uninstall removes exactly
# those files.
PREFIX     ?= /usr/local
BINDIR      = $(PREFIX)/bin
LIBDIR      = $(PREFIX)/lib
INCDIR      = $(PREFIX)/include/maestro
PCDIR       = $(LIBDIR)/pkgconfig
MAN1DIR     = $(PREFIX)/share/man/man1
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  = $(PREFIX)/share/zsh/site-functions
PUB_H       = $(wildcard include/maestro/*.h)
# The dynamic linker finds a library new in /usr/local/lib only after ldconfig (not for DESTDIR).
LDCONFIG    = $(if $(DESTDIR),,@if [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi)
MAN1        = $(firstword $(wildcard docs/maestro.1 docs/man/maestro.1 man/maestro.1))
build/maestro.pc: maestro.pc.in include/maestro/maestro.h
	@mkdir -p build
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@
.PHONY: build/maestro.pc
install: all build/pic/libmaestro.so build/maestro.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(PCDIR)
	install -m 755 bin/maestro $(DESTDIR)$(BINDIR)/maestro
	install -m 644 build/norm/libmaestro.a $(DESTDIR)$(LIBDIR)/libmaestro.a
	install -m 755 build/pic/libmaestro.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libmaestro.so.$(VERSION)
	ln -sf libmaestro.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmaestro.so
	install -m 644 $(PUB_H) $(DESTDIR)$(INCDIR)/
	install -m 644 build/maestro.pc $(DESTDIR)$(PCDIR)/maestro.pc
	$(if $(MAN1),install -d $(DESTDIR)$(MAN1DIR) && install -m 644 $(MAN1) $(DESTDIR)$(MAN1DIR)/maestro.1)
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 644 cli/completion/maestro.bash $(DESTDIR)$(BASHCOMPDIR)/maestro
	install -m 644 cli/completion/_maestro $(DESTDIR)$(ZSHCOMPDIR)/_maestro
	$(LDCONFIG)
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/maestro $(DESTDIR)$(LIBDIR)/libmaestro.a \
	      $(DESTDIR)$(LIBDIR)/libmaestro.so $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libmaestro.so.$(VERSION) $(DESTDIR)$(PCDIR)/maestro.pc \
	      $(addprefix $(DESTDIR)$(INCDIR)/,$(notdir $(PUB_H))) \
	      $(DESTDIR)$(MAN1DIR)/maestro.1 $(DESTDIR)$(BASHCOMPDIR)/maestro $(DESTDIR)$(ZSHCOMPDIR)/_maestro
	rmdir $(DESTDIR)$(INCDIR) 2>/dev/null || true
	$(LDCONFIG)

# A fresh Debian 12 root (debootstrap), a clone of this commit, then the README's `make demo`
# and `make test` inside it. Slow (a few minutes plus a full test run); not part of `test`.
fresh-machine:
	@bash tests/fresh-machine.sh

# Benchmarks against the stub (bench/run.sh; results in bench/results/). Not part of `test`.
bench: all
	@sh bench/run.sh

clean:
	rm -rf build bin libmaestro.a

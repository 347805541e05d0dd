# Maestro build. Sources are found by wildcard so each module adds files without editing this.
# Targets: deps all test test-asan fuzz demo bench clean.
CC       ?= cc
CC_ASAN  ?= clang
CFLAGS   ?= -O2 -g
WERROR   ?= $(if $(CI),-Werror,)
PKGS      = libuv libcurl libnghttp2 libprotobuf-c yaml-0.1 libcjson
DEP_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
DEP_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lm
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter $(WERROR) \
              -Iinclude -I. -Ibuild/gen $(DEP_CFLAGS)

MODULES  = workflow loop transports grpc_h2 proto stub
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

# One tree per flavour: build/norm (plain) and build/asan (ASan+UBSan).
define flavour
$(1)_OBJ  = $$(patsubst %.c,build/$(1)/%.o,$$(LIB_SRC))
build/$(1)/%.o: %.c $$(GEN_H) | build/gen
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
build/$(1)/tests/cli/%.o: cli/%.c $$(GEN_H) | build/gen
	@mkdir -p $$(dir $$@)
	$$($(1)_CC) $$(BASE_CFLAGS) $$($(1)_CFLAGS) -DMAE_TEST_BUILD -MMD -MP -c $$< -o $$@
build/$(1)/tests/maestro-test: $$(patsubst cli/%.c,build/$(1)/tests/cli/%.o,$$(CLI_SRC)) build/$(1)/tests/libsupport.a build/$(1)/libmaestro_stub.a build/$(1)/libmaestro.a
	$$($(1)_CC) $$($(1)_CFLAGS) -o $$@ $$^ $$(DEP_LIBS)
$(1)_TESTS = $$(patsubst tests/%.c,build/$(1)/tests/%,$$(TEST_SRC)) build/$(1)/tests/maestro-test
-include $$(shell find build/$(1) -name '*.d' 2>/dev/null)
endef
norm_CC = $(CC)
norm_CFLAGS = $(CFLAGS)
asan_CC = $(CC_ASAN)
asan_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
fuzz_CC = $(CC_ASAN)
fuzz_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
$(eval $(call flavour,norm))
$(eval $(call flavour,asan))
$(eval $(call flavour,fuzz))

.PHONY: all build deps test test-norm test-asan fuzz demo bench clean
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

build/gen:
	@mkdir -p build/gen
# Static patterns (only the listed protos): a stale dependency file naming a header of a proto
# that no longer exists must not make make try to generate it.
$(GEN_C): build/gen/%.pb-c.c: proto/%.proto | build/gen
	protoc-c --proto_path=proto --c_out=build/gen $<
$(GEN_H): build/gen/%.pb-c.h: build/gen/%.pb-c.c
	@test -f $@ || protoc-c --proto_path=proto --c_out=build/gen proto/$*.proto

deps:
	@sh tests/deps.sh

# Runs every test binary of both flavours; the last line is the total.
test: deps bin/maestro build/asan/bin/maestro $(norm_TESTS) $(asan_TESTS)
	@sh tests/run.sh norm asan

test-norm: bin/maestro $(norm_TESTS)
	@sh tests/run.sh norm
test-asan: build/asan/bin/maestro $(asan_TESTS)
	@sh tests/run.sh asan

FUZZ_TIME ?= 60
FUZZ_BINS = $(patsubst tests/fuzz/%.c,build/fuzz/bin/%,$(FUZZ_SRC))
# Targets link against an archive, so a target pulls in only the modules it uses.
build/fuzz/bin/%: tests/fuzz/%.c build/fuzz/libmaestro.a
	@mkdir -p build/fuzz/bin
	$(CC_ASAN) $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $^ $(DEP_LIBS)
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	  echo "== $$n ($(FUZZ_TIME)s)"; \
	  $$f -max_total_time=$(FUZZ_TIME) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	    build/fuzz/corpus-$$n $$( [ -d tests/fuzz/seed-$$n ] && echo tests/fuzz/seed-$$n ) \
	    2>build/fuzz/$$n.log || { tail -40 build/fuzz/$$n.log; exit 1; }; \
	  if grep -qE 'runtime error:|ERROR: AddressSanitizer' build/fuzz/$$n.log; then \
	    grep -E -A20 'runtime error:|ERROR: AddressSanitizer' build/fuzz/$$n.log | head -40; exit 1; fi; \
	  grep -E 'stat::number_of_executed_units|Done' build/fuzz/$$n.log | tail -2; done

# The one-command demo: deploy_service against its stubs, healthy then failing (saga shown).
demo: deps all
	@bash examples/demo.sh

# Benchmarks against the stub (bench/run.sh; results in bench/results/). Not part of `test`.
bench: all
	@sh bench/run.sh

clean:
	rm -rf build bin libmaestro.a

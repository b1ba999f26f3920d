# nmtrain build. `make` builds the libraries (static and shared) and command,
# `make test` runs the suite optimised, `make test-asan` runs it under
# AddressSanitizer + UBSan, `make check` does both, builds the benchmarks and
# runs $(CHECK_EXTRA); `make install` is in mk/install.mk.
# Sources are picked up by folder, so a new file needs no Makefile edit.
PREFIX   ?= /usr/local
BUILD    ?= build
CC       ?= gcc
OPT      ?= -O3 -march=x86-64-v2 -mtune=native
# -fno-trapping-math: nothing reads the floating-point exception flags, and
# without it GCC will not if-convert a float comparison, so no loop with a
# clamp or a select (GELU, softmax's exp) vectorises.
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -fopenmp -fno-trapping-math -Iinclude -Isrc $(OPT) -MMD -MP
LDLIBS   += -lopenblas -ljpeg -lz -lpng -lcjson -lm -lpthread -fopenmp
VERSION  := $(shell sed -n 's/^\#define NMT_VERSION "\(.*\)"/\1/p' include/nmtrain/core.h)
SONAME   := libnmtrain.so.$(firstword $(subst ., ,$(VERSION)))

LIB_SRC  := $(wildcard src/core/*.c src/nm/*.c src/kernels/*.c src/layers/*.c \
                       src/models/*.c src/data/*.c src/train/*.c src/io/*.c src/sim/*.c)
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
BENCH_SRC:= $(wildcard bench/bench_*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

# Debian's interpreter, with the python3-torch, python3-onnx and
# python3-numpy that scripts/install-deps.sh installs (not a python3 that
# PATH may find first).
PYTHON ?= /usr/bin/python3

.PHONY: all test test-asan check run deps bench clean fixtures
all: $(BUILD)/libnmtrain.a $(BUILD)/libnmtrain.so $(BUILD)/nmtrain

# The library's objects also go into the shared library. Functions declared
# in the internal headers (src/*/*.h) are hidden; only the interface is
# exported, and every exported name starts with nmt_ (tests/check_symbols.sh).
LIB_CFLAGS := -fPIC -fno-semantic-interposition
$(LIB_OBJ): CFLAGS += $(LIB_CFLAGS)

# Every object is rebuilt when the compiler or its flags change (no
# dependency file records them): the stamp's name is their checksum.
FLAGS_STAMP := $(BUILD)/.flags-$(shell printf '%s' '$(CC) $(CFLAGS) $(LIB_CFLAGS)' | md5sum | cut -c1-12)
$(FLAGS_STAMP):
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/.flags-*
	@touch $@

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The installed static library is one object whose hidden symbols are made
# local, so a program linking it sees only the interface. The tests and
# benchmarks, which also call the internal functions, link the plain objects.
LIB_INTERNAL := $(BUILD)/internal/libnmtrain.a
$(LIB_INTERNAL): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libnmtrain.a: $(LIB_OBJ)
	@rm -f $@
	$(CC) -nostdlib -r -o $(BUILD)/libnmtrain.o $^
	objcopy --localize-hidden $(BUILD)/libnmtrain.o
	ar rcs $@ $(BUILD)/libnmtrain.o

$(BUILD)/libnmtrain.so.$(VERSION): $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -o $@ $^ $(LDLIBS)

$(BUILD)/libnmtrain.so: $(BUILD)/libnmtrain.so.$(VERSION)
	ln -sf libnmtrain.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf libnmtrain.so.$(VERSION) $@

# Data parallelism: the library has no MPI; the command links Open MPI's
# communicator (src/mpi/comm_mpi.c) when mpicc is there, else one process's.
MPICC    ?= $(shell command -v mpicc 2>/dev/null)
ifneq ($(MPICC),)
COMM_OBJ := $(BUILD)/src/mpi/comm_mpi.o
COMM_LIBS:= $(shell $(MPICC) --showme:link)
$(COMM_OBJ): CFLAGS += $(shell $(MPICC) --showme:compile)
else
COMM_OBJ := $(BUILD)/src/mpi/comm_single.o
endif

$(BUILD)/nmtrain: $(CLI_OBJ) $(COMM_OBJ) $(BUILD)/libnmtrain.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(COMM_OBJ) $(BUILD)/libnmtrain.a $(LDLIBS) $(COMM_LIBS)

$(BUILD)/tests/%: tests/%.c tests/harness.h $(LIB_INTERNAL)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_INTERNAL) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c bench/bench_timing.h $(LIB_INTERNAL)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_INTERNAL) $(LDLIBS)

# Tests run from the repository root so fixture paths are stable; the CLI
# tests find the command through NMTRAIN.
test: all $(TESTS)
	@./tests/check_symbols.sh $(BUILD)/libnmtrain.a $(BUILD)/libnmtrain.so
	@NMTRAIN=$(BUILD)/nmtrain ./tests/run.sh $(TESTS)

# The README's two commands: `make run` (the default job) and `make check`.
deps:
	@./scripts/install-deps.sh

run: deps
	$(MAKE) all
	$(BUILD)/nmtrain train

# Each part of the project that needs its own rules (hardware, fuzzing, the
# install test) keeps them in mk/NAME.mk and adds its check target to
# CHECK_EXTRA, which `make check` runs after the suites.
CHECK_EXTRA :=
-include mk/*.mk

check: deps
	$(MAKE) test
	$(MAKE) bench
	$(MAKE) test-asan
	$(if $(strip $(CHECK_EXTRA)),$(MAKE) $(CHECK_EXTRA))

test-asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	        LDLIBS="-lopenblas -ljpeg -lz -lpng -lcjson -lm -lpthread -fopenmp -fsanitize=address,undefined" test

bench: all $(BENCHES)

fixtures:
	$(PYTHON) tests/ref/make_fixtures.py tests/fixtures

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# nmtrain build. `make` builds the library and command, `make test` runs the
# suite optimised, `make test-asan` runs it under AddressSanitizer + UBSan,
# `make check` does both and builds the benchmarks.
# Sources are picked up by folder, so a new file needs no Makefile edit.
PREFIX   ?= /usr/local
BUILD    ?= build
CC       ?= gcc
OPT      ?= -O3 -march=x86-64-v2 -mtune=native
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -fopenmp -Iinclude -Isrc $(OPT) -MMD -MP
LDLIBS   += -lopenblas -ljpeg -lz -lpng -lm -lpthread -fopenmp

LIB_SRC  := $(wildcard src/core/*.c src/nm/*.c src/kernels/*.c src/layers/*.c \
                       src/models/*.c src/data/*.c src/train/*.c src/io/*.c src/sim/*.c)
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
BENCH_SRC:= $(wildcard bench/bench_*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test test-asan check run deps bench install clean fixtures
all: $(BUILD)/libnmtrain.a $(BUILD)/nmtrain $(BUILD)/nmtrain.pc

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libnmtrain.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/nmtrain: $(CLI_OBJ) $(BUILD)/libnmtrain.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libnmtrain.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/harness.h $(BUILD)/libnmtrain.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libnmtrain.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c bench/bench_timing.h $(BUILD)/libnmtrain.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libnmtrain.a $(LDLIBS)

$(BUILD)/nmtrain.pc: nmtrain.pc.in
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|' $< > $@

# Tests run from the repository root so fixture paths are stable; the CLI
# tests find the command through NMTRAIN.
test: all $(TESTS)
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
	        LDLIBS="-lopenblas -ljpeg -lz -lpng -lm -lpthread -fopenmp -fsanitize=address,undefined" test

bench: all $(BENCHES)

fixtures:
	python3 tests/ref/make_fixtures.py tests/fixtures

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/nmtrain $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(BUILD)/libnmtrain.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/nmtrain.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/nmtrain/*.h $(DESTDIR)$(PREFIX)/include/nmtrain/
	install -m 755 $(BUILD)/nmtrain $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/nmtrain.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

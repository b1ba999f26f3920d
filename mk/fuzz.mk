# libFuzzer harnesses (tests/fuzz/) for every reader of outside input: the
# safetensors, IDX and CIFAR readers, the SCALE-Sim .cfg and topology
# readers and the run-configuration reader. Debian's clang builds them with
# -fsanitize=fuzzer,address,undefined over a clang build of the library in
# $(FUZZ_BUILD). `make fuzz` runs each for FUZZ_SECONDS (600); `make check`
# runs each for FUZZ_CHECK_SECONDS (20) from the seed corpora in
# tests/fuzz/corpus/<target>/. Findings (crash-*, leak-*, timeout-*) are
# written to $(FUZZ_BUILD)/; docs/fuzzing.md records the runs.
FUZZ_BUILD         ?= build-fuzz
FUZZ_CC            ?= clang
FUZZ_SAN           := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS       := safetensors idx cifar sim_config topology run_config
FUZZ_BINS          := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_SECONDS       ?= 600
FUZZ_CHECK_SECONDS ?= 20
# The library's own; clang's -fopenmp links libomp instead of libgomp.
FUZZ_LDLIBS         = $(LDLIBS)

.PHONY: fuzz fuzz-check fuzz-lib
CHECK_EXTRA += fuzz-check

ifneq ($(BUILD),$(FUZZ_BUILD))
fuzz-lib:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) \
	    OPT="-O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Wno-unknown-pragmas -Wno-pass-failed" \
	    $(FUZZ_BUILD)/libnmtrain.a
endif

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_file.h fuzz-lib
	$(FUZZ_CC) -std=gnu11 -Wall -Wextra -Werror -Iinclude -Isrc -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer \
	    -o $@ $< $(FUZZ_BUILD)/libnmtrain.a $(FUZZ_LDLIBS)

# $(call fuzz_run,TARGET,SECONDS): new inputs go to $(FUZZ_BUILD)/corpus/TARGET,
# the seeds stay as they are; the last lines of the log on a finding.
define fuzz_run
	@mkdir -p $(FUZZ_BUILD)/corpus/$(1)
	@$(FUZZ_BUILD)/fuzz_$(1) -max_total_time=$(2) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/$(1)- $(FUZZ_BUILD)/corpus/$(1) tests/fuzz/corpus/$(1) \
	    > $(FUZZ_BUILD)/fuzz_$(1).log 2>&1 || (tail -40 $(FUZZ_BUILD)/fuzz_$(1).log; false)
	@echo "fuzz_$(1): $(2) s, $$(grep -o 'stat::number_of_executed_units: *[0-9]*' $(FUZZ_BUILD)/fuzz_$(1).log | grep -o '[0-9]*$$') runs, no finding"

endef

fuzz-check: $(FUZZ_BINS)
	$(foreach t,$(FUZZ_TARGETS),$(call fuzz_run,$(t),$(FUZZ_CHECK_SECONDS)))

fuzz: $(FUZZ_BINS)
	$(foreach t,$(FUZZ_TARGETS),$(call fuzz_run,$(t),$(FUZZ_SECONDS)))

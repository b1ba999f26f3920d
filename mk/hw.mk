# The RTL of SAT's compute core (hw/): Verilator testbenches checked by the C
# side (hw/tools/sat_hw.c), and Yosys synthesis. `make hw-check` runs in
# `make check`; `make synth` (minutes) does not.
HW_BUILD  := $(BUILD)/hw
HW_RTL    := $(wildcard hw/rtl/*.sv)
VERILATOR ?= verilator
# The generated C++ is compiled with little optimisation: the testbenches run
# for well under a second, the compile is what costs.
HW_VFLAGS := --cc --exe --build -j 2 -Wno-fatal -Wno-LATCH --x-assign fast --x-initial fast \
             -MAKEFLAGS "OPT_FAST=-O1 OPT_SLOW=-O0 OPT_GLOBAL=-O1"

.PHONY: hw-check synth
CHECK_EXTRA += hw-check

$(HW_BUILD)/sat_hw: hw/tools/sat_hw.c $(BUILD)/libnmtrain.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libnmtrain.a $(LDLIBS)

# sat_tile at R x C PEs, adder latency A: $(call hw_tile,R,C,A)
define hw_tile
$(HW_BUILD)/tile$(1)x$(2)/Vtile: $(HW_RTL) hw/tb/tile_main.cpp
	@mkdir -p $$(dir $$@)
	$(VERILATOR) $(HW_VFLAGS) --Mdir $$(dir $$@) --top-module sat_tile -o Vtile \
	    -GR=$(1) -GC=$(2) -GA=$(3) -GMAXM=16 -GIMAX=16 -GTMMAX=32 -GTNMAX=32 -GKMAX=128 \
	    -CFLAGS "-DSAT_TMMAX=32 -DSAT_TNMAX=32 -DSAT_KMAX=128" $(HW_RTL) $(CURDIR)/hw/tb/tile_main.cpp > $$(dir $$@)build.log 2>&1 \
	    || (cat $$(dir $$@)build.log; false)
endef
$(eval $(call hw_tile,4,4,4))
$(eval $(call hw_tile,8,8,8))

# $(call hw_run_tile,R,C,A): stimulus from the C side, the RTL, the C check
define hw_run_tile
	$(HW_BUILD)/sat_hw tile-stim --rows $(1) --cols $(2) --adder $(3) --out $(HW_BUILD)/tile$(1)x$(2)/t
	$(HW_BUILD)/tile$(1)x$(2)/Vtile < $(HW_BUILD)/tile$(1)x$(2)/t.stim > $(HW_BUILD)/tile$(1)x$(2)/t.out
	$(HW_BUILD)/sat_hw tile-check $(HW_BUILD)/tile$(1)x$(2)/t.expect $(HW_BUILD)/tile$(1)x$(2)/t.out
endef

hw-check: $(HW_BUILD)/sat_hw $(HW_BUILD)/tile4x4/Vtile $(HW_BUILD)/tile8x8/Vtile
	$(call hw_run_tile,4,4,4)
	$(call hw_run_tile,8,8,8)

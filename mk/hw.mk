# The RTL of SAT's compute core (hw/): Verilator testbenches checked by the C
# side (hw/tools/sat_hw.c), and Yosys synthesis. `make hw-check` runs in
# `make check`; `make synth` (minutes) does not.
HW_BUILD  := $(BUILD)/hw
HW_TILE_RTL := $(addprefix hw/rtl/,fp16_mul.sv fp32_add.sv pipe.sv sat_pe.sv sat_array.sv sat_tile.sv)
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
$(HW_BUILD)/tile$(1)x$(2)/Vtile: $(HW_TILE_RTL) hw/tb/tile_main.cpp
	@mkdir -p $$(dir $$@)
	$(VERILATOR) $(HW_VFLAGS) --Mdir $$(dir $$@) --top-module sat_tile -o Vtile \
	    -GR=$(1) -GC=$(2) -GA=$(3) -GMAXM=16 -GIMAX=16 -GTMMAX=32 -GTNMAX=32 -GKMAX=128 \
	    -CFLAGS "-DSAT_TMMAX=32 -DSAT_TNMAX=32 -DSAT_KMAX=128" $(HW_TILE_RTL) $(CURDIR)/hw/tb/tile_main.cpp > $$(dir $$@)build.log 2>&1 \
	    || (cat $$(dir $$@)build.log; false)
endef
$(eval $(call hw_tile,4,4,4))
$(eval $(call hw_tile,8,8,8))

# The generator with 4 lanes (48-row weights then take 12 passes; the
# synthesis maps SAT's 32): a 32-lane build compiles for minutes
HW_GEN_RTL := hw/rtl/sat_gen_tile.sv hw/rtl/sat_gen.sv hw/rtl/sat_gen_lane.sv hw/rtl/fp32_to_fp16.sv
$(HW_BUILD)/gen4/Vgen: $(HW_GEN_RTL) hw/tb/gen_main.cpp
	@mkdir -p $(dir $@)
	$(VERILATOR) $(HW_VFLAGS) --Mdir $(dir $@) --top-module sat_gen_tile -o Vgen -GLANES=4 -GMAXM=16 -GDIM=64 \
	    -CFLAGS "-DSAT_DIM=64" $(HW_GEN_RTL) $(CURDIR)/hw/tb/gen_main.cpp > $(dir $@)build.log 2>&1 \
	    || (cat $(dir $@)build.log; false)

# The adder and multiplier alone, against C float arithmetic
HW_FP_RTL := hw/tb/fp_units.sv hw/rtl/fp32_add.sv hw/rtl/fp16_mul.sv hw/rtl/pipe.sv
$(HW_BUILD)/fp/Vfp: $(HW_FP_RTL) hw/tb/fp_main.cpp
	@mkdir -p $(dir $@)
	$(VERILATOR) $(HW_VFLAGS) --Mdir $(dir $@) --top-module fp_units -o Vfp $(HW_FP_RTL) \
	    $(CURDIR)/hw/tb/fp_main.cpp > $(dir $@)build.log 2>&1 || (cat $(dir $@)build.log; false)

# $(call hw_run_tile,R,C,A,OPTIONS): stimulus from the C side, the RTL, the C check
define hw_run_tile
	$(HW_BUILD)/sat_hw tile-stim --rows $(1) --cols $(2) --adder $(3) $(4) --out $(HW_BUILD)/tile$(1)x$(2)/t
	$(HW_BUILD)/tile$(1)x$(2)/Vtile < $(HW_BUILD)/tile$(1)x$(2)/t.stim > $(HW_BUILD)/tile$(1)x$(2)/t.out
	$(HW_BUILD)/sat_hw tile-check $(HW_BUILD)/tile$(1)x$(2)/t.expect $(HW_BUILD)/tile$(1)x$(2)/t.out
endef

hw-check: $(HW_BUILD)/sat_hw $(HW_BUILD)/fp/Vfp $(HW_BUILD)/tile4x4/Vtile $(HW_BUILD)/tile8x8/Vtile $(HW_BUILD)/gen4/Vgen
	$(HW_BUILD)/sat_hw fp-stim --out $(HW_BUILD)/fp/f
	$(HW_BUILD)/fp/Vfp < $(HW_BUILD)/fp/f.stim > $(HW_BUILD)/fp/f.out
	$(HW_BUILD)/sat_hw fp-check $(HW_BUILD)/fp/f.expect $(HW_BUILD)/fp/f.out
	$(call hw_run_tile,4,4,4)
	$(call hw_run_tile,8,8,8,--layer)
	$(HW_BUILD)/sat_hw gen-stim --rows 4 --out $(HW_BUILD)/gen4/g
	$(HW_BUILD)/gen4/Vgen < $(HW_BUILD)/gen4/g.stim > $(HW_BUILD)/gen4/g.out
	$(HW_BUILD)/sat_hw gen-check $(HW_BUILD)/gen4/g.expect $(HW_BUILD)/gen4/g.out

# Synthesis for UltraScale+ (the VU9P's family): PEs, arrays, the
# generator. Under a minute per PE; a whole 32 x 32 array about 6 CPU
# minutes and 1.7 GB (Yosys's opt_clean over the array module's
# 1024-instance netlist is most of it), so `make synth` is never part of
# make check. One line per design in
# $(HW_SYNTH)/NAME.line; the table is $(HW_SYNTH)/summary.txt (docs/sat.md).
HW_SYNTH := $(HW_BUILD)/synth
HW_SYNTH_DESIGNS := pe_dense pe_nm8 pe_nm16 gen_lane_m16 array8_nm16 array32_dense array32_nm8 array32_nm16 gen32_m16
# name: top and parameters
hw_synth_pe_dense      := sat_pe MAXM=1 IMAX=8 A=8
hw_synth_pe_nm8        := sat_pe MAXM=8 IMAX=8 A=8
hw_synth_pe_nm16       := sat_pe MAXM=16 IMAX=8 A=8
hw_synth_gen_lane_m16  := sat_gen_lane MAXM=16
hw_synth_array8_nm16   := sat_array_top SYN_R=8 SYN_C=8 SYN_MAXM=16 SYN_IMAX=8 SYN_A=8
hw_synth_array32_dense := sat_array_top SYN_R=32 SYN_C=32 SYN_MAXM=1 SYN_IMAX=8 SYN_A=8
hw_synth_array32_nm8   := sat_array_top SYN_R=32 SYN_C=32 SYN_MAXM=8 SYN_IMAX=8 SYN_A=8
hw_synth_array32_nm16  := sat_array_top SYN_R=32 SYN_C=32 SYN_MAXM=16 SYN_IMAX=8 SYN_A=8
hw_synth_gen32_m16     := sat_gen LANES=32 MAXM=16

HW_SYNTH_PE  := $(addprefix hw/rtl/,fp16_mul.sv fp32_add.sv pipe.sv sat_pe.sv sat_array.sv) hw/synth/sat_array_top.sv
HW_SYNTH_GEN := $(addprefix hw/rtl/,fp32_to_fp16.sv sat_gen_lane.sv sat_gen.sv)
$(foreach d,pe_dense pe_nm8 pe_nm16 array8_nm16 array32_dense array32_nm8 array32_nm16,$(eval $(HW_SYNTH)/$(d).line: $(HW_SYNTH_PE)))
$(foreach d,gen_lane_m16 gen32_m16,$(eval $(HW_SYNTH)/$(d).line: $(HW_SYNTH_GEN)))

# the arrays' and the 32-lane generator's depth is their PE's or lane's
$(HW_SYNTH)/%.line: hw/synth/synth.sh
	@mkdir -p $(dir $@)
	$(if $(filter array% gen32%,$*),DEPTH=0) hw/synth/synth.sh $* $(firstword $(hw_synth_$*)) $(HW_SYNTH) $(wordlist 2,99,$(hw_synth_$*)) > $@.tmp && mv $@.tmp $@

synth: $(HW_SYNTH_DESIGNS:%=$(HW_SYNTH)/%.line)
	@(echo "name LUT FF DSP BRAM36 BRAM18 URAM CARRY depth"; cat $^) > $(HW_SYNTH)/summary.txt
	@cat $(HW_SYNTH)/summary.txt

#!/bin/sh
# One Yosys run: hw/synth/synth.sh NAME TOP OUTDIR [PARAM=VALUE ...]
# Maps TOP (with the given parameters) to UltraScale+ (synth_xilinx -family
# xcup, hierarchy kept, so a 32 x 32 array maps its PE once), writes
# OUTDIR/NAME.stat (the hierarchy's totals) and, unless DEPTH=0,
# OUTDIR/NAME.depth (the longest path between flip-flops in LUT levels, from
# a generic flattened LUT6 mapping in which multipliers are LUTs, not DSPs;
# Yosys cannot trace paths through the Xilinx cells), and prints one line:
#   NAME LUT FF DSP BRAM36 BRAM18 URAM CARRY DEPTH
set -e
name=$1 top=$2 out=$3
shift 3
# PARAM=VALUE re-parameterises TOP; SYN_X=VALUE defines a macro for the
# array's wrapper (hw/synth/sat_array_top.sv), which hierarchy -chparam
# cannot re-parameterise in Yosys 0.23
chparams="" defines="" wrapper=""
for p in "$@"; do
    case $p in
    SYN_*) defines="$defines -D$p" wrapper="$(dirname "$0")/sat_array_top.sv" ;;
    *) chparams="$chparams -chparam ${p%%=*} ${p#*=}" ;;
    esac
done
# *_tile.sv (controllers with behavioural buffers) are simulation-level: not read
rtl="$(ls "$(dirname "$0")"/../rtl/*.sv | grep -v _tile.sv | tr '\n' ' ') $wrapper"
mkdir -p "$out"
yosys -q -l "$out/$name.log" -p "read_verilog -sv $defines $rtl; hierarchy -top $top $chparams;
    synth_xilinx -family xcup -top $top -noiopad -noclkbuf; tee -q -o $out/$name.stat stat -top $top" >/dev/null
[ "${DEPTH:-1}" = 0 ] || yosys -q -l "$out/$name.depth.log" -p "read_verilog -sv $defines $rtl; hierarchy -top $top $chparams;
    synth -flatten -top $top; abc -lut 6; opt_clean; tee -q -o $out/$name.depth ltp -noff" >/dev/null
# the totals are the last block of the stat file (the design hierarchy)
awk -v name="$name" '
    /=== design hierarchy ===/ { tot = 1 }
    !tot { next }
    $1 ~ /^LUT[1-6]$/ || $1 ~ /^SRL/ || $1 ~ /^RAM(32|64|128|256)/ { lut += $2 }
    $1 ~ /^FD/ { ff += $2 }
    $1 ~ /^DSP48/ { dsp += $2 }
    $1 == "RAMB36E2" { b36 += $2 }
    $1 == "RAMB18E2" { b18 += $2 }
    $1 == "URAM288" { uram += $2 }
    $1 ~ /^CARRY/ { carry += $2 }
    END {
        depth = "-"
        while ((getline line < (FILENAME_DEPTH)) > 0)
            if (match(line, /length=[0-9]+/)) depth = substr(line, RSTART + 7, RLENGTH - 7)
        printf "%s %d %d %d %d %d %d %d %s\n", name, lut, ff, dsp, b36, b18, uram, carry, depth
    }' FILENAME_DEPTH="$out/$name.depth" "$out/$name.stat"

// Synthesis top for sat_array: Yosys 0.23 asserts when `hierarchy -chparam`
// re-parameterises sat_array, so the sizes come in as macros (SYN_R, SYN_C,
// SYN_MAXM, SYN_IMAX, SYN_A; hw/synth/synth.sh) and this wrapper passes them.
`define SYN_IW (`SYN_MAXM > 1 ? $clog2(`SYN_MAXM) : 1)
`define SYN_TGW 8
module sat_array_top (
    input  logic                                clk,
    input  logic                                cfg_ws,
    input  logic [4:0]                          cfg_p,
    input  logic [$clog2(`SYN_R)-1:0]           tap_row,
    input  logic                                w_shift, shift_up, shift_dn,
    input  logic [`SYN_R-1:0]                   h_vld, h_first,
    input  logic [`SYN_R*`SYN_TGW-1:0]          h_tag,
    input  logic [`SYN_R*`SYN_IW-1:0]           h_idx,
    input  logic [`SYN_R*`SYN_MAXM*16-1:0]      h_lanes,
    input  logic [`SYN_C*`SYN_MAXM*16-1:0]      v_lanes,
    input  logic [`SYN_C*(16+`SYN_IW)-1:0]      w_top,
    input  logic [`SYN_C*32-1:0]                ps_top,
    input  logic [`SYN_C*32-1:0]                d_top,
    output logic [`SYN_C*32-1:0]                drain,
    output logic [`SYN_C*32-1:0]                tap_sum,
    output logic [`SYN_C-1:0]                   tap_vld,
    output logic [`SYN_C*`SYN_TGW-1:0]          tap_tag
);
    sat_array #(.R(`SYN_R), .C(`SYN_C), .A(`SYN_A), .MAXM(`SYN_MAXM), .IMAX(`SYN_IMAX), .TGW(`SYN_TGW)) u_array (
        .clk(clk), .cfg_ws(cfg_ws), .cfg_p(cfg_p), .tap_row(tap_row), .w_shift(w_shift), .shift_up(shift_up),
        .shift_dn(shift_dn), .h_vld(h_vld), .h_first(h_first), .h_tag(h_tag), .h_idx(h_idx), .h_lanes(h_lanes),
        .v_lanes(v_lanes), .w_top(w_top), .ps_top(ps_top), .d_top(d_top), .drain(drain), .tap_sum(tap_sum),
        .tap_vld(tap_vld), .tap_tag(tap_tag));
endmodule

// R x C PEs (sat_pe), wired for both dataflows. Row pr's left edge takes
// h_*[pr] (OS: the A stream of output row pr; WS: the B stream of reduction
// row pr), column pc's top edge takes v_lanes[pc] (OS: the B group stream),
// w_top[pc] (WS weight load), ps_top[pc] (WS: the partial sum entering the
// column) and d_top[pc] (OS preload). The edges are fed skewed by the
// caller (sat_tile): row pr one cycle (OS) or A cycles (WS) after row pr-1,
// column pc one cycle after column pc-1.
//
// Outputs: the OS drain leaves at the top of each column (drain[pc] is row
// 0's acc[0]); the WS partial sums leave at row tap_row (the last row the
// fold uses, so a fold of r rows passes r adders, not R), one register early
// so that the output buffer's write is the A-th stage.
module sat_array #(
    parameter int R = 8,
    parameter int C = 8,
    parameter int A = 8,
    parameter int MAXM = 16,
    parameter int IMAX = 8,
    parameter int TGW = 8
) (
    input  logic                   clk,
    input  logic                   cfg_ws,
    input  logic [4:0]             cfg_p,
    input  logic [$clog2(R)-1:0]   tap_row,
    input  logic                   w_shift, shift_up, shift_dn,
    input  logic [R-1:0]           h_vld, h_first,
    input  logic [R*TGW-1:0]       h_tag,
    input  logic [R*IW-1:0]        h_idx,
    input  logic [R*MAXM*16-1:0]   h_lanes,
    input  logic [C*MAXM*16-1:0]   v_lanes,
    input  logic [C*(16+IW)-1:0]   w_top,
    input  logic [C*32-1:0]        ps_top,
    input  logic [C*32-1:0]        d_top,
    output logic [C*32-1:0]        drain,
    output logic [C*32-1:0]        tap_sum,
    output logic [C-1:0]           tap_vld,
    output logic [C*TGW-1:0]       tap_tag
);
    localparam int IW = MAXM > 1 ? $clog2(MAXM) : 1;

    // horizontal nets: column index 0..C (C = past the right edge)
    logic                 hv  [R][C+1];
    logic                 hf  [R][C+1];
    logic [TGW-1:0]       ht  [R][C+1];
    logic [IW-1:0]        hi  [R][C+1];
    logic [MAXM*16-1:0]   hl  [R][C+1];
    // vertical nets: row index 0..R
    logic [MAXM*16-1:0]   vl  [R+1][C];
    logic [16+IW-1:0]     vw  [R+1][C];
    logic [31:0]          vp  [R+1][C];
    logic [31:0]          dup [R+1][C];
    logic [31:0]          ddn [R+1][C];
    // the WS tap's sources, PE (pr, pc) at word pc*R + pr: packed, a column
    // per R words, so the tap is an R:1 multiplexer per column. (Read at
    // [tap_row][pc] from an unpacked [R][C] array, Yosys 0.23 compares the
    // flattened address with all R x C words for every read: 3 C (R C - 1)
    // comparators and R C-way multiplexers, 98k at 32 x 32, which kept the
    // whole-array synthesis from finishing.)
    logic [R*C*32-1:0]  s;
    logic [R*C-1:0]     sv;
    logic [R*C*TGW-1:0] st;

    for (genvar pr = 0; pr < R; pr++) begin : g_row_edge
        assign hv[pr][0] = h_vld[pr];
        assign hf[pr][0] = h_first[pr];
        assign ht[pr][0] = h_tag[pr*TGW +: TGW];
        assign hi[pr][0] = h_idx[pr*IW +: IW];
        assign hl[pr][0] = h_lanes[pr*MAXM*16 +: MAXM*16];
    end
    for (genvar pc = 0; pc < C; pc++) begin : g_col_edge
        assign vl[0][pc] = v_lanes[pc*MAXM*16 +: MAXM*16];
        assign vw[0][pc] = w_top[pc*(16+IW) +: 16+IW];
        assign vp[0][pc] = ps_top[pc*32 +: 32];
        assign ddn[0][pc] = d_top[pc*32 +: 32];
        assign dup[R][pc] = 32'd0;
        assign drain[pc*32 +: 32] = dup[0][pc];
        wire [R*32-1:0]  col_s = s[pc*R*32 +: R*32];
        wire [R-1:0]     col_v = sv[pc*R +: R];
        wire [R*TGW-1:0] col_t = st[pc*R*TGW +: R*TGW];
        assign tap_sum[pc*32 +: 32] = col_s[tap_row*32 +: 32];
        assign tap_vld[pc] = col_v[tap_row];
        assign tap_tag[pc*TGW +: TGW] = col_t[tap_row*TGW +: TGW];
    end

    for (genvar pr = 0; pr < R; pr++) begin : g_r
        for (genvar pc = 0; pc < C; pc++) begin : g_c
            sat_pe #(.A(A), .MAXM(MAXM), .IMAX(IMAX), .TGW(TGW)) u_pe (
                .clk(clk), .cfg_ws(cfg_ws), .cfg_p(cfg_p), .w_shift(w_shift),
                .shift_up(shift_up), .shift_dn(shift_dn),
                .h_vld_in(hv[pr][pc]), .h_first_in(hf[pr][pc]), .h_tag_in(ht[pr][pc]),
                .h_idx_in(hi[pr][pc]), .h_lanes_in(hl[pr][pc]),
                .h_vld_out(hv[pr][pc+1]), .h_first_out(hf[pr][pc+1]), .h_tag_out(ht[pr][pc+1]),
                .h_idx_out(hi[pr][pc+1]), .h_lanes_out(hl[pr][pc+1]),
                .v_lanes_in(vl[pr][pc]), .v_lanes_out(vl[pr+1][pc]),
                .w_in(vw[pr][pc]), .w_out(vw[pr+1][pc]),
                .v_ps_in(vp[pr][pc]), .v_ps_out(vp[pr+1][pc]),
                .sum(s[(pc*R+pr)*32 +: 32]), .sum_vld(sv[pc*R+pr]), .sum_tag(st[(pc*R+pr)*TGW +: TGW]),
                .d_up_in(dup[pr+1][pc]), .d_up_out(dup[pr][pc]),
                .d_dn_in(ddn[pr][pc]), .d_dn_out(ddn[pr+1][pc]));
        end
    end
endmodule

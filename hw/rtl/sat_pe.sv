// One PE of SAT's array: an FP16 multiplier feeding an FP32 adder of
// latency A, in one of two dataflows (cfg_ws, static during a fold).
//
// Output stationary (cfg_ws = 0): the A operand (value, in-group index)
// arrives from the left on h_lanes[15:0] / h_idx, the B operand's group of M
// activations from above on v_lanes; the M:1 multiplexer picks lane `idx`
// (dense: idx = 0). The PE holds up to IMAX accumulators (interleaved
// outputs, slot h_q); a product for slot q is added to acc[q] (or to +0 on
// the first reduction step) and written back A cycles later, so a slot may be
// issued again after A cycles. acc is drained upward (shift_up: acc[q] <-
// acc[q+1], the last slot from the PE below) and preloaded downward
// (shift_dn), P = cfg_p slots per PE.
//
// Weight stationary (cfg_ws = 1): the weight (value, index) is loaded from
// above while w_shift is high and stays; the B group arrives from the left on
// h_lanes; the partial sum from above (v_ps) plus the product leaves as ps_out
// A cycles later (ps_out is the A-th register), with the sideband tag
// (valid, column x) beside it; sum/tag_out are the same one register earlier
// for the array's tap at the last used row.
//
// Operands pass right (h_*) and down (v_lanes, w) through one register each.
module sat_pe #(
    parameter int A = 8,       // adder latency
    parameter int MAXM = 16,   // lanes of the activation group (1: dense only)
    parameter int IMAX = 8,    // accumulator slots (OS interleave)
    parameter int TGW = 8      // tag width: slot (OS) or column index (WS)
) (
    input  logic                 clk,
    input  logic                 cfg_ws,
    input  logic [4:0]           cfg_p,      // OS slots in use (1..IMAX)
    input  logic                 w_shift,
    input  logic                 shift_up,
    input  logic                 shift_dn,
    // from the left / to the right
    input  logic                 h_vld_in, h_first_in,
    input  logic [TGW-1:0]       h_tag_in,
    input  logic [IW-1:0]        h_idx_in,
    input  logic [MAXM*16-1:0]   h_lanes_in,
    output logic                 h_vld_out, h_first_out,
    output logic [TGW-1:0]       h_tag_out,
    output logic [IW-1:0]        h_idx_out,
    output logic [MAXM*16-1:0]   h_lanes_out,
    // from above / below
    input  logic [MAXM*16-1:0]   v_lanes_in,
    output logic [MAXM*16-1:0]   v_lanes_out,
    input  logic [16+IW-1:0]     w_in,       // WS weight load chain {idx, value}
    output logic [16+IW-1:0]     w_out,
    input  logic [31:0]          v_ps_in,
    output logic [31:0]          v_ps_out,
    // the sum one register before ps_out (the WS tap)
    output logic [31:0]          sum,
    output logic                 sum_vld,
    output logic [TGW-1:0]       sum_tag,
    // OS drain (upward) and preload (downward) chains
    input  logic [31:0]          d_up_in,
    output logic [31:0]          d_up_out,
    input  logic [31:0]          d_dn_in,
    output logic [31:0]          d_dn_out
);
    localparam int IW = MAXM > 1 ? $clog2(MAXM) : 1;

    logic [16+IW-1:0] w_reg;
    logic [31:0] acc [IMAX];

    logic [15:0] mul_a, mul_b;
    logic [IW-1:0] sel;
    logic [31:0] product, addend;
    always_comb begin
        mul_a = cfg_ws ? w_reg[15:0] : h_lanes_in[15:0];
        sel = cfg_ws ? w_reg[16+IW-1:16] : h_idx_in;
        if (MAXM == 1) sel = '0;
        mul_b = cfg_ws ? h_lanes_in[16*sel +: 16] : v_lanes_in[16*sel +: 16];
        addend = cfg_ws ? v_ps_in : (h_first_in ? 32'd0 : acc[h_tag_in[$clog2(IMAX)-1:0]]);
    end

    fp16_mul u_mul (.a(mul_a), .b(mul_b), .p(product));

    fp32_add #(.A(A), .TW(1 + TGW)) u_add (
        .clk(clk), .a(addend), .b(product), .tag_in({h_vld_in, h_tag_in}),
        .sum(sum), .tag_out({sum_vld, sum_tag}));

    always_ff @(posedge clk) begin
        h_vld_out <= h_vld_in;
        h_first_out <= h_first_in;
        h_tag_out <= h_tag_in;
        h_idx_out <= h_idx_in;
        h_lanes_out <= h_lanes_in;
        v_lanes_out <= v_lanes_in;
        v_ps_out <= sum;
        if (w_shift) w_reg <= w_in;
        if (shift_up) begin
            for (int q = 0; q < IMAX; q++)
                acc[q] <= (q + 1 == cfg_p || q + 1 == IMAX) ? d_up_in : acc[q + 1 < IMAX ? q + 1 : q];
        end else if (shift_dn) begin
            for (int q = 0; q < IMAX; q++) acc[q] <= q == 0 ? d_dn_in : acc[q > 0 ? q - 1 : 0];
        end else if (!cfg_ws && sum_vld) begin
            acc[sum_tag[$clog2(IMAX)-1:0]] <= sum;
        end
    end
    assign w_out = w_reg;
    assign d_up_out = acc[0];
    assign d_dn_out = acc[cfg_p[$clog2(IMAX)-1:0] - 1'b1];
endmodule

// The sparse weight generator: LANES lanes (sat_gen_lane), each turning one
// group of M weights into its N kept (index, FP16 value) slots in M cycles.
// All lanes stream in step; lane l takes in_val[l] when in_lanes[l] is set.
module sat_gen #(parameter int LANES = 32, parameter int MAXM = 16) (
    input  logic                            clk,
    input  logic [5:0]                      cfg_n,
    input  logic [5:0]                      cfg_m,
    input  logic                            in_first,
    input  logic [LANES-1:0]                in_lanes,
    input  logic [LANES*32-1:0]             in_val,
    output logic [LANES-1:0]                out_vld,
    output logic [LANES*MAXM*(16+IW)-1:0]   out_slots
);
    localparam int IW = $clog2(MAXM);
    for (genvar l = 0; l < LANES; l++) begin : g_lane
        sat_gen_lane #(.MAXM(MAXM)) u_lane (
            .clk(clk), .cfg_n(cfg_n), .cfg_m(cfg_m), .in_vld(in_lanes[l]), .in_first(in_first),
            .in_val(in_val[l*32 +: 32]), .out_vld(out_vld[l]),
            .out_slots(out_slots[l*MAXM*(16+IW) +: MAXM*(16+IW)]));
    end
endmodule

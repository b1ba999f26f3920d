// Runs the generator (sat_gen) over a weight matrix W[rows x cols] held in a
// local buffer, in either direction, and writes the packed operand the PE
// array reads into pbuf[row'][group][slot] = {index, FP16 value}:
//   forward  (cfg_bw = 0): row' = output channel r, groups of M along the
//            input channels: W[r][g*M + j]
//   backward (cfg_bw = 1): row' = input channel c, groups of M along the
//            output channels: W[g*M + j][c] (the rows of W^T)
// Lane l takes row' = pass*LANES + l; each pass streams the k = cols (rows)
// elements of its rows one per cycle. `cycles` counts from start to the
// cycle that writes the last group: passes * k + 1. Simulation-level like
// sat_tile (behavioural buffers); sat_gen itself is synthesised.
module sat_gen_tile #(
    parameter int LANES = 32,
    parameter int MAXM = 16,
    parameter int DIM = 64          // rows, cols <= DIM
) (
    input  logic        clk,
    input  logic        rst,
    input  logic        host_we_w,
    input  logic [31:0] host_addr,
    input  logic [31:0] host_data,
    output logic [31:0] host_q,     // pbuf[host_addr]
    input  logic        cfg_bw,
    input  logic [5:0]  cfg_n,
    input  logic [5:0]  cfg_m,
    input  logic [15:0] cfg_rows,
    input  logic [15:0] cfg_cols,
    input  logic        start,
    output logic        busy,
    output logic [31:0] cycles
);
    localparam int IW = $clog2(MAXM);
    logic [31:0]       wbuf [DIM*DIM];
    logic [16+IW-1:0]  pbuf [DIM*DIM];

    int rowsp, klen, passes;
    always_comb begin
        rowsp = cfg_bw ? int'(cfg_cols) : int'(cfg_rows);
        klen = cfg_bw ? int'(cfg_rows) : int'(cfg_cols);
        passes = (rowsp + LANES - 1) / LANES;
    end

    logic running, tail;
    int pass, e;                     // feed position
    int out_pass, out_group;         // the group the lanes emit this cycle

    logic [LANES-1:0]          in_lanes, out_vld;
    logic [LANES*32-1:0]       in_val;
    logic [LANES*MAXM*(16+IW)-1:0] out_slots;
    always_comb begin
        in_lanes = '0;
        in_val = '0;
        for (int l = 0; l < LANES; l++) begin
            int rp;
            rp = pass * LANES + l;
            if (running && rp < rowsp) begin
                in_lanes[l] = 1'b1;
                in_val[l*32 +: 32] = cfg_bw ? wbuf[e * DIM + rp] : wbuf[rp * DIM + e];
            end
        end
    end
    sat_gen #(.LANES(LANES), .MAXM(MAXM)) u_gen (
        .clk(clk), .cfg_n(cfg_n), .cfg_m(cfg_m), .in_first(e % int'(cfg_m) == 0), .in_lanes(in_lanes),
        .in_val(in_val), .out_vld(out_vld), .out_slots(out_slots));

    assign busy = running || tail;
    assign host_q = {{(32-16-IW){1'b0}}, pbuf[host_addr]};
    // slot s of group g of row' rp: pbuf[rp * DIM + g * N + s]; nothing
    // reads pbuf in the cycle it is written, so blocking writes are safe
    always @(posedge clk) begin
        for (int l = 0; l < LANES; l++)
            if (out_vld[l])
                for (int s = 0; s < MAXM; s++)
                    if (s < int'(cfg_n))
                        pbuf[(out_pass * LANES + l) * DIM + out_group * int'(cfg_n) + s] =
                            out_slots[(l * MAXM + s) * (16 + IW) +: 16 + IW];
    end
    always_ff @(posedge clk) begin
        if (host_we_w) wbuf[host_addr] <= host_data;
        if (rst) begin
            running <= 1'b0;
            tail <= 1'b0;
        end else if (start && !busy) begin
            running <= 1'b1;
            pass <= 0;
            e <= 0;
            cycles <= 0;
        end else if (busy) begin
            cycles <= cycles + 1;
            tail <= 1'b0;
            if (running) begin
                // the group ending at this element is emitted next cycle
                out_pass <= pass;
                out_group <= e / int'(cfg_m);
                if (e == klen - 1) begin
                    e <= 0;
                    pass <= pass + 1;
                    if (pass == passes - 1) begin
                        running <= 1'b0;
                        tail <= 1'b1;
                    end
                end else begin
                    e <= e + 1;
                end
            end
        end
    end
endmodule

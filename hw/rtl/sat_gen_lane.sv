// One lane of the sparse weight generator: a streaming top-N sorter. The M
// FP32 weights of a group arrive one per cycle (in_first marks position 0);
// a list of N (magnitude, position) pairs is kept sorted, largest first, and
// a newcomer is inserted where it is strictly larger than the entry there,
// so equal magnitudes keep the lower position. Magnitudes compare as the
// bits of |w| (the engine's rule: +0 and -0 tie, NaN is the largest).
// One cycle after a group's last element the lane emits its N kept entries
// in ascending position, each {position, FP16 value rounded to nearest even}
// (the layout the PE array reads: nmt_packed's slots), while the next
// group already streams in.
module sat_gen_lane #(parameter int MAXM = 16) (
    input  logic                      clk,
    input  logic [5:0]                cfg_n,
    input  logic [5:0]                cfg_m,
    input  logic                      in_vld,
    input  logic                      in_first,
    input  logic [31:0]               in_val,
    output logic                      out_vld,
    output logic [MAXM*(16+IW)-1:0]   out_slots   // slot s: {index, FP16}
);
    localparam int IW = $clog2(MAXM);

    logic [15:0]     stage [MAXM];  // the group's values, rounded to FP16 as they arrive
    logic [30:0]     key   [MAXM];  // kept magnitudes, sorted (slots < N used)
    logic [IW-1:0]   pos   [MAXM];
    logic [MAXM-1:0] used;          // slot holds an entry
    logic [IW-1:0]   count;         // position of the next element

    // insertion of the newcomer into the list (combinational)
    logic [IW-1:0]   here;          // the newcomer's position
    logic [30:0]     nkey [MAXM];
    logic [IW-1:0]   npos [MAXM];
    logic [MAXM-1:0] nused, above;  // above: slot s ranks above the newcomer
    always_comb begin
        here = in_first ? '0 : count;
        for (int s = 0; s < MAXM; s++)
            above[s] = !in_first && used[s] && !(in_val[30:0] > key[s]);
        for (int s = 0; s < MAXM; s++) begin
            if (above[s]) begin
                nkey[s] = key[s];
                npos[s] = pos[s];
                nused[s] = 1'b1;
            end else if (s == 0 || above[s == 0 ? 0 : s - 1]) begin
                nkey[s] = in_val[30:0];
                npos[s] = here;
                nused[s] = s < cfg_n;
            end else begin
                nkey[s] = key[s == 0 ? 0 : s - 1];
                npos[s] = pos[s == 0 ? 0 : s - 1];
                nused[s] = !in_first && used[s == 0 ? 0 : s - 1] && s < cfg_n;
            end
        end
    end

    // one rounder per lane: the value is rounded on arrival, the magnitude
    // compared in FP32
    logic [15:0] in_half;
    fp32_to_fp16 u_round (.x(in_val), .h(in_half));

    // the finished group: kept positions as a mask, and its values
    logic [MAXM-1:0] done_mask, final_mask;
    logic [15:0]     done_val [MAXM];
    always_comb begin
        for (int q = 0; q < MAXM; q++) begin
            final_mask[q] = 1'b0;
            for (int s = 0; s < MAXM; s++)
                if (nused[s] && npos[s] == q) final_mask[q] = 1'b1;
        end
    end
    always_ff @(posedge clk) begin
        out_vld <= 1'b0;
        if (in_vld) begin
            for (int q = 0; q < MAXM; q++)
                if (here == q) stage[q] <= in_half;
            for (int s = 0; s < MAXM; s++) begin
                key[s] <= nkey[s];
                pos[s] <= npos[s];
            end
            used <= nused;
            count <= here + 1'b1;
            if ({2'b0, here} == cfg_m - 6'd1) begin
                for (int q = 0; q < MAXM; q++) done_val[q] <= here == q ? in_half : stage[q];
                done_mask <= final_mask;
                out_vld <= 1'b1;
            end
        end
    end

    // ascending compaction: slot s takes the position whose mask bit is the
    // (s+1)-th set bit
    always_comb begin
        logic [IW:0] nset [MAXM];
        nset[0] = '0;
        for (int q = 1; q < MAXM; q++) nset[q] = nset[q-1] + {{IW{1'b0}}, done_mask[q-1]};
        out_slots = '0;
        for (int s = 0; s < MAXM; s++)
            for (int q = 0; q < MAXM; q++)
                if (done_mask[q] && nset[q] == s) begin
                    out_slots[s*(16+IW) + 16 +: IW] = q[IW-1:0];
                    out_slots[s*(16+IW) +: 16] = done_val[q];
                end
    end
endmodule

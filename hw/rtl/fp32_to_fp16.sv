// FP32 -> FP16, round to nearest even, FP16 subnormals, overflow to
// infinity (|x| >= 65520), NaN to the canonical 0x7e00. Combinational; the
// generator uses it to hand the array FP16 operands, as nmt_sim_fp16_round
// does on the C side.
module fp32_to_fp16 (
    input  logic [31:0] x,
    output logic [15:0] h
);
    always_comb begin
        logic [7:0]  e, sh;
        logic [23:0] sig;
        logic [11:0] kept;
        logic [49:0] wide;
        logic        up;
        logic [5:0]  he;
        he = 6'd0;
        sh = 8'd0;
        wide = '0;
        e = x[30:23];
        sig = {e != 0, x[22:0]};
        if (e > 8'd112) begin
            // FP16 normal range: 11 significant bits, guard sig[12], sticky below
            up = sig[12] & ((|sig[11:0]) | sig[13]);
            kept = {1'b0, sig[23:13]} + {11'd0, up};
            he = 6'(e - 8'd112);
            if (kept[11]) begin
                he = he + 6'd1;
                kept = kept >> 1;
            end
            h = (he >= 6'd31) ? {x[31], 15'h7c00} : {x[31], he[4:0], kept[9:0]};
        end else begin
            // FP16 subnormal: multiples of 2^-24, sig * 2^(e' - 126), e' = max(e, 1)
            sh = 8'd126 - (e == 0 ? 8'd1 : e);
            if (sh > 8'd26) sh = 8'd26;
            wide = {sig, 26'd0} >> sh;
            up = wide[25] & ((|wide[24:0]) | wide[26]);
            kept = wide[37:26] + {11'd0, up};
            h = {x[31], 4'd0, kept[10:0]};   // kept = 1024 is the smallest normal
        end
        if (e == 8'hff) h = x[22:0] != 0 ? 16'h7e00 : {x[31], 15'h7c00};
    end
endmodule

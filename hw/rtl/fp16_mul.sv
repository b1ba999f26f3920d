// FP16 x FP16 -> FP32, combinational. The product of two 11-bit significands
// has at most 22 bits and its exponent lies in [2^-48, 2^32), inside FP32's
// normal range, so the result is exact: no rounding, and never an FP32
// subnormal. FP16 subnormals are normalised here. Any NaN result is the
// canonical quiet NaN 0x7fc00000 (the C reference compares NaNs that way).
module fp16_mul (
    input  logic [15:0] a,
    input  logic [15:0] b,
    output logic [31:0] p
);
    logic        sa, sb, s;
    logic [4:0]  ea, eb;
    logic [9:0]  ma, mb;
    logic [10:0] siga, sigb;
    logic [21:0] prod;
    logic [4:0]  lead;      // position of the product's leading one
    logic [8:0]  exp32;
    logic [44:0] shifted;
    always_comb begin
        {sa, ea, ma} = a;
        {sb, eb, mb} = b;
        s = sa ^ sb;
        siga = {ea != 5'd0, ma};
        sigb = {eb != 5'd0, mb};
        prod = siga * sigb;
        lead = 5'd0;
        for (int i = 0; i < 22; i++)
            if (prod[i]) lead = i[4:0];
        // value = prod * 2^(ea' + eb' - 50), ea' = max(ea, 1); FP32 biased
        // exponent of the leading one: lead + ea' + eb' - 50 + 127
        exp32 = {4'd0, lead} + {4'd0, (ea == 5'd0) ? 5'd1 : ea} + {4'd0, (eb == 5'd0) ? 5'd1 : eb} + 9'd77;
        shifted = {23'd0, prod} << (5'd23 - lead);
        if ((ea == 5'h1f && ma != 10'd0) || (eb == 5'h1f && mb != 10'd0) ||
            (ea == 5'h1f && b[14:0] == 15'd0) || (eb == 5'h1f && a[14:0] == 15'd0))
            p = 32'h7fc00000;
        else if (ea == 5'h1f || eb == 5'h1f)
            p = {s, 8'hff, 23'd0};
        else if (prod == 22'd0)
            p = {s, 31'd0};
        else
            p = {s, exp32[7:0], shifted[22:0]};
    end
endmodule

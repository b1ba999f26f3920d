// FP32 adder, IEEE 754 round to nearest even, subnormal inputs and outputs
// handled in full (gradual underflow, no flush to zero: what x86 SSE does for
// the C reference). x + (-x) = +0; -0 + -0 = -0. Any NaN result is the
// canonical quiet NaN 0x7fc00000.
//
// Latency A counts the destination register: the sum is combinational after
// A - 1 internal registers, so the caller's accumulator or partial-sum
// register is the A-th stage (an adder of latency A = 1 is combinational).
// Four steps: (1) classify, order by magnitude, exponent difference;
// (2) align with guard/round/sticky and add; (3) normalise; (4) round and
// pack. Registers: after step 1 when A >= 2, after step 2 when A >= 3,
// and A - 3 more after step 3 (left for retiming). A sideband tag of TW bits
// travels with the operands.
module fp32_add #(parameter int A = 8, parameter int TW = 1) (
    input  logic          clk,
    input  logic [31:0]   a,
    input  logic [31:0]   b,
    input  logic [TW-1:0] tag_in,
    output logic [31:0]   sum,
    output logic [TW-1:0] tag_out
);
    localparam int R1 = A >= 2 ? 1 : 0;
    localparam int R2 = A >= 3 ? 1 : 0;
    localparam int R3 = A >= 3 ? A - 3 : 0;

    // ---- step 1 ----
    logic        s1_spec, s1_sub, s1_sign;
    logic [31:0] s1_spec_val;
    logic [7:0]  s1_e, s1_d;
    logic [23:0] s1_big, s1_small;
    always_comb begin
        logic a_nan, b_nan, a_inf, b_inf, swap;
        logic [31:0] x, y;
        a_nan = a[30:23] == 8'hff && a[22:0] != 0;
        b_nan = b[30:23] == 8'hff && b[22:0] != 0;
        a_inf = a[30:23] == 8'hff && a[22:0] == 0;
        b_inf = b[30:23] == 8'hff && b[22:0] == 0;
        s1_spec = a_nan | b_nan | a_inf | b_inf;
        if (a_nan || b_nan || (a_inf && b_inf && a[31] != b[31])) s1_spec_val = 32'h7fc00000;
        else if (a_inf) s1_spec_val = a;
        else s1_spec_val = b;
        swap = b[30:0] > a[30:0];
        x = swap ? b : a;
        y = swap ? a : b;
        s1_sign = x[31];
        s1_sub = x[31] ^ y[31];
        s1_e = x[30:23] == 0 ? 8'd1 : x[30:23];
        s1_d = s1_e - (y[30:23] == 0 ? 8'd1 : y[30:23]);
        s1_big = {x[30:23] != 0, x[22:0]};
        s1_small = {y[30:23] != 0, y[22:0]};
    end
    logic [TW-1:0] t1;
    logic        p1_spec, p1_sub, p1_sign;
    logic [31:0] p1_spec_val;
    logic [7:0]  p1_e, p1_d;
    logic [23:0] p1_big, p1_small;
    pipe #(.W(TW + 3 + 32 + 16 + 48), .D(R1)) u_p1 (.clk(clk),
        .d({tag_in, s1_spec, s1_sub, s1_sign, s1_spec_val, s1_e, s1_d, s1_big, s1_small}),
        .q({t1, p1_spec, p1_sub, p1_sign, p1_spec_val, p1_e, p1_d, p1_big, p1_small}));

    // ---- step 2: align (3 extra bits: guard, round, sticky) and add ----
    logic [27:0] s2_sum;
    always_comb begin
        logic [53:0] wide;
        logic [26:0] al;
        logic sticky;
        wide = {p1_small, 30'd0} >> (p1_d > 8'd27 ? 8'd27 : p1_d);
        sticky = |wide[26:0];
        al = wide[53:27] | {26'd0, sticky};
        if (p1_d > 8'd27) al = {26'd0, |p1_small};
        s2_sum = p1_sub ? {1'b0, p1_big, 3'd0} - {1'b0, al} : {1'b0, p1_big, 3'd0} + {1'b0, al};
    end
    logic [TW-1:0] t2;
    logic        p2_spec, p2_sub, p2_sign;
    logic [31:0] p2_spec_val;
    logic [7:0]  p2_e;
    logic [27:0] p2_sum;
    pipe #(.W(TW + 3 + 32 + 8 + 28), .D(R2)) u_p2 (.clk(clk),
        .d({t1, p1_spec, p1_sub, p1_sign, p1_spec_val, p1_e, s2_sum}),
        .q({t2, p2_spec, p2_sub, p2_sign, p2_spec_val, p2_e, p2_sum}));

    // ---- step 3: normalise so bit 26 is the hidden bit (exponent >= 1) ----
    logic [26:0] s3_m;
    logic [8:0]  s3_e;
    logic        s3_zero;
    always_comb begin
        logic [4:0] lz;
        logic [7:0] sh;
        s3_zero = p2_sum == 0;
        lz = 5'd27;
        for (int i = 0; i < 27; i++)
            if (p2_sum[i]) lz = 5'(26 - i);
        sh = ({3'd0, lz} < p2_e - 8'd1) ? {3'd0, lz} : p2_e - 8'd1;
        if (p2_sum[27]) begin
            s3_m = p2_sum[27:1] | {26'd0, p2_sum[0]};
            s3_e = {1'b0, p2_e} + 9'd1;
        end else begin
            s3_m = p2_sum[26:0] << sh;
            s3_e = {1'b0, p2_e} - {1'b0, sh};
        end
    end
    logic [TW-1:0] t3;
    logic        p3_spec, p3_sub, p3_sign, p3_zero;
    logic [31:0] p3_spec_val;
    logic [8:0]  p3_e;
    logic [26:0] p3_m;
    pipe #(.W(TW + 4 + 32 + 9 + 27), .D(R3)) u_p3 (.clk(clk),
        .d({t2, p2_spec, p2_sub, p2_sign, s3_zero, p2_spec_val, s3_e, s3_m}),
        .q({t3, p3_spec, p3_sub, p3_sign, p3_zero, p3_spec_val, p3_e, p3_m}));

    // ---- step 4: round to nearest even and pack ----
    always_comb begin
        logic up;
        logic [24:0] sig;
        logic [8:0] e;
        up = p3_m[2] & (p3_m[1] | p3_m[0] | p3_m[3]);
        sig = {1'b0, p3_m[26:3]} + {24'd0, up};
        e = p3_e;
        if (sig[24]) begin
            sig = sig >> 1;
            e = e + 9'd1;
        end
        if (p3_spec) sum = p3_spec_val;
        else if (p3_zero) sum = {p3_sub ? 1'b0 : p3_sign, 31'd0};
        else if (e >= 9'd255) sum = {p3_sign, 8'hff, 23'd0};
        else sum = {p3_sign, sig[23] ? e[7:0] : 8'd0, sig[22:0]};
        tag_out = t3;
    end
endmodule

// Test top for the arithmetic units alone: the adder (combinational, A = 1)
// and the multiplier, checked by `sat_hw fp-check` against C float arithmetic.
module fp_units (
    input  logic        clk,
    input  logic [31:0] a, b,
    input  logic [15:0] x, y,
    output logic [31:0] sum, prod
);
    logic unused_tag;
    fp32_add #(.A(1), .TW(1)) u_add (.clk(clk), .a(a), .b(b), .tag_in(1'b0), .sum(sum), .tag_out(unused_tag));
    fp16_mul u_mul (.a(x), .b(y), .p(prod));
endmodule

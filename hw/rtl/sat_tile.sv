// The tile controller: runs one GEMM tile out[tm x tn] (+)= A[tm x k] B[k x tn]
// held in the local buffers on the R x C array, fold by fold, in the mapping
// the simulator models (src/sim/gemm.c, src/sim/functional.c).
//
// Buffers (behavioural, one port per edge lane: they stand for banked BRAM
// and are not part of the synthesis; a read is combinational, so buffer
// latency is not counted, as in the simulator):
//   abuf[i][t]  A, t = reduction step: dense k, or N:M kept slot (group t/N,
//               slot t%N) with its in-group index
//   bbuf[k][j]  B, dense FP16, whole groups of M rows read at once in N:M mode
//   obuf[i][j]  FP32 partial sums / outputs, kept across runs, so the tiles
//               of a split reduction run back to back with cfg_k_first = 0
//
// OS folds (fr, fc) cover R*Ir x C*Ic outputs: PE (pr, pc) holds outputs
// i = fr + pr*Ir + a, j = fc + pc*Ic + b in slot q = a*Ic + b, P = Ir*Ic slots;
// a fold uses r = min(R, ceil((tm-fr)/Ir)) rows and c columns likewise. With
// L = max(P, A) the stream issues slot q of step t at s = t*L + q; row pr is fed
// at cycle s + pr, column pc at s + pc. Phases: preload r*P (split reduction
// only), run S + r + c - 3 + A where S = (kk-1)*L + P (the last product's add
// retires), drain r*P (one C-wide row of outputs per cycle).
// WS folds (f0, c0) hold A[c0 + pc][step f0 + pr] in PE (pr, pc), r =
// min(R, kk - f0) rows, c = min(C, tm - c0) columns. Phases: weight load r,
// run tn + A*r + c - 2: row pr is fed column x of B at cycle x + A*pr, column
// pc's partial sum enters at x + pc and leaves row r-1 into obuf.
//
// `cycles` counts every cycle from start to the one that writes the tile's
// last result (preload and weight load included).
module sat_tile #(
    parameter int R = 8,
    parameter int C = 8,
    parameter int A = 8,
    parameter int MAXM = 16,
    parameter int IMAX = 16,
    parameter int TMMAX = 64,
    parameter int TNMAX = 64,
    parameter int KMAX = 256
) (
    input  logic        clk,
    input  logic        rst,
    // host access to the buffers (not timed)
    input  logic        host_we_a,
    input  logic        host_we_b,
    input  logic        host_we_o,
    input  logic [31:0] host_addr,
    input  logic [31:0] host_data,
    output logic [31:0] host_q,
    // the tile (held while busy)
    input  logic        cfg_ws,
    input  logic        cfg_sparse,
    input  logic [5:0]  cfg_n,
    input  logic [5:0]  cfg_m,
    input  logic [15:0] cfg_tm,
    input  logic [15:0] cfg_tn,
    input  logic [15:0] cfg_kk,     // reduction steps: k, or k/M*N in N:M mode
    input  logic        cfg_k_first,
    input  logic [4:0]  cfg_ir,
    input  logic [4:0]  cfg_ic,
    input  logic        start,
    output logic        busy,
    output logic [31:0] cycles
);
    localparam int IW = MAXM > 1 ? $clog2(MAXM) : 1;
    localparam int TGW = $clog2(TNMAX) > $clog2(IMAX) ? $clog2(TNMAX) : $clog2(IMAX);

    logic [16+IW-1:0] abuf [TMMAX*KMAX];
    logic [15:0]      bbuf [KMAX*TNMAX];
    logic [31:0]      obuf [TMMAX*TNMAX];

    typedef enum logic [2:0] {IDLE, PRELOAD, LOAD, RUN, DRAIN} state_t;
    state_t state;
    int fold_a, fold_b;     // OS: fr, fc; WS: f0, c0
    int cnt;

    // ---- the current fold's geometry ----
    int tm, tn, kk, ir, ic, nn, mm;
    int r, c, p, l, s_issue, run_len, pre_len;
    always_comb begin
        tm = int'(cfg_tm);
        tn = int'(cfg_tn);
        kk = int'(cfg_kk);
        ir = int'(cfg_ir);
        ic = int'(cfg_ic);
        nn = int'(cfg_n);
        mm = int'(cfg_m);
        p = ir * ic;
        l = p > A ? p : A;
        s_issue = (kk - 1) * l + p;
        if (cfg_ws) begin
            r = kk - fold_a < R ? kk - fold_a : R;
            c = tm - fold_b < C ? tm - fold_b : C;
            run_len = tn + A * r + c - 2;
        end else begin
            r = (tm - fold_a + ir - 1) / ir;
            if (r > R) r = R;
            c = (tn - fold_b + ic - 1) / ic;
            if (c > C) c = C;
            run_len = s_issue + r + c - 3 + A;
        end
        pre_len = r * p;
    end

    // B operand lanes for reduction step t of column j: the group of M
    // (N:M) or the single row t in lane 0 (dense)
    function automatic logic [MAXM*16-1:0] b_lanes(int t, int j);
        logic [MAXM*16-1:0] v;
        v = '0;
        if (cfg_sparse) begin
            for (int ln = 0; ln < MAXM; ln++)
                if (ln < mm) v[ln*16 +: 16] = bbuf[((t / nn) * mm + ln) * TNMAX + j];
        end else begin
            v[15:0] = bbuf[t * TNMAX + j];
        end
        return v;
    endfunction

    // ---- the array and its edge feeds ----
    logic                 w_shift, shift_up, shift_dn;
    logic [R-1:0]         h_vld, h_first;
    logic [R*TGW-1:0]     h_tag;
    logic [R*IW-1:0]      h_idx;
    logic [R*MAXM*16-1:0] h_lanes;
    logic [C*MAXM*16-1:0] v_lanes;
    logic [C*(16+IW)-1:0] w_top;
    logic [C*32-1:0]      ps_top, d_top, drain, tap_sum;
    logic [C-1:0]         tap_vld;
    logic [C*TGW-1:0]     tap_tag;
    logic [$clog2(R)-1:0] tap_row;

    sat_array #(.R(R), .C(C), .A(A), .MAXM(MAXM), .IMAX(IMAX), .TGW(TGW)) u_array (
        .clk(clk), .cfg_ws(cfg_ws), .cfg_p(5'(p)), .tap_row(tap_row), .w_shift(w_shift),
        .shift_up(shift_up), .shift_dn(shift_dn), .h_vld(h_vld), .h_first(h_first), .h_tag(h_tag),
        .h_idx(h_idx), .h_lanes(h_lanes), .v_lanes(v_lanes), .w_top(w_top), .ps_top(ps_top),
        .d_top(d_top), .drain(drain), .tap_sum(tap_sum), .tap_vld(tap_vld), .tap_tag(tap_tag));

    always_comb begin
        w_shift = 0;
        shift_up = 0;
        shift_dn = 0;
        h_vld = '0;
        h_first = '0;
        h_tag = '0;
        h_idx = '0;
        h_lanes = '0;
        v_lanes = '0;
        w_top = '0;
        ps_top = '0;
        d_top = '0;
        tap_row = $clog2(R)'(r - 1);
        case (state)
        PRELOAD: begin
            // outputs enter at the top, deepest first
            shift_dn = 1;
            for (int pc = 0; pc < C; pc++) begin
                int e, i, j;
                e = pre_len - 1 - cnt;
                i = fold_a + (e / p) * ir + (e % p) / ic;
                j = fold_b + pc * ic + (e % p) % ic;
                if (i < tm && j < tn) d_top[pc*32 +: 32] = obuf[i * TNMAX + j];
            end
        end
        LOAD: begin
            // the weight of the fold's last row enters first
            w_shift = 1;
            for (int pc = 0; pc < C; pc++)
                if (fold_b + pc < tm) w_top[pc*(16+IW) +: 16+IW] = abuf[(fold_b + pc) * KMAX + fold_a + r - 1 - cnt];
        end
        RUN: begin
            if (!cfg_ws) begin
                for (int pr = 0; pr < R; pr++) begin
                    int s, t, q, i;
                    logic [16+IW-1:0] e;
                    s = cnt - pr;
                    t = s / l;
                    q = s % l;
                    i = fold_a + pr * ir + q / ic;
                    if (s >= 0 && s < s_issue && q < p) begin
                        h_vld[pr] = 1;
                        h_first[pr] = t == 0 && cfg_k_first;
                        h_tag[pr*TGW +: TGW] = TGW'(q);
                        e = i < tm ? abuf[i * KMAX + t] : '0;
                        h_lanes[pr*MAXM*16 +: 16] = e[15:0];
                        h_idx[pr*IW +: IW] = cfg_sparse ? e[16+IW-1:16] : '0;
                    end
                end
                for (int pc = 0; pc < C; pc++) begin
                    int s, t, q, j;
                    s = cnt - pc;
                    t = s / l;
                    q = s % l;
                    j = fold_b + pc * ic + q % ic;
                    if (s >= 0 && s < s_issue && q < p && j < tn) v_lanes[pc*MAXM*16 +: MAXM*16] = b_lanes(t, j);
                end
            end else begin
                for (int pr = 0; pr < R; pr++) begin
                    int x;
                    x = cnt - A * pr;
                    if (pr < r && x >= 0 && x < tn) begin
                        h_vld[pr] = 1;
                        h_tag[pr*TGW +: TGW] = TGW'(x);
                        h_lanes[pr*MAXM*16 +: MAXM*16] = b_lanes(fold_a + pr, x);
                    end
                end
                for (int pc = 0; pc < C; pc++) begin
                    int x;
                    x = cnt - pc;
                    if (!(cfg_k_first && fold_a == 0) && x >= 0 && x < tn && fold_b + pc < tm)
                        ps_top[pc*32 +: 32] = obuf[(fold_b + pc) * TNMAX + x];
                end
            end
        end
        DRAIN: shift_up = 1;
        default: ;
        endcase
    end

    // ---- fold sequencing and result writes ----
    assign busy = state != IDLE;
    assign host_q = obuf[host_addr];

    task automatic next_fold();
        int a, b;
        a = fold_a;
        b = fold_b;
        cnt <= 0;
        if (cfg_ws) begin
            b = b + C;
            if (b >= tm) begin
                b = 0;
                a = a + R;
            end
            state <= a >= kk ? IDLE : LOAD;
        end else begin
            b = b + C * ic;
            if (b >= tn) begin
                b = 0;
                a = a + R * ir;
            end
            state <= a >= tm ? IDLE : (cfg_k_first ? RUN : PRELOAD);
        end
        fold_a <= a;
        fold_b <= b;
    endtask

    always_ff @(posedge clk) begin
        if (host_we_a) abuf[host_addr] <= host_data[16+IW-1:0];
        if (host_we_b) bbuf[host_addr] <= host_data[15:0];
        if (host_we_o) obuf[host_addr] <= host_data;
        if (rst) begin
            state <= IDLE;
        end else if (state == IDLE) begin
            if (start) begin
                fold_a <= 0;
                fold_b <= 0;
                cnt <= 0;
                cycles <= 0;
                state <= cfg_ws ? LOAD : (cfg_k_first ? RUN : PRELOAD);
            end
        end else begin
            cycles <= cycles + 1;
            cnt <= cnt + 1;
            case (state)
            PRELOAD: if (cnt == pre_len - 1) begin
                state <= RUN;
                cnt <= 0;
            end
            LOAD: if (cnt == r - 1) begin
                state <= RUN;
                cnt <= 0;
            end
            RUN: begin
                if (cfg_ws)
                    for (int pc = 0; pc < C; pc++)
                        if (pc < c && tap_vld[pc])
                            obuf[(fold_b + pc) * TNMAX + int'(tap_tag[pc*TGW +: TGW])] <= tap_sum[pc*32 +: 32];
                if (cnt == run_len - 1) begin
                    if (cfg_ws) next_fold();
                    else begin
                        state <= DRAIN;
                        cnt <= 0;
                    end
                end
            end
            DRAIN: begin
                for (int pc = 0; pc < C; pc++) begin
                    int i, j;
                    i = fold_a + (cnt / p) * ir + (cnt % p) / ic;
                    j = fold_b + pc * ic + (cnt % p) % ic;
                    if (i < tm && j < tn) obuf[i * TNMAX + j] <= drain[pc*32 +: 32];
                end
                if (cnt == pre_len - 1) next_fold();
            end
            default: ;
            endcase
        end
    end
endmodule

"""Windowed 2-simplicial attention in Triton: a forward kernel and three backward kernels. Launched by
swr_tutor.simplicial.

The math
--------
Query token i attends to PAIRS of keys: j from the first key set (i - w1 < j <= i) and k from the second
(i - w2 < k <= i). With scale s = 1/sqrt(D):

    A_ijk = s <q_i ⊙ k1_j, k2_k>          out_i = sum_jk softmax_jk(A_i..) (v1_j ⊙ v2_k)

The logit is a trilinear form L(q, k1, k2). Both forms in this module are written through one "pair product":

    L(x, y, z) = <pair(x, y), z>,   pair(x, y)[m] = x[m+1] y[m-1] - x[m-1] y[m+1]   for m inside a 3-chunk
                                    pair(x, y)[m] = x[m] y[m]                         for m outside every chunk

where m+1 and m-1 wrap around inside the chunk {3c, 3c+1, 3c+2}. Inside a chunk pair is the cross product x × y,
so L sums the chunks' determinants det[x; y; z] = <x × y, z> (the determinant form, CHUNKED_DIMS = 3 (D // 3));
with no chunks (CHUNKED_DIMS = 0) pair is x ⊙ y and L is the trilinear form. Both forms are cyclic,
L(x, y, z) = L(y, z, x), which gives every gradient without new formulas:

    d<pair(x, y), g>/dx = pair(y, g)        d<pair(x, y), g>/dy = pair(g, x)

A kernel holds a factor x as its two neighbour tiles x_next[m] = x[m+1] and x_prev[m] = x[m-1] (x itself outside
the chunks), so that pair(x, y) = x_next ⊙ y_prev - [m in a chunk] x_prev ⊙ y_next is elementwise. For q and the
outer keys the launcher passes the neighbours as column-permuted copies (X_NEXT, X_PREV): a permutation costs
nothing in memory and is awkward in registers (the loads would lose their 16-byte vectors). A tile computed in
registers (a gradient) gets its neighbours with tl.gather. The trilinear form reads x alone (X_NEXT = X_PREV = x).

Outer and inner keys
--------------------
The kernels do not say k1 and k2: they say the OUTER keys a (window w_a, walked one relative offset t at a time)
and the INNER keys b (window w_b, walked in blocks of BLOCK_K keys). The launcher gives the smaller window to the
outer keys: at (w1, w2) = (512, 32) the outer keys are k2. Swapping the two
key sets changes nothing in the trilinear form and flips the orientation of the determinant, which the kernels
undo by forming pair(a, q) instead of pair(q, a) (Q_FIRST = False): L(q, k1, k2) = L(k2, q, k1).

Rows of a program
-----------------
A program owns BLOCK_T consecutive tokens of one (batch, key/value head) and all GROUP query heads that share that
key/value head (GQA): the backward's M = BLOCK_T * GROUP_PAD rows, row r = (token r // GROUP_PAD, head
r % GROUP_PAD). The GQA heads of a token need the same keys, so they stack into the MMA's M dimension for free;
without GQA (GROUP = 1) the rows are BLOCK_T consecutive tokens, whose windows overlap in all but BLOCK_T - 1 keys.
The forward stacks OUTER_BLOCK outer offsets as well: M = BLOCK_T * GROUP_PAD * OUTER_BLOCK rows, row r = (token,
head, offset r % OUTER_BLOCK). The inner window depends on the token alone, so the offsets of one token share every
inner key block: without GQA one token and 64 offsets fill 64 rows and load only the keys of one window.

Forward
-------
The outer offsets are walked OUTER_BLOCK at a time: in the pass t0, row (i, g, s) takes the offset t = t0 + s and its
outer key j = i - t (a different key per row, so the outer window is never wasted) and forms u = pair(q_i, a_j)
(q is loaded once, before the passes). What is left is ordinary attention of the queries u against the inner keys
c in (i - w_b, i], blocks of BLOCK_K keys over the union of the rows' windows, with an online softmax (exp2, running
max m and sum l per row) shared by all passes:

    S = u @ b_blockᵀ,  P = exp2(S - m),  acc_t += P @ vb_block,  and after the sweep  acc += acc_t ⊙ va_j

acc is rescaled once per pass (acc_t carries the rescaling inside the sweep); when one pass covers the outer window
(ONE_PASS) acc_t is acc itself. At the end the OUTER_BLOCK rows of a query, each a softmax over its own offsets,
merge into one: m = max of the rows' m, l and acc their sums weighted by exp2(m_row - m). With one token and one
offset per pass (BLOCK_T = OUTER_BLOCK = 1, the GQA packing) every row has the same outer key, loaded as one row
that broadcasts. (Folding that row's va_j into the value block instead, acc = alpha acc + P @ (vb ⊙ va_j), saves the
second accumulator but keeps the block in registers for the product: slower in every setting on an H100.) The
log-sum-exp, m + log2 l (base 2), is saved for the backward. Blocks that lie inside every row's window skip the
mask (MASKED = False).

Resident inner keys (RESIDENT_INNER), the other loop order: the block loop outside, the passes inside. Each block of
inner keys is loaded once and stays while every pass of the outer window runs against it, one block of MMAs a pass,
with acc_t fresh in each (block, pass): the softmax state is one per row whatever the order of the (j, c) pairs. A
pass loads only its outer keys, so the key traffic from L2 falls from one window per pass to one window per
program; the pass loop is the innermost loop, and the passes that need no mask (every row's outer key exists and the
block lies inside every row's window) run as a loop of their own, MASKED a compile-time False (a mask decided at run
time inside the pass cost 5% with GQA on an H100). It is the official kernel's order where the inner window fits one
block. With GQA it wins at both window shapes, its passes one outer key for the 64 heads of a token (GQA at
(512, 32): 546 TFLOP/s against the streamed order's 364 on an H100); without GQA it wins where one token's 64
offsets fill the rows against a 128-key window, and loses at a 32-key outer window, which the streamed order covers
in one pass. With one query per program (no GQA, one token) q is held as one row that broadcasts against the rows'
outer keys. There a program does two passes of MMAs for the loads of four 128-key tiles, and the kernel waits on
latency: at (128, 128) without GQA on an H100, 255 registers a thread and 82 KB of shared memory a program let two
programs (8 warps) share a multiprocessor, which issues 1.6 instructions a cycle with L2 a third busy (Nsight
Compute). Slower than the 245 TFLOP/s it then ran at (249 since, with fewer instructions a pass): a cap of 168
registers, which lets in a third program but spills inside the passes (139), 8 warps (134), blocks of 64 keys (196),
one softmax state per query instead of one per row, merged after each pass (213), and the outer keys and values of a
pass copied by TMA as one box of consecutive tokens (232). Nor is reloading the inner keys for every token what holds
it back: a program that walked 16 tokens with their 128-key block loaded once, plus a masked block of the 16 keys the
window gains meanwhile, ran at 198 (the extra products cost more than the loads saved), and the same program without
the extra block and without moving the window (wrong results: a bound on what any reuse of the inner keys across tokens
can give) at 288, against 243. Warp specialization alone does not lift it: written in Gluon (triton.experimental.gluon,
sm_90 only, not kept), a producer warpgroup copying each token's 128 inner keys and values by TMA into a ring of three
stages and two consumer warpgroups each taking 64 of the token's outer offsets, then merging their (m, l, out) through
shared memory, the forward ran at 232 against this kernel's 250 in the same run (226 with the next token's outer keys
loaded ahead). Nsight Compute found its tensor cores 23% busy and its consumers' stalls spread over the merges, the MMA
waits and the loads; it executed a fifth more instructions than this kernel.

The pair product: on a GPU with 16-bit inputs (PACKED_PAIR, the PTX type of two of them, "bf16x2" or "f16x2") u is
computed in packed 16-bit arithmetic, two elements per fused multiply-add, straight into the MMA operand. In fp32 it
took a conversion of each factor and one of the result per element, and Triton hoisted the fp32 copies of q out of
the pass loop: for the determinant's q_next and q_prev, 2 x 64 registers a thread at 64 rows and 4 warps, which
spilled.

Loads: where the launcher passes TMA descriptors of the inner keys and values (TMA = True: sm_90+ or the
interpreter, 16-byte aligned rows), the streamed blocks, in the forward and in the row kernels of the backward, are
copied by the tensor memory accelerator, zero past T and HEAD_DIM; elsewhere, and for the resident block, the threads
load them through pointers with masks.

Backward
--------
With dO the gradient of the output, Δ_i = <dO_i, out_i>, P = exp2(S - lse) recomputed, and

    dP = (dO ⊙ va_j) @ vbᵀ,   dS = P ⊙ (dP - Δ),   g = dS @ b   (the gradient of u, before the scale)

the five gradients are sums over the triples (i, j, c) in the window:

    dq_i = s sum_t d<u, g>/dq          da_j = s sum_(i - t = j) d<u, g>/da     dva_j = sum_(i - t = j) dO_i ⊙ (P @ vb)
    db_c = s sum_(i, t) dS u           dvb_c = sum_(i, t) P (dO_i ⊙ va_j)

Δ comes from row_dot_kernel (an fp32 dot product per row, one launch). Each gradient is written by the kernel
whose programs own its rows, so no two programs write one row and no
atomics are needed:
  * rows_backward_kernel, GRAD_OF = GRAD_Q: rows = queries, the forward's loops one offset at a time; 3 products
    per block (S, dP, g); dq += pair(a, g) once per t. (With one token per program, all rows sharing the outer key
    a_j, folding a_j into the key block, dq += dS @ (kb ⊙ a_j), was measured on an H100: faster at (128, 128) by
    as much as it was slower at (512, 32) with GQA.)
  * rows_backward_kernel, GRAD_OF = GRAD_KA / GRAD_VA: rows = outer keys j, and the query at offset t is i = j + t;
    GRAD_KA needs S, dP, g (3 products), GRAD_VA only S and P @ vb (2). The GQA heads are summed at the end.
  * inner_backward_kernel: rows = a block of inner keys c, columns = (query, head) pairs of the queries that see
    it, for every t: S^T, dP^T, then db += dS^T @ u and dvb += P^T @ (dO ⊙ va) (4 products).
With one token per program (BLOCK_T = 1; BLOCK_Q = 1 in inner_backward_kernel, the GQA packing) all rows share the
outer key of a step, loaded as one row that broadcasts: 12 to 22% off the inner-key backward with GQA on an H100.
Splitting the outer keys' two gradients keeps every program at two M x D accumulators (registers); the price is
12 block products per (query, t, block) against the 7 of a single pass, i.e. a backward of 6 forward's worth.
(One pass for both outer-key gradients, the GQA heads summed after every t, was measured on an H100: its
register spills cost what the saved product gains, and more at (w1, w2) = (128, 128). Loading the queries of
GRAD_Q once, before the offsets, as the forward does, made the backward 7% slower there with GQA.)

Numerics: the MMA operands are in DOT, the inputs' dtype (bf16/fp16 on a GPU; the launcher hands the interpreter
fp32 copies of bf16 inputs, whose arithmetic it gets wrong), and accumulate in ACC (fp32, fp64 for fp64 inputs).
Every elementwise product (pair, dO ⊙ va) is rounded once to DOT: computed in ACC, or with PACKED_PAIR by
one fused multiply-add of two DOT numbers, which rounds the same; the determinant's cross product, x_next ⊙ y_prev -
x_prev ⊙ y_next, rounds its second product to DOT first under PACKED_PAIR (two roundings).
Masked-out (i, j, c) never reach a sum: the forward writes -inf into S, the backward zeroes P with tl.where.
"""
import triton
import triton.language as tl

GRAD_Q = tl.constexpr(0)
GRAD_KA = tl.constexpr(1)
GRAD_VA = tl.constexpr(2)
NO_SCORE_YET = tl.constexpr(-1.0e30)  # the running max before any key: finite, so that exp2(m - m_new) is 1, not NaN


# ---- addressing and the pair product -----------------------------------------------------------------------------

@triton.jit
def _query_rows(b, h, tokens, heads, T, HQ, GROUP: tl.constexpr):
    # Row index into (B, T, HQ, ·) of (token, head of the group of key/value head h); int64.
    return (b * T + tokens).to(tl.int64) * HQ + h * GROUP + heads


@triton.jit
def _key_rows(b, h, tokens, T, HKV):
    # Row index into (B, T, HKV, ·); int64.
    return (b * T + tokens).to(tl.int64) * HKV + h


@triton.jit
def _shared_key_row(b, h, token, T, HKV):
    # (rows, ok) of the key row `token` that every row of a step shares, as (1,) tensors: what loads through them
    # is one (1, BLOCK_D) row that broadcasts. The caller knows the row exists.
    one = tl.zeros((1,), tl.int32)
    return _key_rows(b, h, token + one, T, HKV), one == 0


@triton.jit
def _load_tile(X, rows, row_ok, d, HEAD_DIM: tl.constexpr):
    # X[rows, d] as (R, BLOCK_D) in X's dtype, zero where a row is not ok or d >= HEAD_DIM.
    return tl.load(X + rows[:, None] * HEAD_DIM + d, mask=row_ok[:, None] & (d < HEAD_DIM), other=0.0)


@triton.jit
def _load_factor(X_NEXT, X_PREV, rows, row_ok, d, HEAD_DIM: tl.constexpr, CHUNKED_DIMS: tl.constexpr):
    # (x_next, x_prev) (R, BLOCK_D) in the storage dtype; the trilinear form (no chunks) reads one tensor.
    x_next = _load_tile(X_NEXT, rows, row_ok, d, HEAD_DIM)
    if CHUNKED_DIMS == 0:
        return x_next, x_next
    else:
        return x_next, _load_tile(X_PREV, rows, row_ok, d, HEAD_DIM)


@triton.jit
def _neighbours_of(x, d, CHUNKED_DIMS: tl.constexpr):
    # (x_next, x_prev) of a tile held in registers: its columns m+1 and m-1 inside each 3-chunk.
    if CHUNKED_DIMS == 0:
        return x, x
    else:
        in_chunk = d < CHUNKED_DIMS
        chunk_start = d - d % 3
        zero = tl.zeros(x.shape, tl.int32)
        next_col = tl.where(in_chunk, chunk_start + (d + 1) % 3, d) + zero
        prev_col = tl.where(in_chunk, chunk_start + (d + 2) % 3, d) + zero
        return tl.gather(x, next_col, axis=1), tl.gather(x, prev_col, axis=1)


@triton.jit
def _pair(x_next, x_prev, y_next, y_prev, d, CHUNKED_DIMS: tl.constexpr, ACC: tl.constexpr):
    # pair(x, y) in ACC: the chunkwise cross product x × y, and x ⊙ y outside the chunks.
    if CHUNKED_DIMS == 0:
        return x_next.to(ACC) * y_next.to(ACC)
    else:
        return x_next.to(ACC) * y_prev.to(ACC) - tl.where(d < CHUNKED_DIMS, x_prev, 0).to(ACC) * y_next.to(ACC)


_NEG_ZEROS = tl.constexpr("0x80008000")  # two 16-bit -0.0: the addend of a fused multiply-add that is a plain product


@triton.jit
def _product_dot(x, y, DOT: tl.constexpr, ACC: tl.constexpr, PACKED: tl.constexpr):
    # x ⊙ y rounded to DOT. PACKED, the PTX type of two 16-bit numbers ("bf16x2", "f16x2"; "" for none): one fused
    # multiply-add of -0.0 per two elements, no fp32 copies. A product of two 16-bit numbers is exact in fp32, so
    # this rounds as the product in ACC does.
    if PACKED != "":
        return tl.inline_asm_elementwise("{ .reg .b32 z; mov.b32 z, " + _NEG_ZEROS + "; fma.rn." + PACKED +
                                         " $0, $1, $2, z; }", "=r,r,r", [x, y], dtype=x.dtype, is_pure=True, pack=2)
    else:
        return (x.to(ACC) * y.to(ACC)).to(DOT)


@triton.jit
def _pair_dot(x_next, x_prev, y_next, y_prev, d, CHUNKED_DIMS: tl.constexpr, DOT: tl.constexpr, ACC: tl.constexpr,
              PACKED: tl.constexpr):
    # pair(x, y) rounded to DOT, the rows of an MMA operand. PACKED (as in _product_dot): in packed 16-bit
    # arithmetic, with no fp32 copies of the factors (Triton hoists those of q out of the loop over the outer keys,
    # and they spill). The cross product rounds x_prev ⊙ y_next to DOT before the fused multiply-add
    # x_next ⊙ y_prev - (x_prev ⊙ y_next): two roundings where ACC has one.
    if CHUNKED_DIMS == 0:
        return _product_dot(x_next, y_next, DOT, ACC, PACKED)
    elif PACKED != "":
        return tl.inline_asm_elementwise("{ .reg .b32 z, t; mov.b32 z, " + _NEG_ZEROS + "; fma.rn." + PACKED +
                                         " t, $3, $4, z; xor.b32 t, t, z; fma.rn." + PACKED + " $0, $1, $2, t; }",
                                         "=r,r,r,r,r", [x_next, y_prev, tl.where(d < CHUNKED_DIMS, x_prev, 0), y_next],
                                         dtype=x_next.dtype, is_pure=True, pack=2)
    else:
        return _pair(x_next, x_prev, y_next, y_prev, d, CHUNKED_DIMS, ACC).to(DOT)


@triton.jit
def _factors(q_next, q_prev, a_next, a_prev, Q_FIRST: tl.constexpr):
    # (x, y) of the logit <pair(x, y), b>: (q, a), or (a, q) when the outer keys are k2 (L(q, k1, k2) = L(k2, q, k1)).
    if Q_FIRST:
        return q_next, q_prev, a_next, a_prev
    else:
        return a_next, a_prev, q_next, q_prev


@triton.jit
def _dot(x, y, acc, DOT: tl.constexpr, ACC: tl.constexpr):
    return tl.dot(x.to(DOT), y.to(DOT), acc, out_dtype=ACC, input_precision="ieee")


# ---- which blocks need the window mask ---------------------------------------------------------------------------

@triton.jit
def _unmasked_range(lo, first_safe, end_safe, all_rows_valid, BLOCK: tl.constexpr):
    # Blocks lo, lo + BLOCK, ...: the range [start, end) of those lying inside [first_safe, end_safe), where no
    # mask is needed; empty unless all_rows_valid. The blocks before start and from end on take the mask.
    start = lo + tl.cdiv(tl.maximum(first_safe - lo, 0), BLOCK) * BLOCK
    end = lo + tl.maximum(end_safe - lo, 0) // BLOCK * BLOCK
    end = tl.where(all_rows_valid, tl.maximum(end, start), start)
    return start, end


@triton.jit
def _visible(i, c, outer_exists, W_B):
    # Query i and inner key c (broadcast against each other, and against outer_exists: the outer key is inside i's
    # window): both keys inside i's windows.
    return (c <= i) & (c > i - W_B) & outer_exists


# ---- forward -----------------------------------------------------------------------------------------------------

@triton.jit
def _load_keys(KB, VB, KB_DESC, VB_DESC, b, h, c0, T, HKV, d, BLOCK_K: tl.constexpr, HEAD_DIM: tl.constexpr,
               BLOCK_D: tl.constexpr, TMA: tl.constexpr):
    # The inner keys and values c0 .. c0 + BLOCK_K - 1: (kb, vb), each (BLOCK_K, BLOCK_D), zero past T and HEAD_DIM;
    # with TMA, copied by the tensor memory accelerator through the descriptors of (B, T, HKV, HEAD_DIM).
    if TMA:
        kb = tl.reshape(KB_DESC.load([b, c0, h, 0]), (BLOCK_K, BLOCK_D))
        vb = tl.reshape(VB_DESC.load([b, c0, h, 0]), (BLOCK_K, BLOCK_D))
        return kb, vb
    else:
        c = c0 + tl.arange(0, BLOCK_K)
        key_rows = _key_rows(b, h, c, T, HKV)
        return _load_tile(KB, key_rows, c < T, d, HEAD_DIM), _load_tile(VB, key_rows, c < T, d, HEAD_DIM)


@triton.jit
def _forward_block(u, kb_resident, vb_resident, KB, VB, KB_DESC, VB_DESC, b, h, c0, i, outer_exists, T, HKV, W_B,
                   scale_log2, m, l, acc, d, BLOCK_K: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr,
                   TMA: tl.constexpr, RESIDENT_INNER: tl.constexpr, MASKED: tl.constexpr, DOT: tl.constexpr,
                   ACC: tl.constexpr):
    # One block of inner keys c0 .. c0 + BLOCK_K - 1 for the rows' queries u (M, BLOCK_D): online softmax update.
    # The resident order hands in a fresh acc (its one block of the pass): nothing to rescale, and the product
    # starts from zero. The scale multiplies the row maxima, and inside exp2 it fuses with the subtraction.
    c = c0 + tl.arange(0, BLOCK_K)
    if RESIDENT_INNER:
        kb, vb = kb_resident, vb_resident
    else:
        kb, vb = _load_keys(KB, VB, KB_DESC, VB_DESC, b, h, c0, T, HKV, d, BLOCK_K, HEAD_DIM, BLOCK_D, TMA)
    s = _dot(u, tl.trans(kb), None, DOT, ACC)                                    # (M, BLOCK_K), unscaled
    if MASKED:
        s = tl.where(_visible(i[:, None], c[None, :], outer_exists[:, None], W_B), s, float("-inf"))
    m_new = tl.maximum(m, tl.max(s, 1) * scale_log2)
    alpha = tl.exp2(m - m_new)
    p = tl.exp2(s * scale_log2 - m_new[:, None])
    l = l * alpha + tl.sum(p, 1)
    if RESIDENT_INNER:
        acc = _dot(p, vb, None, DOT, ACC)
    else:
        acc = _dot(p, vb, acc * alpha[:, None], DOT, ACC)
    return m_new, l, acc


@triton.jit
def _forward_pass(t0, c_block, q_next, q_prev, kb_block, vb_block, KA_NEXT, KA_PREV, VA, KB, VB, KB_DESC, VB_DESC,
                  b, h, i0, i, offset_in_pass, query_ok, lo, hi, T, HKV, W_A, W_B, scale_log2, m, l, acc, d,
                  BLOCK_T: tl.constexpr, OUTER_BLOCK: tl.constexpr, ONE_PASS: tl.constexpr,
                  RESIDENT_INNER: tl.constexpr, BLOCK_K: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr,
                  CHUNKED_DIMS: tl.constexpr, Q_FIRST: tl.constexpr, TMA: tl.constexpr, DOT: tl.constexpr,
                  ACC: tl.constexpr, WHOLE: tl.constexpr, PACKED_PAIR: tl.constexpr):
    # The pass over the outer offsets t0 .. t0 + OUTER_BLOCK - 1: (m, l, acc) updated, against the resident block of
    # inner keys c_block .. c_block + BLOCK_K - 1 (kb_block, vb_block), or else against all blocks streamed. WHOLE
    # (resident only): every row's outer key exists and the block lies inside every row's window: no mask.
    t = t0 + offset_in_pass
    j = i - t
    outer_exists = (t < W_A) & (j >= 0)
    if BLOCK_T * OUTER_BLOCK == 1:  # every row has the outer key j = i0 - t0 (it exists: t0 <= i0, t0 < W_A): one row
        outer_rows, outer_ok = _shared_key_row(b, h, i0 - t0, T, HKV)
    else:
        outer_rows = _key_rows(b, h, j, T, HKV)
        if WHOLE and BLOCK_T == 1:  # the token exists and so do all its outer keys: loads without a mask
            outer_ok = tl.full(j.shape, 1, tl.int1)
        else:
            outer_ok = query_ok & outer_exists
    a_next, a_prev = _load_factor(KA_NEXT, KA_PREV, outer_rows, outer_ok, d, HEAD_DIM, CHUNKED_DIMS)
    va = _load_tile(VA, outer_rows, outer_ok, d, HEAD_DIM)  # with the keys: one wait for both
    x_next, x_prev, y_next, y_prev = _factors(q_next, q_prev, a_next, a_prev, Q_FIRST)
    u = _pair_dot(x_next, x_prev, y_next, y_prev, d, CHUNKED_DIMS, DOT, ACC, PACKED_PAIR)
    if ONE_PASS:
        acc_t = acc
    else:
        acc_t = tl.zeros(acc.shape, ACC)
    m_before = m
    if RESIDENT_INNER:
        m, l, acc_t = _forward_block(u, kb_block, vb_block, KB, VB, KB_DESC, VB_DESC, b, h, c_block, i, outer_exists,
                                     T, HKV, W_B, scale_log2, m, l, acc_t, d, BLOCK_K, HEAD_DIM, BLOCK_D, TMA,
                                     RESIDENT_INNER, not WHOLE, DOT, ACC)
    else:
        every_outer_key_exists = (t0 + OUTER_BLOCK - 1 <= i0) & (t0 + OUTER_BLOCK <= W_A)
        start, end = _unmasked_range(lo, i0 + BLOCK_T - W_B, i0 + 1, every_outer_key_exists, BLOCK_K)
        for c0 in range(lo, start, BLOCK_K):
            m, l, acc_t = _forward_block(u, kb_block, vb_block, KB, VB, KB_DESC, VB_DESC, b, h, c0, i,
                                         outer_exists, T, HKV, W_B, scale_log2, m, l, acc_t, d, BLOCK_K, HEAD_DIM,
                                         BLOCK_D, TMA, RESIDENT_INNER, True, DOT, ACC)
        for c0 in range(start, end, BLOCK_K):
            m, l, acc_t = _forward_block(u, kb_block, vb_block, KB, VB, KB_DESC, VB_DESC, b, h, c0, i,
                                         outer_exists, T, HKV, W_B, scale_log2, m, l, acc_t, d, BLOCK_K, HEAD_DIM,
                                         BLOCK_D, TMA, RESIDENT_INNER, False, DOT, ACC)
        for c0 in range(end, hi, BLOCK_K):
            m, l, acc_t = _forward_block(u, kb_block, vb_block, KB, VB, KB_DESC, VB_DESC, b, h, c0, i,
                                         outer_exists, T, HKV, W_B, scale_log2, m, l, acc_t, d, BLOCK_K, HEAD_DIM,
                                         BLOCK_D, TMA, RESIDENT_INNER, True, DOT, ACC)
    if ONE_PASS:
        acc = acc_t * va.to(ACC)
    else:
        acc = acc * tl.exp2(m_before - m)[:, None] + acc_t * va.to(ACC)
    return m, l, acc


@triton.jit
def _resident_block(c0, start, end, whole_passes, t_end, q_next, q_prev, KA_NEXT, KA_PREV, VA, KB, VB, KB_DESC,
                    VB_DESC, b, h, i0, i, offset_in_pass, query_ok, lo, hi, T, HKV, W_A, W_B, scale_log2, m, l, acc, d,
                    BLOCK_T: tl.constexpr, OUTER_BLOCK: tl.constexpr, ONE_PASS: tl.constexpr, BLOCK_K: tl.constexpr,
                    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, CHUNKED_DIMS: tl.constexpr, Q_FIRST: tl.constexpr,
                    TMA: tl.constexpr, DOT: tl.constexpr, ACC: tl.constexpr, PACKED_PAIR: tl.constexpr):
    # The inner keys c0 .. c0 + BLOCK_K - 1 loaded once (by the threads: copied by TMA, every pass was 20% slower on
    # an H100), and every pass of the outer window against them, the pass loop innermost. The passes before t_whole
    # need no mask: every row's outer key exists and the block lies inside every row's window ([start, end)).
    kb, vb = _load_keys(KB, VB, KB_DESC, VB_DESC, b, h, c0, T, HKV, d, BLOCK_K, HEAD_DIM, BLOCK_D, False)
    t_whole = tl.where((c0 >= start) & (c0 < end), whole_passes, 0)
    for t0 in range(0, t_whole, OUTER_BLOCK):
        m, l, acc = _forward_pass(t0, c0, q_next, q_prev, kb, vb, KA_NEXT, KA_PREV, VA, KB, VB, KB_DESC, VB_DESC, b, h,
                                  i0, i, offset_in_pass, query_ok, lo, hi, T, HKV, W_A, W_B, scale_log2, m, l, acc, d,
                                  BLOCK_T, OUTER_BLOCK, ONE_PASS, True, BLOCK_K, HEAD_DIM, BLOCK_D, CHUNKED_DIMS,
                                  Q_FIRST, TMA, DOT, ACC, True, PACKED_PAIR)
    for t0 in range(t_whole, t_end, OUTER_BLOCK):
        m, l, acc = _forward_pass(t0, c0, q_next, q_prev, kb, vb, KA_NEXT, KA_PREV, VA, KB, VB, KB_DESC, VB_DESC, b, h,
                                  i0, i, offset_in_pass, query_ok, lo, hi, T, HKV, W_A, W_B, scale_log2, m, l, acc, d,
                                  BLOCK_T, OUTER_BLOCK, ONE_PASS, True, BLOCK_K, HEAD_DIM, BLOCK_D, CHUNKED_DIMS,
                                  Q_FIRST, TMA, DOT, ACC, False, PACKED_PAIR)
    return m, l, acc


@triton.jit
def forward_kernel(Q_NEXT, Q_PREV, KA_NEXT, KA_PREV, VA, KB, VB, KB_DESC, VB_DESC, OUT, LSE, T, HQ, HKV, W_A, W_B,
                   scale_log2,
                   GROUP: tl.constexpr, GROUP_PAD: tl.constexpr, BLOCK_T: tl.constexpr, OUTER_BLOCK: tl.constexpr,
                   ONE_PASS: tl.constexpr, RESIDENT_INNER: tl.constexpr,
                   BLOCK_K: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr,
                   CHUNKED_DIMS: tl.constexpr, Q_FIRST: tl.constexpr, TMA: tl.constexpr, DOT: tl.constexpr,
                   ACC: tl.constexpr, PACKED_PAIR: tl.constexpr):
    # Q_*, OUT (B, T, HQ, HEAD_DIM); KA_*, VA, KB, VB (B, T, HKV, HEAD_DIM); LSE (B, T, HQ) in ACC, base 2.
    # KB_DESC, VB_DESC: TMA descriptors of KB, VB with blocks (1, BLOCK_K, 1, BLOCK_D), used when TMA.
    # Grid: (cdiv(T, BLOCK_T), B * HKV). ONE_PASS (streamed only): OUTER_BLOCK >= W_A, one pass covers the outer
    # window.
    QUERIES: tl.constexpr = BLOCK_T * GROUP_PAD
    i0 = tl.program_id(0) * BLOCK_T
    b = tl.program_id(1) // HKV
    h = tl.program_id(1) % HKV
    rows = tl.arange(0, QUERIES * OUTER_BLOCK)
    i = i0 + rows // (GROUP_PAD * OUTER_BLOCK)
    heads = rows // OUTER_BLOCK % GROUP_PAD
    offset_in_pass = rows % OUTER_BLOCK
    query_ok = (i < T) & (heads < GROUP)
    d = tl.arange(0, BLOCK_D)[None, :]
    if QUERIES == 1:  # one query, held as one row that broadcasts against the rows' outer keys: fewer registers
        one = tl.zeros((1,), tl.int32)
        q_next, q_prev = _load_factor(Q_NEXT, Q_PREV, _query_rows(b, h, i0 + one, one, T, HQ, GROUP), one == 0, d,
                                      HEAD_DIM, CHUNKED_DIMS)
    else:
        q_next, q_prev = _load_factor(Q_NEXT, Q_PREV, _query_rows(b, h, i, heads, T, HQ, GROUP), query_ok, d,
                                      HEAD_DIM, CHUNKED_DIMS)

    m = tl.full((QUERIES * OUTER_BLOCK,), NO_SCORE_YET, ACC)
    l = tl.zeros((QUERIES * OUTER_BLOCK,), ACC)
    acc = tl.zeros((QUERIES * OUTER_BLOCK, BLOCK_D), ACC)
    lo = tl.maximum(0, i0 - W_B + 1)
    hi = tl.minimum(T, i0 + BLOCK_T)
    t_end = tl.minimum(W_A, i0 + BLOCK_T)
    if RESIDENT_INNER:  # each block of inner keys loaded once, then every pass of the outer window against it. The
        # first block is peeled off the loop: where the window fits one block, no loop then wraps the passes (7%
        # faster on an H100).
        start, end = _unmasked_range(lo, i0 + BLOCK_T - W_B, i0 + 1, True, BLOCK_K)
        whole_passes = tl.minimum(i0 + 1, W_A) // OUTER_BLOCK * OUTER_BLOCK
        m, l, acc = _resident_block(lo, start, end, whole_passes, t_end, q_next, q_prev, KA_NEXT, KA_PREV, VA, KB, VB,
                                    KB_DESC, VB_DESC, b, h, i0, i, offset_in_pass, query_ok, lo, hi, T, HKV, W_A, W_B,
                                    scale_log2, m, l, acc, d, BLOCK_T, OUTER_BLOCK, ONE_PASS, BLOCK_K, HEAD_DIM,
                                    BLOCK_D, CHUNKED_DIMS, Q_FIRST, TMA, DOT, ACC, PACKED_PAIR)
        for c0 in range(lo + BLOCK_K, hi, BLOCK_K):
            m, l, acc = _resident_block(c0, start, end, whole_passes, t_end, q_next, q_prev, KA_NEXT, KA_PREV, VA, KB,
                                        VB, KB_DESC, VB_DESC, b, h, i0, i, offset_in_pass, query_ok, lo, hi, T, HKV,
                                        W_A, W_B, scale_log2, m, l, acc, d, BLOCK_T, OUTER_BLOCK, ONE_PASS, BLOCK_K,
                                        HEAD_DIM, BLOCK_D, CHUNKED_DIMS, Q_FIRST, TMA, DOT, ACC, PACKED_PAIR)
    else:  # the inner keys streamed past each pass, which finds the blocks that need no mask
        no_block = tl.zeros((1, BLOCK_D), DOT)
        for t0 in range(0, t_end, OUTER_BLOCK):
            m, l, acc = _forward_pass(t0, lo, q_next, q_prev, no_block, no_block, KA_NEXT, KA_PREV, VA, KB, VB,
                                      KB_DESC, VB_DESC, b, h, i0, i, offset_in_pass, query_ok, lo, hi, T, HKV, W_A,
                                      W_B, scale_log2, m, l, acc, d, BLOCK_T, OUTER_BLOCK, ONE_PASS, RESIDENT_INNER,
                                      BLOCK_K, HEAD_DIM, BLOCK_D, CHUNKED_DIMS, Q_FIRST, TMA, DOT, ACC, False,
                                      PACKED_PAIR)

    if OUTER_BLOCK > 1:  # one softmax over the OUTER_BLOCK rows of each query: merge their (m, l, acc)
        m_rows = tl.reshape(m, (QUERIES, OUTER_BLOCK))
        m = tl.max(m_rows, 1)
        weight = tl.exp2(m_rows - m[:, None])
        l = tl.sum(tl.reshape(l, (QUERIES, OUTER_BLOCK)) * weight, 1)
        acc = tl.sum(tl.reshape(acc, (QUERIES, OUTER_BLOCK, BLOCK_D)) * weight[:, :, None], 1)
    queries = tl.arange(0, QUERIES)
    i = i0 + queries // GROUP_PAD
    heads = queries % GROUP_PAD
    query_ok = (i < T) & (heads < GROUP)
    query_rows = _query_rows(b, h, i, heads, T, HQ, GROUP)
    out = tl.where(l[:, None] > 0, acc / l[:, None], 0.0)
    tl.store(OUT + query_rows[:, None] * HEAD_DIM + d, out.to(OUT.dtype.element_ty),
             mask=query_ok[:, None] & (d < HEAD_DIM))
    tl.store(LSE + query_rows, m + tl.log2(l), mask=query_ok)


# ---- backward -----------------------------------------------------------------------------------------------------

@triton.jit
def row_dot_kernel(DO, OUT, DELTA, ROWS_TOTAL, ROWS: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr,
                   ACC: tl.constexpr):
    # DELTA[r] = <DO[r], OUT[r]> in ACC for the ROWS_TOTAL rows of HEAD_DIM values. Grid: cdiv(ROWS_TOTAL, ROWS).
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    rows_ok = rows < ROWS_TOTAL
    d = tl.arange(0, BLOCK_D)[None, :]
    do = _load_tile(DO, rows.to(tl.int64), rows_ok, d, HEAD_DIM).to(ACC)
    out = _load_tile(OUT, rows.to(tl.int64), rows_ok, d, HEAD_DIM).to(ACC)
    tl.store(DELTA + rows, tl.sum(do * out, 1), mask=rows_ok)


# ---- backward: rows own queries (dq) or outer keys (da, dva) ---------------------------------------------------------

@triton.jit
def _rows_backward_block(u, w, lse, delta, KB, VB, KB_DESC, VB_DESC, b, h, c0, i, t, T, HKV, W_B, scale_log2, acc_t,
                         d, GRAD_OF: tl.constexpr, BLOCK_K: tl.constexpr, HEAD_DIM: tl.constexpr,
                         BLOCK_D: tl.constexpr, TMA: tl.constexpr, MASKED: tl.constexpr, DOT: tl.constexpr,
                         ACC: tl.constexpr):
    # One block of inner keys: acc_t += dS @ kb (g, the gradient of u), or, for GRAD_VA, P @ vb.
    c = c0 + tl.arange(0, BLOCK_K)
    kb, vb = _load_keys(KB, VB, KB_DESC, VB_DESC, b, h, c0, T, HKV, d, BLOCK_K, HEAD_DIM, BLOCK_D, TMA)
    p = tl.exp2(_dot(u, tl.trans(kb), None, DOT, ACC) * scale_log2 - lse[:, None])  # (M, BLOCK_K)
    if MASKED:
        p = tl.where(_visible(i[:, None], c[None, :], t <= i[:, None], W_B), p, 0.0)
    if GRAD_OF == GRAD_VA:
        return _dot(p, vb, acc_t, DOT, ACC)
    else:
        ds = p * (_dot(w, tl.trans(vb), None, DOT, ACC) - delta[:, None])
        return _dot(ds, kb, acc_t, DOT, ACC)


@triton.jit
def rows_backward_kernel(Q_NEXT, Q_PREV, KA_NEXT, KA_PREV, VA, KB, VB, DO, LSE, DELTA, KB_DESC, VB_DESC, GRAD, T, HQ,
                         HKV, W_A, W_B, scale_log2, scale, GRAD_OF: tl.constexpr, GROUP: tl.constexpr,
                         GROUP_PAD: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_K: tl.constexpr, HEAD_DIM: tl.constexpr,
                         BLOCK_D: tl.constexpr, CHUNKED_DIMS: tl.constexpr, Q_FIRST: tl.constexpr,
                         TMA: tl.constexpr, DOT: tl.constexpr, ACC: tl.constexpr, PACKED_PAIR: tl.constexpr):
    # GRAD (B, T, HQ, HEAD_DIM) for GRAD_Q, else (B, T, HKV, HEAD_DIM); DO like Q; LSE, DELTA (B, T, HQ) in ACC.
    # Grid: (cdiv(T, BLOCK_T), B * HKV). Rows own tokens p: queries (GRAD_Q) or outer keys (GRAD_KA, GRAD_VA).
    OWN_QUERIES: tl.constexpr = GRAD_OF == GRAD_Q
    OWN_FIRST_FACTOR: tl.constexpr = OWN_QUERIES == Q_FIRST
    p0 = tl.program_id(0) * BLOCK_T
    b = tl.program_id(1) // HKV
    h = tl.program_id(1) % HKV
    rows = tl.arange(0, BLOCK_T * GROUP_PAD)
    own = p0 + rows // GROUP_PAD
    heads = rows % GROUP_PAD
    d = tl.arange(0, BLOCK_D)[None, :]
    t_end = tl.minimum(W_A, p0 + BLOCK_T) if OWN_QUERIES else tl.minimum(W_A, T - p0)

    grad = tl.zeros((BLOCK_T * GROUP_PAD, BLOCK_D), ACC)
    for t in range(0, t_end):
        i = own if OWN_QUERIES else own + t
        i_first = p0 if OWN_QUERIES else p0 + t
        j = i - t
        query_ok = (i < T) & (heads < GROUP) & (j >= 0) & (j < T)
        query_rows = _query_rows(b, h, i, heads, T, HQ, GROUP)
        if BLOCK_T == 1:  # every row has the outer key p0 - t (dq) or p0 (dka, dva), which exists: one row
            outer_rows, outer_ok = _shared_key_row(b, h, i_first - t, T, HKV)
        else:
            outer_rows = _key_rows(b, h, j, T, HKV)
            outer_ok = query_ok
        q_next, q_prev = _load_factor(Q_NEXT, Q_PREV, query_rows, query_ok, d, HEAD_DIM, CHUNKED_DIMS)
        a_next, a_prev = _load_factor(KA_NEXT, KA_PREV, outer_rows, outer_ok, d, HEAD_DIM, CHUNKED_DIMS)
        x_next, x_prev, y_next, y_prev = _factors(q_next, q_prev, a_next, a_prev, Q_FIRST)
        u = _pair_dot(x_next, x_prev, y_next, y_prev, d, CHUNKED_DIMS, DOT, ACC, PACKED_PAIR)
        do = _load_tile(DO, query_rows, query_ok, d, HEAD_DIM)
        w = _product_dot(do, _load_tile(VA, outer_rows, outer_ok, d, HEAD_DIM), DOT, ACC, PACKED_PAIR)
        lse = tl.load(LSE + query_rows, mask=query_ok, other=0.0)
        delta = tl.load(DELTA + query_rows, mask=query_ok, other=0.0)

        acc_t = tl.zeros((BLOCK_T * GROUP_PAD, BLOCK_D), ACC)
        lo = tl.maximum(0, i_first - W_B + 1)
        hi = tl.minimum(T, i_first + BLOCK_T)
        every_outer_key_exists = t <= p0 if OWN_QUERIES else t >= 0
        start, end = _unmasked_range(lo, i_first + BLOCK_T - W_B, i_first + 1, every_outer_key_exists, BLOCK_K)
        for c0 in range(lo, start, BLOCK_K):
            acc_t = _rows_backward_block(u, w, lse, delta, KB, VB, KB_DESC, VB_DESC, b, h, c0, i, t, T, HKV, W_B,
                                         scale_log2, acc_t, d, GRAD_OF, BLOCK_K, HEAD_DIM, BLOCK_D, TMA, True, DOT,
                                         ACC)
        for c0 in range(start, end, BLOCK_K):
            acc_t = _rows_backward_block(u, w, lse, delta, KB, VB, KB_DESC, VB_DESC, b, h, c0, i, t, T, HKV, W_B,
                                         scale_log2, acc_t, d, GRAD_OF, BLOCK_K, HEAD_DIM, BLOCK_D, TMA, False, DOT,
                                         ACC)
        for c0 in range(end, hi, BLOCK_K):
            acc_t = _rows_backward_block(u, w, lse, delta, KB, VB, KB_DESC, VB_DESC, b, h, c0, i, t, T, HKV, W_B,
                                         scale_log2, acc_t, d, GRAD_OF, BLOCK_K, HEAD_DIM, BLOCK_D, TMA, True, DOT,
                                         ACC)

        if GRAD_OF == GRAD_VA:
            grad += do.to(ACC) * acc_t
        else:
            g_next, g_prev = _neighbours_of(acc_t, d, CHUNKED_DIMS)
            if OWN_FIRST_FACTOR:
                grad += _pair(y_next, y_prev, g_next, g_prev, d, CHUNKED_DIMS, ACC)   # d<pair(x, y), g>/dx
            else:
                grad += _pair(g_next, g_prev, x_next, x_prev, d, CHUNKED_DIMS, ACC)   # d<pair(x, y), g>/dy

    if GRAD_OF != GRAD_VA:
        grad = grad * scale
    if OWN_QUERIES:
        query_rows = _query_rows(b, h, own, heads, T, HQ, GROUP)
        tl.store(GRAD + query_rows[:, None] * HEAD_DIM + d, grad.to(GRAD.dtype.element_ty),
                 mask=((own < T) & (heads < GROUP))[:, None] & (d < HEAD_DIM))
    else:
        tokens = p0 + tl.arange(0, BLOCK_T)
        per_token = tl.sum(tl.reshape(grad, (BLOCK_T, GROUP_PAD, BLOCK_D)), axis=1)   # the GQA heads summed
        tl.store(GRAD + _key_rows(b, h, tokens, T, HKV)[:, None] * HEAD_DIM + d,
                 per_token.to(GRAD.dtype.element_ty), mask=(tokens < T)[:, None] & (d < HEAD_DIM))


# ---- backward: rows own inner keys (db, dvb) -----------------------------------------------------------------------

@triton.jit
def _inner_backward_queries(kb, vb, c, dkb, dvb, Q_NEXT, Q_PREV, KA_NEXT, KA_PREV, VA, DO, LSE, DELTA, b, h, i0,
                            T, HQ, HKV, W_A, W_B, scale_log2, d, GROUP: tl.constexpr, GROUP_PAD: tl.constexpr,
                            BLOCK_Q: tl.constexpr, HEAD_DIM: tl.constexpr, CHUNKED_DIMS: tl.constexpr,
                            Q_FIRST: tl.constexpr, MASKED: tl.constexpr, DOT: tl.constexpr, ACC: tl.constexpr,
                            PACKED_PAIR: tl.constexpr):
    # The contributions of queries i0 .. i0 + BLOCK_Q - 1 (all heads of the group, every outer offset t).
    cols = tl.arange(0, BLOCK_Q * GROUP_PAD)
    i = i0 + cols // GROUP_PAD
    heads = cols % GROUP_PAD
    query_ok = (i < T) & (heads < GROUP)
    query_rows = _query_rows(b, h, i, heads, T, HQ, GROUP)
    q_next, q_prev = _load_factor(Q_NEXT, Q_PREV, query_rows, query_ok, d, HEAD_DIM, CHUNKED_DIMS)
    do = _load_tile(DO, query_rows, query_ok, d, HEAD_DIM)
    lse = tl.load(LSE + query_rows, mask=query_ok, other=0.0)
    delta = tl.load(DELTA + query_rows, mask=query_ok, other=0.0)
    for t in range(0, tl.minimum(W_A, i0 + BLOCK_Q)):
        j = i - t
        if BLOCK_Q == 1:  # every column has the outer key i0 - t, which exists: one row
            outer_rows, outer_ok = _shared_key_row(b, h, i0 - t, T, HKV)
        else:
            outer_rows = _key_rows(b, h, j, T, HKV)
            outer_ok = query_ok & (j >= 0)
        a_next, a_prev = _load_factor(KA_NEXT, KA_PREV, outer_rows, outer_ok, d, HEAD_DIM, CHUNKED_DIMS)
        x_next, x_prev, y_next, y_prev = _factors(q_next, q_prev, a_next, a_prev, Q_FIRST)
        u = _pair_dot(x_next, x_prev, y_next, y_prev, d, CHUNKED_DIMS, DOT, ACC, PACKED_PAIR)  # (N, BLOCK_D)
        w = _product_dot(do, _load_tile(VA, outer_rows, outer_ok, d, HEAD_DIM), DOT, ACC, PACKED_PAIR)
        p_t = tl.exp2(_dot(kb, tl.trans(u), None, DOT, ACC) * scale_log2 - lse[None, :])  # (BLOCK_C, N)
        if MASKED:
            p_t = tl.where(_visible(i[None, :], c[:, None], t <= i[None, :], W_B), p_t, 0.0)
        ds_t = p_t * (_dot(vb, tl.trans(w), None, DOT, ACC) - delta[None, :])
        dkb = _dot(ds_t, u, dkb, DOT, ACC)
        dvb = _dot(p_t, w, dvb, DOT, ACC)
    return dkb, dvb


@triton.jit
def inner_backward_kernel(Q_NEXT, Q_PREV, KA_NEXT, KA_PREV, VA, KB, VB, DO, LSE, DELTA, DKB, DVB, T, HQ, HKV, W_A,
                          W_B, scale_log2, scale, GROUP: tl.constexpr, GROUP_PAD: tl.constexpr,
                          BLOCK_C: tl.constexpr, BLOCK_Q: tl.constexpr, HEAD_DIM: tl.constexpr,
                          BLOCK_D: tl.constexpr, CHUNKED_DIMS: tl.constexpr, Q_FIRST: tl.constexpr,
                          DOT: tl.constexpr, ACC: tl.constexpr, PACKED_PAIR: tl.constexpr):
    # DKB, DVB (B, T, HKV, HEAD_DIM). Grid: (cdiv(T, BLOCK_C), B * HKV). Rows: inner keys c0 .. c0 + BLOCK_C - 1;
    # they are seen by the queries c0 .. c0 + BLOCK_C + W_B - 2, walked BLOCK_Q tokens at a time.
    c0 = tl.program_id(0) * BLOCK_C
    b = tl.program_id(1) // HKV
    h = tl.program_id(1) % HKV
    c = c0 + tl.arange(0, BLOCK_C)
    key_rows = _key_rows(b, h, c, T, HKV)
    d = tl.arange(0, BLOCK_D)[None, :]
    kb = _load_tile(KB, key_rows, c < T, d, HEAD_DIM)
    vb = _load_tile(VB, key_rows, c < T, d, HEAD_DIM)
    dkb = tl.zeros((BLOCK_C, BLOCK_D), ACC)
    dvb = tl.zeros((BLOCK_C, BLOCK_D), ACC)

    hi = tl.minimum(T, c0 + BLOCK_C - 1 + W_B)
    start, end = _unmasked_range(c0, tl.maximum(c0 + BLOCK_C - 1, W_A - 1), tl.minimum(c0 + W_B, T), c0 >= 0,
                                 BLOCK_Q)
    for i0 in range(c0, tl.minimum(start, hi), BLOCK_Q):  # start may lie past T when T < c0 + BLOCK_C
        dkb, dvb = _inner_backward_queries(kb, vb, c, dkb, dvb, Q_NEXT, Q_PREV, KA_NEXT, KA_PREV, VA, DO, LSE,
                                           DELTA, b, h, i0, T, HQ, HKV, W_A, W_B, scale_log2, d, GROUP, GROUP_PAD,
                                           BLOCK_Q, HEAD_DIM, CHUNKED_DIMS, Q_FIRST, True, DOT, ACC,
                                           PACKED_PAIR)
    for i0 in range(start, end, BLOCK_Q):
        dkb, dvb = _inner_backward_queries(kb, vb, c, dkb, dvb, Q_NEXT, Q_PREV, KA_NEXT, KA_PREV, VA, DO, LSE,
                                           DELTA, b, h, i0, T, HQ, HKV, W_A, W_B, scale_log2, d, GROUP, GROUP_PAD,
                                           BLOCK_Q, HEAD_DIM, CHUNKED_DIMS, Q_FIRST, False, DOT, ACC,
                                           PACKED_PAIR)
    for i0 in range(end, hi, BLOCK_Q):
        dkb, dvb = _inner_backward_queries(kb, vb, c, dkb, dvb, Q_NEXT, Q_PREV, KA_NEXT, KA_PREV, VA, DO, LSE,
                                           DELTA, b, h, i0, T, HQ, HKV, W_A, W_B, scale_log2, d, GROUP, GROUP_PAD,
                                           BLOCK_Q, HEAD_DIM, CHUNKED_DIMS, Q_FIRST, True, DOT, ACC,
                                           PACKED_PAIR)

    store_mask = (c < T)[:, None] & (d < HEAD_DIM)
    tl.store(DKB + key_rows[:, None] * HEAD_DIM + d, (dkb * scale).to(DKB.dtype.element_ty), mask=store_mask)
    tl.store(DVB + key_rows[:, None] * HEAD_DIM + d, dvb.to(DVB.dtype.element_ty), mask=store_mask)

"""h_t = a_t h_{t-1} + x_t along rows, with tl.associative_scan. Launched by swr_tutor.scans.triton_scan.

One program per row walks along time BLOCK_T positions at a time. Inside a block, the pairs (a_t, x_t) are
scanned with the operator (a1, x1) o (a2, x2) = (a1 a2, a2 x1 + x2), the earlier element on the left; the
state at the end of the previous block enters as a carry: h_t = (a_start ... a_t) carry + (local state at t).
Positions past T are padded with the identity (a = 1, x = 0), so the block's last slot holds its final state.
"""
import triton
import triton.language as tl


@triton.jit
def combine(a_earlier, x_earlier, a_later, x_later):
    return a_earlier * a_later, a_later * x_earlier + x_later


@triton.jit
def linear_scan_rows(A, X, H, T, BLOCK_T: tl.constexpr):
    # A, X: (R, T) decays and inputs (fp16, bf16 or fp32), row-major; H: (R, T) fp32 states. Grid: (R,).
    row_start = tl.program_id(0).to(tl.int64) * T
    offsets = tl.arange(0, BLOCK_T)
    carry = tl.zeros((), dtype=tl.float32)  # the state before the block: h_{-1} = 0
    for block_start in range(0, T, BLOCK_T):
        t = block_start + offsets
        inside = t < T
        a = tl.load(A + row_start + t, mask=inside, other=1.0).to(tl.float32)
        x = tl.load(X + row_start + t, mask=inside, other=0.0).to(tl.float32)
        decay, local_h = tl.associative_scan((a, x), 0, combine)  # decay = a_start ... a_t
        h = decay * carry + local_h
        tl.store(H + row_start + t, h, mask=inside)
        carry = tl.sum(tl.where(offsets == BLOCK_T - 1, h, 0.0), axis=0)

// B2P (Block Two-Pass), the sliding window recurrence, in CUDA C++ on tensor cores: forward and backward.
//
// Layout (rows r = batch * H + head, all contiguous): a (R, T) fp32 decays in [0, 1], x (R, T, D) fp16/bf16.
// Time is cut into tiles of 16 tokens; B2P keeps, of the transfer operator L[t, s] = a_{s+1} ... a_t, the
// diagonal tiles and the first sub-diagonal tiles:
//
//     y_k = L_k x_k + G_k x_{k-1},    G_k[t, s] = a_{s+1} ... a_t   (s in tile k-1, t in tile k)
//
// G_k = g_k r_{k-1}^T is the rank-one carry term of the two-pass form (the previous tile's LOCAL last row,
// r_{k-1}^T x_{k-1}, decayed by g_k); here it is one more 16x16 product on the tensor cores, which cost nothing
// in a kernel bound by memory.
//
// Work split: one warp per 16-token tile, TILES_PER_BLOCK warps per block, SLICE channels per block.
//   1. The block stages its tiles of x, plus the tile before its first one (the halo), in shared memory with
//      16-byte loads. The carry crosses tiles inside the block through shared memory: warp w multiplies G_k
//      with the tile warp w-1 staged. Across blocks, the first warp recomputes it from the halo tile, which
//      the previous block also reads (the second read mostly hits L2). No block waits for another.
//   2. Each warp takes the log-prefix of the 32 decays of its tile and the one before (lane l: one token),
//      in float64, with warp shuffles, and builds L_k and G_k directly in the registers that mma.sync reads.
//   3. ldmatrix.trans hands each lane its part of x; mma.sync m16n8k16 multiplies with fp32 accumulation.
//   4. Two butterfly shuffles turn the accumulator fragments into whole 16-byte row pieces: 16-byte stores.
//
// Backward (dy given): dx_k = L_k^T dy_k + G_{k+1}^T dy_{k+1} (B2P running backwards, the next tile as halo) and
// da_m = dx_m . w_m + v_m . c_m with v = L_k^T dy_k, w_m = sum_{s in tile k, s < m} Q[m, s] x_s and
// c_m = sum_{s in tile k-1} Q[m, s] x_s, where Q[m, s] = a_{s+1} ... a_{m-1} skips a_m (no division, exact at
// a_m = 0). Four 16x16 operators per tile, all from log-prefixes, all on the tensor cores.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "b2p.h"

namespace swr_b2p {

constexpr int WARP = 32;
constexpr int THREADS = TILES_PER_BLOCK * WARP;
constexpr int STAGED_TILES = TILES_PER_BLOCK + 1;  // the block's tiles and one halo tile
constexpr int ROW_STRIDE = SLICE + 8;  // shared-memory row, in elements: 16 bytes of padding (see stage_tiles)
constexpr unsigned ALL_LANES = 0xffffffffu;
constexpr float LOG_FLOOR = -1.0e4f;  // log 0 is clamped here: exp of any sum containing it is exactly 0

// ---- 1. the log-prefix of 32 decays, one per lane ------------------------------------------------------------

struct LogPrefix {
  double through;  // log a_first + ... + log a_token   (the lane's token included)
  double before;   // log a_first + ... + log a_{token-1} = through - log a_token
};

// Lane l holds token first + l. Decays outside [0, T) are 1 (they change no product).
__device__ LogPrefix warp_log_prefix(const float* a, long first, int T) {
  const int lane = threadIdx.x % WARP;
  const long token = first + lane;
  const float decay = (token >= 0 && token < T) ? a[token] : 1.0f;
  const double log_decay = decay > 0.0f ? (double)logf(decay) : (double)LOG_FLOOR;
  double prefix = log_decay;
#pragma unroll
  for (int offset = 1; offset < WARP; offset *= 2) {  // Hillis-Steele: 5 steps of shuffle-and-add
    const double earlier = __shfl_up_sync(ALL_LANES, prefix, offset);
    if (lane >= offset) prefix += earlier;
  }
  return {prefix, prefix - log_decay};
}

// ---- 2. 16x16 operators, built in the registers of mma.sync's A operand ----------------------------------

// mma.sync m16n8k16's A operand (16x16, row-major) lives in four 32-bit registers per lane, two 16-bit values
// each. With group g = lane / 4 and q = lane % 4, register r holds row g + 8 (r & 1), columns
// 2q + 8 (r >> 1) + {0, 1}.
struct Fragment {
  uint32_t reg[4];
};

enum class Band { Full, LowerWithDiagonal, StrictlyLower, UpperWithDiagonal };

__device__ bool kept(Band band, int row, int col) {
  switch (band) {
    case Band::LowerWithDiagonal: return col <= row;
    case Band::StrictlyLower: return col < row;
    case Band::UpperWithDiagonal: return col >= row;
    default: return true;
  }
}

template <typename In> __device__ uint32_t pack(float low, float high);
template <> __device__ uint32_t pack<__half>(float low, float high) {
  const __half2 pair = __floats2half2_rn(low, high);
  return *reinterpret_cast<const uint32_t*>(&pair);
}
template <> __device__ uint32_t pack<__nv_bfloat16>(float low, float high) {
  const __nv_bfloat162 pair = __floats2bfloat162_rn(low, high);
  return *reinterpret_cast<const uint32_t*>(&pair);
}

// The operator E[row][col] = exp(later - earlier) inside `band`, 0 outside, as an A fragment. The log-prefix
// values are read from other lanes: row i's from lane row_lane0 + i of `row_log`, column j's from lane
// col_lane0 + j of `col_log`. Untransposed, `later` is the row's value (E[t][s], t the later token);
// transposed, it is the column's (E[s][t], the transpose of an operator).
template <typename In>
__device__ Fragment operator_fragment(double row_log, int row_lane0, double col_log, int col_lane0,
                                      bool transposed, Band band) {
  const int g = (threadIdx.x % WARP) / 4, q = threadIdx.x % 4;
  double rows[2], cols[4];
#pragma unroll
  for (int i = 0; i < 2; ++i) rows[i] = __shfl_sync(ALL_LANES, row_log, row_lane0 + g + 8 * i);
#pragma unroll
  for (int j = 0; j < 4; ++j) cols[j] = __shfl_sync(ALL_LANES, col_log, col_lane0 + 2 * q + (j & 1) + 8 * (j >> 1));
  Fragment fragment;
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    float entry[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = g + 8 * (r & 1), col = 2 * q + 8 * (r >> 1) + h;
      const double row_value = rows[r & 1], col_value = cols[2 * (r >> 1) + h];
      const double exponent = transposed ? col_value - row_value : row_value - col_value;  // float64: exact
      entry[h] = kept(band, row, col) ? __expf((float)exponent) : 0.0f;
    }
    fragment.reg[r] = pack<In>(entry[0], entry[1]);
  }
  return fragment;
}

// ---- 3. tiles in shared memory, the B operand, the tensor-core product ---------------------------------

// Eight elements of In packed in 16 bytes, from 8 consecutive elements of Src (16 or 32 bytes).
template <typename Src, typename In> struct Chunk;
template <typename In> struct Chunk<In, In> {
  static __device__ uint4 load(const In* src) { return *reinterpret_cast<const uint4*>(src); }
};
template <typename In> struct Chunk<float, In> {
  static __device__ uint4 load(const float* src) {
    const float4 low = reinterpret_cast<const float4*>(src)[0], high = reinterpret_cast<const float4*>(src)[1];
    return {pack<In>(low.x, low.y), pack<In>(low.z, low.w), pack<In>(high.x, high.y), pack<In>(high.z, high.w)};
  }
};

// Stage STAGED_TILES tiles, tokens [first, first + STAGED_TILES * TILE) and channels [channel0, channel0 +
// width) of src (T, D), into smem (one row of ROW_STRIDE per token). Tokens outside [0, T) become 0. Each thread
// issues all its 16-byte loads before its first store, so that they are in flight together. The row padding
// (16 bytes) puts the 8 rows that one ldmatrix reads into 8 different groups of 4 banks.
template <typename Src, typename In>
__device__ void stage_tiles(In* smem, const Src* src, long first, int T, int D, int channel0, int width) {
  constexpr int CHUNKS_PER_ROW = SLICE / 8, CHUNKS = STAGED_TILES * TILE * CHUNKS_PER_ROW;
  constexpr int PER_THREAD = (CHUNKS + THREADS - 1) / THREADS;
  uint4 chunks[PER_THREAD];
#pragma unroll
  for (int i = 0; i < PER_THREAD; ++i) {
    const int chunk = threadIdx.x + i * THREADS, row = chunk / CHUNKS_PER_ROW, column = 8 * (chunk % CHUNKS_PER_ROW);
    const long token = first + row;
    const bool inside = chunk < CHUNKS && column < width && token >= 0 && token < T;
    chunks[i] = inside ? Chunk<Src, In>::load(src + token * D + channel0 + column) : make_uint4(0, 0, 0, 0);
  }
#pragma unroll
  for (int i = 0; i < PER_THREAD; ++i) {
    const int chunk = threadIdx.x + i * THREADS, row = chunk / CHUNKS_PER_ROW, column = 8 * (chunk % CHUNKS_PER_ROW);
    if (chunk < CHUNKS) *reinterpret_cast<uint4*>(smem + row * ROW_STRIDE + column) = chunks[i];
  }
}

// mma.sync's B operand (16 tokens x 8 channels) for two blocks of 8 channels: lane (g, q) needs tokens 2q, 2q+1
// (register 0) and 2q+8, 2q+9 (register 1) of channel g: pairs along time, which the (token, channel) layout
// keeps 2D apart. ldmatrix.trans reads four 8x8 blocks of the tile and hands out exactly these transposed pairs.
// Lane l names the row (l % 8) of block l / 8: blocks (tokens 0-7 | 8-15) x (channels c..c+7 | c+8..c+15).
struct PairOfB {
  uint32_t reg[4];  // reg[0], reg[1]: channels c..c+7; reg[2], reg[3]: channels c+8..c+15
};

template <typename In>
__device__ PairOfB b_fragments(const In* tile, int channel) {
  const int lane = threadIdx.x % WARP, block = lane / 8;
  const In* row = tile + (lane % 8 + 8 * (block & 1)) * ROW_STRIDE + channel + 8 * (block >> 1);
  const uint32_t address = static_cast<uint32_t>(__cvta_generic_to_shared(row));
  PairOfB b;
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(b.reg[0]), "=r"(b.reg[1]), "=r"(b.reg[2]), "=r"(b.reg[3])
               : "r"(address));
  return b;
}

// acc (16 x 8, fp32) += A (16 x 16) B (16 x 8) on the tensor cores. acc: lane (g, q) holds row g, columns
// 2q, 2q+1 (acc[0], acc[1]) and row g+8, the same columns (acc[2], acc[3]).
template <typename In>
__device__ void mma(float (&acc)[4], const Fragment& A, uint32_t b0, uint32_t b1);

template <>
__device__ void mma<__half>(float (&acc)[4], const Fragment& A, uint32_t b0, uint32_t b1) {
#if __CUDA_ARCH__ >= 800
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
               : "r"(A.reg[0]), "r"(A.reg[1]), "r"(A.reg[2]), "r"(A.reg[3]), "r"(b0), "r"(b1));
#else  // sm_75 has the k = 8 shape: columns 0-7 of A (registers 0, 1) with b0, then columns 8-15 with b1
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, {%0, %1, %2, %3};\n"
               : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
               : "r"(A.reg[0]), "r"(A.reg[1]), "r"(b0));
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, {%0, %1, %2, %3};\n"
               : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
               : "r"(A.reg[2]), "r"(A.reg[3]), "r"(b1));
#endif
}

template <>
__device__ void mma<__nv_bfloat16>(float (&acc)[4], const Fragment& A, uint32_t b0, uint32_t b1) {
#if __CUDA_ARCH__ >= 800  // bf16 tensor-core products arrived with sm_80; the launcher refuses bf16 below it
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
               : "r"(A.reg[0]), "r"(A.reg[1]), "r"(A.reg[2]), "r"(A.reg[3]), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

// acc += A B for the two blocks of 8 channels in b.
template <typename In>
__device__ void mma_pair(float (&acc)[2][4], const Fragment& A, const PairOfB& b) {
  mma<In>(acc[0], A, b.reg[0], b.reg[1]);
  mma<In>(acc[1], A, b.reg[2], b.reg[3]);
}

// ---- 4. 16-byte stores from accumulator fragments ------------------------------------------------------

template <typename Out> __device__ uint2 four(float4 v);  // four values as Out, 8 bytes
template <> __device__ uint2 four<__half>(float4 v) { return {pack<__half>(v.x, v.y), pack<__half>(v.z, v.w)}; }
template <> __device__ uint2 four<__nv_bfloat16>(float4 v) {
  return {pack<__nv_bfloat16>(v.x, v.y), pack<__nv_bfloat16>(v.z, v.w)};
}

__device__ float2 swap_with(float2 v, int lane_mask) {
  return {__shfl_xor_sync(ALL_LANES, v.x, lane_mask), __shfl_xor_sync(ALL_LANES, v.y, lane_mask)};
}
__device__ uint2 swap_with(uint2 v, int lane_mask) {
  return {__shfl_xor_sync(ALL_LANES, v.x, lane_mask), __shfl_xor_sync(ALL_LANES, v.y, lane_mask)};
}

// Store acc (16 tokens x 16 channels, two blocks of 8) to out (T, D) at tokens start.., channels channel...
// A lane holds 2 values of 4 row pieces. Butterfly 1 (lanes q, q^1): even q gathers row g, odd q row g+8, four
// columns of each block: a 16-byte fp32 store per block. For 16-bit outputs, butterfly 2 (lanes q, q^2) then
// gathers whole 8-column rows, one block per lane: one 16-byte store.
template <typename Out>
__device__ void store_tile(Out* out, long start, int T, int D, int channel, const float (&acc)[2][4]) {
  const int g = (threadIdx.x % WARP) / 4, q = threadIdx.x % 4;
  const bool odd = q & 1;
  float4 rows[2];  // per block: row g + 8 (q & 1), columns 4 (q >> 1) .. +3
#pragma unroll
  for (int block = 0; block < 2; ++block) {
    const float2 row_g = {acc[block][0], acc[block][1]}, row_g8 = {acc[block][2], acc[block][3]};
    const float2 received = swap_with(odd ? row_g : row_g8, 1);
    rows[block] = odd ? make_float4(received.x, received.y, row_g8.x, row_g8.y)
                      : make_float4(row_g.x, row_g.y, received.x, received.y);
  }
  const long token = start + g + 8 * (q & 1);
  if constexpr (sizeof(Out) == 4) {
    if (token < T) {
#pragma unroll
      for (int block = 0; block < 2; ++block)
        *reinterpret_cast<float4*>(out + token * D + channel + 8 * block + 4 * (q >> 1)) = rows[block];
    }
  } else {
    const bool upper = q & 2;  // keeps block 1 (the other lane of the pair keeps block 0)
    const uint2 mine = four<Out>(rows[upper ? 1 : 0]), other = four<Out>(rows[upper ? 0 : 1]);
    const uint2 received = swap_with(other, 2);
    const uint4 row = upper ? make_uint4(received.x, received.y, mine.x, mine.y)
                            : make_uint4(mine.x, mine.y, received.x, received.y);
    if (token < T) *reinterpret_cast<uint4*>(out + token * D + channel + 8 * (q >> 1)) = row;
  }
}

// ---- the kernels ---------------------------------------------------------------------------------------

struct Block {  // what a block owns: a row (sequence and head), TILES_PER_BLOCK tiles, a channel slice
  long row;
  int first_tile, channel0, width;
};

__device__ Block this_block(int D, int blocks_per_row) {
  const int channel0 = blockIdx.y * SLICE;
  return {blockIdx.x / blocks_per_row, (int)(blockIdx.x % blocks_per_row) * TILES_PER_BLOCK, channel0,
          min(SLICE, D - channel0)};
}

// Grid: (R * blocks_per_row, channel_slices(D)); TILES_PER_BLOCK warps per block.
template <typename In, typename Out>
__global__ void __launch_bounds__(THREADS) b2p_forward_kernel(const float* a, const In* x, Out* y, int T, int D,
                                                              int blocks_per_row) {
  __shared__ alignas(16) In x_tiles[STAGED_TILES * TILE * ROW_STRIDE];  // the halo tile, then one per warp
  const Block block = this_block(D, blocks_per_row);
  a += block.row * T;
  x += block.row * T * D;
  y += block.row * T * D;
  stage_tiles(x_tiles, x, (block.first_tile - 1) * (long)TILE, T, D, block.channel0, block.width);
  __syncthreads();

  const int warp = threadIdx.x / WARP;
  const long start = (block.first_tile + warp) * (long)TILE;
  if (start >= T) return;
  const LogPrefix C = warp_log_prefix(a, start - TILE, T);  // lanes 0-15: tile k-1, lanes 16-31: tile k
  const Fragment L = operator_fragment<In>(C.through, TILE, C.through, TILE, false, Band::LowerWithDiagonal);
  const Fragment G = operator_fragment<In>(C.through, TILE, C.through, 0, false, Band::Full);
  const In* previous_tile = x_tiles + warp * TILE * ROW_STRIDE;  // staged by the block: the carry's source
  const In* own_tile = previous_tile + TILE * ROW_STRIDE;
#pragma unroll
  for (int c = 0; c < SLICE; c += 16) {
    if (c >= block.width) break;
    float acc[2][4] = {};
    mma_pair<In>(acc, L, b_fragments(own_tile, c));       // pass 1: L_k x_k
    mma_pair<In>(acc, G, b_fragments(previous_tile, c));  // the carry: G_k x_{k-1} = g_k (r_{k-1}^T x_{k-1})
    store_tile(y, start, T, D, block.channel0 + c, acc);
  }
}

// Grid as the forward. da (slices, R, T): the channel slice blockIdx.y writes its partial sum da[blockIdx.y].
template <typename In, typename Grad>
__global__ void __launch_bounds__(THREADS) b2p_backward_kernel(const float* a, const In* x, const Grad* dy, In* dx,
                                                               float* da, int T, int D, int blocks_per_row) {
  __shared__ alignas(16) In x_tiles[STAGED_TILES * TILE * ROW_STRIDE];   // the tile before, then one per warp
  __shared__ alignas(16) In dy_tiles[STAGED_TILES * TILE * ROW_STRIDE];  // one per warp, then the tile after
  const Block block = this_block(D, blocks_per_row);
  a += block.row * T;
  x += block.row * T * D;
  dy += block.row * T * D;
  dx += block.row * T * D;
  da += (blockIdx.y * (gridDim.x / blocks_per_row) + block.row) * T;
  stage_tiles(x_tiles, x, (block.first_tile - 1) * (long)TILE, T, D, block.channel0, block.width);
  stage_tiles(dy_tiles, dy, block.first_tile * (long)TILE, T, D, block.channel0, block.width);
  __syncthreads();

  const int warp = threadIdx.x / WARP;
  const long start = (block.first_tile + warp) * (long)TILE;
  if (start >= T) return;
  const LogPrefix back = warp_log_prefix(a, start - TILE, T);  // lanes 0-15: tile k-1, 16-31: tile k
  const LogPrefix ahead = warp_log_prefix(a, start, T);        // lanes 0-15: tile k, 16-31: tile k+1
  const Fragment Lt = operator_fragment<In>(ahead.through, 0, ahead.through, 0, true, Band::UpperWithDiagonal);
  const Fragment Gt = operator_fragment<In>(ahead.through, 0, ahead.through, TILE, true, Band::Full);
  const Fragment Q_own = operator_fragment<In>(back.before, TILE, back.through, TILE, false, Band::StrictlyLower);
  const Fragment Q_previous = operator_fragment<In>(back.before, TILE, back.through, 0, false, Band::Full);
  const In* x_previous = x_tiles + warp * TILE * ROW_STRIDE;
  const In* x_own = x_previous + TILE * ROW_STRIDE;
  const In* dy_own = dy_tiles + warp * TILE * ROW_STRIDE;
  const In* dy_next = dy_own + TILE * ROW_STRIDE;

  float da_rows[2] = {};  // this lane's part of da for rows g and g+8
#pragma unroll
  for (int c = 0; c < SLICE; c += 16) {
    if (c >= block.width) break;
    float v[2][4] = {}, w[2][4] = {}, carried[2][4] = {};
    mma_pair<In>(v, Lt, b_fragments(dy_own, c));                  // v = L_k^T dy_k
    float grad[2][4];
#pragma unroll
    for (int i = 0; i < 8; ++i) grad[i / 4][i % 4] = v[i / 4][i % 4];
    mma_pair<In>(grad, Gt, b_fragments(dy_next, c));              // dx = v + G_{k+1}^T dy_{k+1}
    mma_pair<In>(w, Q_own, b_fragments(x_own, c));                // w = Q (tile k) x_k
    mma_pair<In>(carried, Q_previous, b_fragments(x_previous, c));  // c = Q (tile k-1) x_{k-1}
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int nb = i / 4, e = i % 4;
      da_rows[e / 2] += grad[nb][e] * w[nb][e] + v[nb][e] * carried[nb][e];
    }
    store_tile(dx, start, T, D, block.channel0 + c, grad);
  }
  const int g = (threadIdx.x % WARP) / 4, q = threadIdx.x % 4;
#pragma unroll
  for (int i = 0; i < 2; ++i) {  // sum over the 4 lanes that share a row
    da_rows[i] += __shfl_xor_sync(ALL_LANES, da_rows[i], 1);
    da_rows[i] += __shfl_xor_sync(ALL_LANES, da_rows[i], 2);
    if (q == 0 && start + g + 8 * i < T) da[start + g + 8 * i] = da_rows[i];
  }
}

// ---- host side: dtype dispatch and launch ----------------------------------------------------------------

namespace {

dim3 grid(int rows, int T, int D, int* blocks_per_row) {
  const int tiles = (T + TILE - 1) / TILE;
  *blocks_per_row = (tiles + TILES_PER_BLOCK - 1) / TILES_PER_BLOCK;
  return dim3(rows * *blocks_per_row, channel_slices(D));
}

template <typename In, typename Out>
cudaError_t forward(const float* a, const void* x, void* y, int rows, int T, int D, cudaStream_t stream) {
  int blocks_per_row;
  const dim3 blocks = grid(rows, T, D, &blocks_per_row);
  b2p_forward_kernel<In, Out><<<blocks, THREADS, 0, stream>>>(a, static_cast<const In*>(x), static_cast<Out*>(y),
                                                              T, D, blocks_per_row);
  return cudaGetLastError();
}

template <typename In>
cudaError_t forward_to(const float* a, const void* x, void* y, Dtype y_dtype, int rows, int T, int D,
                       cudaStream_t stream) {
  switch (y_dtype) {
    case Dtype::Float32: return forward<In, float>(a, x, y, rows, T, D, stream);
    case Dtype::Float16: return forward<In, __half>(a, x, y, rows, T, D, stream);
    default: return forward<In, __nv_bfloat16>(a, x, y, rows, T, D, stream);
  }
}

template <typename In, typename Grad>
cudaError_t backward(const float* a, const void* x, const void* dy, void* dx, float* da, int rows, int T, int D,
                     cudaStream_t stream) {
  int blocks_per_row;
  const dim3 blocks = grid(rows, T, D, &blocks_per_row);
  b2p_backward_kernel<In, Grad><<<blocks, THREADS, 0, stream>>>(
      a, static_cast<const In*>(x), static_cast<const Grad*>(dy), static_cast<In*>(dx), da, T, D, blocks_per_row);
  return cudaGetLastError();
}

template <typename In>
cudaError_t backward_from(const float* a, const void* x, const void* dy, Dtype dy_dtype, void* dx, float* da,
                          int rows, int T, int D, cudaStream_t stream) {
  if (dy_dtype == Dtype::Float32) return backward<In, float>(a, x, dy, dx, da, rows, T, D, stream);
  return backward<In, In>(a, x, dy, dx, da, rows, T, D, stream);
}

}  // namespace

cudaError_t launch_forward(const float* a, const void* x, Dtype x_dtype, void* y, Dtype y_dtype, int rows, int T,
                           int D, cudaStream_t stream) {
  if (x_dtype == Dtype::Float16) return forward_to<__half>(a, x, y, y_dtype, rows, T, D, stream);
  return forward_to<__nv_bfloat16>(a, x, y, y_dtype, rows, T, D, stream);
}

cudaError_t launch_backward(const float* a, const void* x, Dtype x_dtype, const void* dy, Dtype dy_dtype, void* dx,
                            float* da, int rows, int T, int D, cudaStream_t stream) {
  if (x_dtype == Dtype::Float16) return backward_from<__half>(a, x, dy, dy_dtype, dx, da, rows, T, D, stream);
  return backward_from<__nv_bfloat16>(a, x, dy, dy_dtype, dx, da, rows, T, D, stream);
}

}  // namespace swr_b2p

"""The Phalanx layer: a sliding window recurrence as a drop-in for sliding-window attention, and small hybrids.

Phalanx (Secrieru et al.) maps x (B, T, C) to (B, T, C) with heads of D = 16 channels, one B2P tile wide:

    a = sigmoid(W_a x + b_a)              (B, H, T)      one decay per head, shared by the head's D channels
    X = sigmoid(W_b x + b_b) * (W_v x)    (B, H, T, D)   the input, gated
    C = W_c x + b_c                       (B, H, T, D)   the readout
    V = W_v x                             (B, H, T, D)   the skip
    out = W_o (SWR(a, X) * C + V)         (B, T, C)

Key/value groups (``kv_heads``): as grouped-query attention shares keys and values between query heads,
``kv_heads`` state heads carry everything that *writes* the state (a, the input gate and V) and the H heads of
the readout C are split into groups of H / kv_heads that read the same state. ``kv_heads = H`` is the layer
above; fewer state heads mean fewer parameters and H / kv_heads times less SWR work.

Also here: ``CausalSelfAttention`` (full, or ``SlidingWindowAttention`` in a window of w tokens) with the same
(B, T, C) interface, and ``build_model(pattern, ...)``, a decoder-only model mixing the three kinds of layer.
"""
import functools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import validate
from .blocked import TILE
from .swr import BACKENDS, swr
from .windows import uniform_window_mask

MEMORY_RANGE = (2.0, 32.0)  # effective windows 1/(1 - a) of the decays at initialisation, shortest to longest
LAYER_KINDS = {"P": "Phalanx", "S": "sliding-window attention", "A": "full causal attention"}


class Flops(NamedTuple):
    """Matrix-product FLOPs per token (2 per multiply-add): the projections, and the mixing along time."""

    projections: int
    mixing: float

    @property
    def total(self) -> float:
        return self.projections + self.mixing


def _checked_sequence(fn: str, x, d_model: int, weight: torch.Tensor) -> torch.Tensor:
    """x (B, T, C) with C = d_model, T >= 1 and the layer's dtype (any float dtype under autocast)."""
    x = validate.tensor(fn, "x", x, dims=3, finite=False)
    if x.shape[-1] != d_model:
        raise ValueError(f"{fn}: x must have shape (B, T, C) with C = d_model = {d_model}, got {tuple(x.shape)}")
    if x.shape[1] == 0:
        raise ValueError(f"{fn}: the sequence length T (axis 1 of x) must be >= 1, got 0")
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(f"{fn}: x has dtype {str(x.dtype).removeprefix('torch.')} but the layer's parameters are "
                        f"{str(weight.dtype).removeprefix('torch.')}; convert one (layer.to(x.dtype)) or run "
                        "under torch.autocast")
    return x


def _split(fn: str, d_model, name: str, parts) -> int:
    """d_model / parts, for ``parts`` (named ``name``) a positive int that divides d_model."""
    validate.positive_int(fn, "d_model", d_model)
    validate.positive_int(fn, name, parts)
    if d_model % parts:
        raise ValueError(f"{fn}: {name} = {parts} must divide d_model = {d_model}")
    return d_model // parts


# ---- Phalanx -----------------------------------------------------------------------------------------------

def decay_bias(window: float) -> float:
    """The bias b with sigmoid(b) = a and 1 / (1 - a) = window: b = log(window - 1), for window > 1."""
    if not window > 1:
        raise ValueError(f"decay_bias: the effective window must be > 1 (a > 0), got {window}")
    return math.log(window - 1)


def memory_lengths(heads: int, shortest: float = MEMORY_RANGE[0], longest: float = MEMORY_RANGE[1]) -> torch.Tensor:
    """(heads,) effective windows spread geometrically from ``shortest`` to ``longest`` tokens."""
    validate.positive_int("memory_lengths", "heads", heads)
    if not 1 < shortest <= longest:
        raise ValueError(f"memory_lengths: need 1 < shortest <= longest, got {shortest}, {longest}")
    return torch.logspace(math.log10(shortest), math.log10(longest), heads, dtype=torch.float64)


class PhalanxState(NamedTuple):
    """What ``Phalanx.step`` keeps between tokens; its size does not grow with the sequence.

    For the token t = kb + i last seen (tile k, row i; b = 16), per batch element and state head:
    ``local`` (B, Hs, D) is w_k[i], the tile's own recurrence from its first row to i (pass 1 of B2P);
    ``gate`` (B, Hs) is g_k[i] = a_{kb} ... a_t; ``carry`` (B, Hs, D) is w_{k-1}[b-1], the previous tile's
    LOCAL last row (pass 2 adds g_k[i] times it); ``position`` counts the tokens seen.
    """

    local: torch.Tensor
    gate: torch.Tensor
    carry: torch.Tensor
    position: int


class Phalanx(nn.Module):
    """The Phalanx layer (B, T, C) -> (B, T, C), a drop-in for a sliding-window attention layer.

    d_model: C. head_dim: D, the channels that share a decay (default 16, the B2P tile). kv_heads: the state
    heads (default C / D, one per head; see the module docstring). memory_range: the effective windows of the
    initial decays, spread over the state heads. backend: passed to ``swr`` ("auto", "triton" or "torch").
    """

    def __init__(self, d_model: int, head_dim: int = TILE, kv_heads: int | None = None, *,
                 memory_range: tuple[float, float] = MEMORY_RANGE, backend: str = "auto", device=None, dtype=None):
        super().__init__()
        self.heads = _split("Phalanx", d_model, "head_dim", head_dim)
        self.kv_heads = self.heads if kv_heads is None else validate.positive_int("Phalanx", "kv_heads", kv_heads)
        if self.heads % self.kv_heads:
            raise ValueError(f"Phalanx: kv_heads = {self.kv_heads} must divide the number of heads "
                             f"d_model / head_dim = {self.heads}")
        if backend not in BACKENDS:
            raise ValueError(f"Phalanx: backend must be one of {BACKENDS}, got {backend!r}")
        self.d_model, self.head_dim, self.backend = d_model, head_dim, backend
        state_width = self.kv_heads * head_dim
        factory = dict(device=device, dtype=dtype)
        self.decay = nn.Linear(d_model, self.kv_heads, **factory)                  # W_a, b_a
        self.input_gate = nn.Linear(d_model, state_width, **factory)               # W_b, b_b
        self.value = nn.Linear(d_model, state_width, bias=False, **factory)        # W_v
        self.readout = nn.Linear(d_model, d_model, **factory)                      # W_c, b_c
        self.out = nn.Linear(d_model, d_model, bias=False, **factory)              # W_o
        self.reset_decays(*memory_range)

    def reset_decays(self, shortest: float, longest: float) -> None:
        """Start every state head with a constant decay: W_a = 0 and b_a = log(window - 1), the windows
        spread geometrically from ``shortest`` to ``longest`` tokens."""
        windows = memory_lengths(self.kv_heads, shortest, longest)
        with torch.no_grad():
            self.decay.weight.zero_()
            self.decay.bias.copy_(torch.tensor([decay_bias(w) for w in windows.tolist()]))

    def initial_windows(self) -> torch.Tensor:
        """(kv_heads,) the effective windows 1 / (1 - sigmoid(b_a)): each head's memory while W_a x = 0."""
        return 1 / (1 - torch.sigmoid(self.decay.bias.detach().double()))

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """a (..., Hs) fp32, X (..., Hs, D), C (..., Hs, G, D), V (..., Hs, D) for x (..., C): Hs state heads,
        G = H / Hs readout heads per state head."""
        state_heads = (self.kv_heads, self.head_dim)
        a = torch.sigmoid(self.decay(x).float())
        V = self.value(x).unflatten(-1, state_heads)
        X = torch.sigmoid(self.input_gate(x)).unflatten(-1, state_heads) * V
        C = self.readout(x).unflatten(-1, (self.kv_heads, -1, self.head_dim))
        return a, X, C, V

    def _output(self, h: torch.Tensor, C: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        """W_o (h * C + V) for h, V (..., Hs, D) and C (..., Hs, G, D) -> (..., C)."""
        return self.out((h.unsqueeze(-2) * C + V.unsqueeze(-2)).flatten(-3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _checked_sequence("Phalanx", x, self.d_model, self.out.weight)
        a, X, C, V = self.gates(x)                                           # (B, T, Hs), (B, T, Hs, D), ...
        h = swr(a.transpose(1, 2), X.transpose(1, 2), backend=self.backend, out_dtype="input")  # (B, Hs, T, D)
        return self._output(h.transpose(1, 2), C, V)

    def initial_state(self, batch: int, device=None) -> PhalanxState:
        """The state before the first token: nothing seen, no carry (fp32, as SWR accumulates)."""
        zeros = torch.zeros(batch, self.kv_heads, self.head_dim, device=device or self.out.weight.device)
        return PhalanxState(local=zeros, gate=zeros[..., 0] + 1, carry=zeros, position=0)

    def step(self, x_t: torch.Tensor, state: PhalanxState | None = None) -> tuple[torch.Tensor, PhalanxState]:
        """One token x_t (B, C) -> (y_t (B, C), the next state): the parallel forward, one position at a time.

        At a tile boundary the finished tile's local last row becomes the carry and the tile starts afresh
        (w = 0, g = 1); then w_k[i] = a_t w_k[i-1] + X_t, g_k[i] = g_k[i-1] a_t and h_t = w_k[i] + g_k[i] carry.
        """
        x_t = validate.tensor("Phalanx.step", "x_t", x_t, dims=2, finite=False)
        _checked_sequence("Phalanx.step", x_t.unsqueeze(1), self.d_model, self.out.weight)
        state = self.initial_state(x_t.shape[0], x_t.device) if state is None else state
        a, X, C, V = self.gates(x_t)
        local, gate, carry = state.local, state.gate, state.carry
        if state.position % TILE == 0:
            carry, local, gate = local, torch.zeros_like(local), torch.ones_like(gate)
        local = a.unsqueeze(-1) * local + X
        gate = gate * a
        h = local + gate.unsqueeze(-1) * carry
        return self._output(h.to(X.dtype), C, V), PhalanxState(local, gate, carry, state.position + 1)

    def flops_per_token(self, T: int | None = None) -> Flops:
        """The projections, and B2P's pass 1: a full b x b tile product per state channel (2 b FLOPs a token).

        The same at every context T (an argument only to match attention's ``flops_per_token(T)``)."""
        projection_weights = sum(p.numel() for p in self.parameters() if p.dim() == 2)
        return Flops(2 * projection_weights, 2 * TILE * self.kv_heads * self.head_dim)


# ---- attention ---------------------------------------------------------------------------------------------

def rotary(x: torch.Tensor, base: float = 10_000.0) -> torch.Tensor:
    """Rotary position embedding of x (B, H, T, Dh), Dh even: channel pair j at position t turns by t base^(-2j/Dh)."""
    T, head_dim = x.shape[-2:]
    frequencies = base ** (-torch.arange(0, head_dim, 2, device=x.device, dtype=torch.float32) / head_dim)
    angles = torch.arange(T, device=x.device, dtype=torch.float32)[:, None] * frequencies  # (T, Dh/2)
    cos, sin = angles.cos(), angles.sin()
    even, odd = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), -1).flatten(-2).to(x.dtype)


def mean_keys_per_query(T: int, window: int | None) -> float:
    """How many keys a causal query attends to, averaged over positions 0..T-1: min(t + 1, window)."""
    w = T if window is None else min(window, T)
    return (w * (w + 1) / 2 + (T - w) * w) / T


@torch.compiler.disable
@functools.lru_cache(maxsize=8)
def _window_block_mask(T: int, window: int, device: torch.device):
    """The block mask of a causal window, built once per (T, window, device), outside any compiled graph."""
    from torch.nn.attention.flex_attention import create_block_mask

    def in_window(batch, head, query, key):
        return (key <= query) & (query - key < window)

    return create_block_mask(in_window, None, None, T, T, device=device)


@functools.cache
def _flex_attention(compiled: bool):
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False) if compiled else flex_attention


def flex_runs_on(device: torch.device) -> bool:
    """Whether flex_attention's fused kernels run on ``device``: CUDA GPUs from Ampere (sm_80) on."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int | None, *, use_flex: bool | None = None):
    """Causal attention of q, k, v (B, H, T, Dh), full (window None) or to the last ``window`` tokens.

    Full: SDPA with is_causal (flash attention on a GPU). Windowed: flex_attention with a block mask, which
    skips the blocks outside the window (compiled; the default where ``flex_runs_on`` the device), or SDPA with
    a dense boolean mask (the CPU, a T4).
    """
    if window is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    if flex_runs_on(q.device) if use_flex is None else use_flex:
        block_mask = _window_block_mask(q.shape[-2], window, q.device)
        return _flex_attention(compiled=q.is_cuda)(q, k, v, block_mask=block_mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=uniform_window_mask(q.shape[-2], window).to(q.device))


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention (B, T, C) -> (B, T, C) with rotary positions; ``window`` None: full,
    else each token attends to its last ``window`` tokens. Projections without biases: 4 C^2 parameters."""

    def __init__(self, d_model: int, n_heads: int, window: int | None = None, *, device=None, dtype=None):
        super().__init__()
        self.head_dim = _split(type(self).__name__, d_model, "n_heads", n_heads)
        if self.head_dim % 2:
            raise ValueError(f"{type(self).__name__}: rotary positions need an even head size d_model / n_heads, "
                             f"got {self.head_dim}")
        self.d_model, self.n_heads, self.window = d_model, n_heads, window
        factory = dict(device=device, dtype=dtype)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False, **factory)
        self.out = nn.Linear(d_model, d_model, bias=False, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _checked_sequence(type(self).__name__, x, self.d_model, self.out.weight)
        q, k, v = self.qkv(x).unflatten(-1, (3, self.n_heads, self.head_dim)).permute(2, 0, 3, 1, 4)
        y = attend(rotary(q), rotary(k), v, self.window)                     # (B, H, T, Dh)
        return self.out(y.transpose(1, 2).flatten(2))

    def flops_per_token(self, T: int) -> Flops:
        """The projections, and QK^T and PV over the keys each query attends to, averaged over the T positions."""
        projection_weights = sum(p.numel() for p in self.parameters())
        return Flops(2 * projection_weights, 4 * self.d_model * mean_keys_per_query(T, self.window))


class SlidingWindowAttention(CausalSelfAttention):
    """Causal attention to the last ``window`` tokens (default 32: the reach of SWR's jagged window)."""

    def __init__(self, d_model: int, n_heads: int, window: int = 2 * TILE, **factory):
        super().__init__(d_model, n_heads, validate.positive_int("SlidingWindowAttention", "window", window),
                         **factory)


# ---- the model -------------------------------------------------------------------------------------------

class Block(nn.Module):
    """Pre-norm residual block: x + mixer(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, mixer: nn.Module, d_model: int, mlp_ratio: int):
        super().__init__()
        self.mixer_norm, self.mixer = nn.RMSNorm(d_model), mixer
        self.mlp_norm = nn.RMSNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model, bias=False), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.mixer_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class HybridLM(nn.Module):
    """Decoder-only language model: token embedding, one Block per mixer, final norm, tied output head.

    tokens (B, T) int -> logits (B, T, vocab_size). ``pattern`` names the mixers' kinds, one letter a block.
    """

    def __init__(self, vocab_size: int, d_model: int, mixers: list[nn.Module], pattern: str, mlp_ratio: int = 4):
        super().__init__()
        self.pattern = pattern
        self.embed = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(mixer, d_model, mlp_ratio) for mixer in mixers)
        self.norm = nn.RMSNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = validate.tensor("HybridLM", "tokens", tokens, dims=2, dtypes=(torch.int64, torch.int32))
        if tokens.shape[1] == 0:
            raise ValueError("HybridLM: the sequence length T (axis 1 of tokens) must be >= 1, got 0")
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def build_model(pattern: str = "PAPA", vocab_size: int = 128, d_model: int = 64, n_heads: int = 4, *,
                head_dim: int = TILE, kv_heads: int | None = None, window: int = 2 * TILE, mlp_ratio: int = 4,
                backend: str = "auto") -> HybridLM:
    """A HybridLM with one block per letter of ``pattern``: "P" Phalanx (heads of ``head_dim``, ``kv_heads``
    state heads), "S" sliding-window attention (``window`` tokens), "A" full causal attention; attention
    layers have ``n_heads`` heads of d_model / n_heads."""
    if not isinstance(pattern, str) or not pattern or set(pattern) - set(LAYER_KINDS):
        kinds = ", ".join(f"{letter} = {kind}" for letter, kind in LAYER_KINDS.items())
        raise ValueError(f"build_model: pattern must be a non-empty string of the letters {kinds}; got {pattern!r}")
    validate.positive_int("build_model", "vocab_size", vocab_size)
    make = {
        "P": lambda: Phalanx(d_model, head_dim, kv_heads, backend=backend),
        "S": lambda: SlidingWindowAttention(d_model, n_heads, window),
        "A": lambda: CausalSelfAttention(d_model, n_heads),
    }
    return HybridLM(vocab_size, d_model, [make[letter]() for letter in pattern], pattern, mlp_ratio)

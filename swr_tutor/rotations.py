"""Rotations of 3-dim chunks, for chapter 9: positions as rotations in SO(3) and the determinant logits.

A head vector of D dims is cut into D // 3 chunks of 3 dims (dims 3c, 3c+1, 3c+2), as in
``swr_tutor.simplicial.chunk_determinants``; the D % 3 dims after the last chunk are left alone.

    skew(axis)                  Ω with Ω v = axis × v (a generator of rotations about axis)
    rotation(axis, angle)       exp(angle Ω(axis / |axis|)): the rotation by angle about axis
    position_rotations(p, Ω)    R_t = exp(t Ω) for every position t in p: (N, 3, 3); R_(s+t) = R_s R_t
    rotate_chunks(x, R)         every chunk of every token of x (B, T, H, D) rotated by its token's R_t
    random_rotation(generator)  a random element of SO(3)
"""
import torch

from . import validate


def skew(axis: torch.Tensor) -> torch.Tensor:
    """(3, 3) skew-symmetric Ω with Ω v = axis × v, for an axis (3,)."""
    axis = torch.as_tensor(axis)
    if axis.shape != (3,):
        raise ValueError(f"skew: axis must have shape (3,), got {tuple(axis.shape)}")
    x, y, z = axis.unbind()
    zero = torch.zeros_like(x)
    return torch.stack([torch.stack([zero, -z, y]), torch.stack([z, zero, -x]), torch.stack([-y, x, zero])])


def rotation(axis: torch.Tensor, angle: float) -> torch.Tensor:
    """(3, 3) rotation by ``angle`` (radians, right-hand rule) about ``axis`` (3,), by the matrix exponential."""
    axis = torch.as_tensor(axis)
    norm = torch.linalg.vector_norm(axis)
    if norm == 0:
        raise ValueError("rotation: the axis must not be the zero vector")
    return torch.linalg.matrix_exp(angle * skew(axis / norm))


def position_rotations(positions, generator: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) R_t = exp(t Ω) for the N ``positions`` t and a skew-symmetric ``generator`` Ω (3, 3).

    R_0 = I and R_(s+t) = R_s R_t: shifting every position by s multiplies every rotation by the same R_s.
    """
    generator = torch.as_tensor(generator)
    if generator.shape != (3, 3):
        raise ValueError(f"position_rotations: generator must have shape (3, 3), got {tuple(generator.shape)}")
    if not torch.allclose(generator, -generator.T):
        raise ValueError("position_rotations: the generator must be skew-symmetric (Ω^T = -Ω), or exp(tΩ) is not "
                         "a rotation")
    positions = torch.as_tensor(positions, dtype=generator.dtype, device=generator.device)
    if positions.dim() != 1:
        raise ValueError(f"position_rotations: positions must be 1-D, got shape {tuple(positions.shape)}")
    return torch.linalg.matrix_exp(positions[:, None, None] * generator)


def rotate_chunks(x: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """x (B, T, H, D) with every 3-dim chunk of token t multiplied by rotations[t] ((T, 3, 3)), or by one common
    rotation ((3, 3)); the D % 3 dims after the last chunk unchanged."""
    fn = "rotate_chunks"
    x = validate.tensor(fn, "x", x, dims=4, finite=False)
    B, T, H, D = x.shape
    if rotations.shape == (3, 3):
        rotations = rotations.expand(T, 3, 3)
    if rotations.shape != (T, 3, 3):
        raise ValueError(f"{fn}: rotations must have shape (T, 3, 3) = ({T}, 3, 3) or (3, 3), got "
                         f"{tuple(rotations.shape)}")
    chunked = 3 * (D // 3)
    chunks = x[..., :chunked].unflatten(-1, (-1, 3))                        # (B, T, H, C, 3)
    turned = torch.einsum("tmn,bthcn->bthcm", rotations.to(x.dtype), chunks)
    return torch.cat([turned.flatten(-2), x[..., chunked:]], dim=-1)


def random_rotation(generator: torch.Generator | None = None, dtype=torch.float64) -> torch.Tensor:
    """A random R in SO(3): the QR factor of a Gaussian matrix, signs fixed so that det R = +1."""
    Q, R = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=dtype))
    Q = Q * torch.sign(torch.diagonal(R))
    return Q if torch.linalg.det(Q) > 0 else -Q

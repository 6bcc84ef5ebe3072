"""Sparsemax against a brute-force Euclidean projection onto the simplex (every candidate support),
its exact zeros, and its hand-written gradient against autograd's numerical check and the Jacobian
I − 1 1ᵀ / |S| on the support."""
import itertools

import pytest
import torch
from torch.func import vmap

from algorithms.components.sparsemax import sparsemax


def _project_brute_force(z: torch.Tensor) -> torch.Tensor:
    """argmin_{p in simplex} ||p - z||² by trying every support S: p_S = z_S - τ with τ making it sum
    to 1; the feasible candidate (p_S > 0) nearest to z is the projection."""
    n, best, best_dist = z.numel(), None, float("inf")
    for size in range(1, n + 1):
        for support in itertools.combinations(range(n), size):
            idx = torch.tensor(support)
            tau = (z[idx].sum() - 1) / size
            p = torch.zeros_like(z)
            p[idx] = z[idx] - tau
            if (p[idx] < 0).any():
                continue
            dist = ((p - z) ** 2).sum().item()
            if dist < best_dist:
                best, best_dist = p, dist
    return best


@pytest.mark.parametrize("seed", range(20))
def test_sparsemax_is_the_euclidean_projection_onto_the_simplex(seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(6, generator=g, dtype=torch.float64) * (0.3 + seed / 5)
    p = sparsemax(z)
    assert torch.allclose(p, _project_brute_force(z), atol=1e-12)
    assert p.sum().item() == pytest.approx(1.0) and (p >= 0).all()


def test_sparsemax_has_exact_zeros_and_matches_known_values():
    p = sparsemax(torch.tensor([[3.0, 1.0, 0.0], [0.9, 0.8, 0.1], [1.0, 1.0, 1.0]]))
    assert p[0].tolist() == [1.0, 0.0, 0.0]                     # a clear winner takes all
    assert torch.allclose(p[1], torch.tensor([0.55, 0.45, 0.0]))
    assert torch.allclose(p[2], torch.full((3,), 1 / 3))
    assert (p == 0).sum() == 3


def test_sparsemax_along_another_dim_and_under_vmap():
    z = torch.randn(4, 5, 3)
    assert torch.allclose(sparsemax(z, dim=1), sparsemax(z.transpose(1, 2)).transpose(1, 2))
    assert torch.allclose(vmap(sparsemax)(z), sparsemax(z))


def test_sparsemax_gradient_passes_gradcheck_and_is_the_support_jacobian():
    z = torch.tensor([0.9, 0.6, -0.2, 0.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: sparsemax(x), (z,))
    jac = torch.autograd.functional.jacobian(sparsemax, z.detach())
    s = (sparsemax(z.detach()) > 0).double()
    expected = torch.diag(s) - torch.outer(s, s) / s.sum()
    assert torch.allclose(jac, expected)
    assert s.tolist() == [1.0, 1.0, 0.0, 1.0]                    # a sparse support: the test is not softmax-like

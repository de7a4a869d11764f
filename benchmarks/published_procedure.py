"""A faithful re-implementation of the published Thurstonian fitting procedure (the benchmark's competitor).

Utility Engineering fits a mean and a log-variance per option with Adam (learning rate
0.01) for a fixed 1,000 full-batch epochs, with no convergence check. The loss is the
binary cross-entropy between each pair's observed preference share and the model's
probability, every pair weighing the same however many answers it holds; the means are
standardised inside the loss (and the variances divided by the same squared scale), and the
standardised values are returned.

Choices this re-implementation makes where the description leaves room: means start at
``0.01 * N(0, 1)`` (seeded), log-variances at 0; float32 tensors (torch's default dtype);
``torch.nn.functional.binary_cross_entropy`` (which clamps the log at -100).

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr


def fit_published(a_idx: np.ndarray, b_idx: np.ndarray, p_a: np.ndarray, n_options: int, *, epochs: int = 1000,
                  lr: float = 0.01, seed: int = 0, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fit means and variances as the published procedure does.

    Parameters
    ----------
    a_idx, b_idx : ndarray of int
        Option indices (0..n_options-1) of each pair.
    p_a : ndarray of float
        Observed share of answers preferring A, per pair.
    n_options : int
    epochs, lr : int, float
        Adam steps (full batch) and learning rate.
    seed : int
    threads : int, optional
        torch intra-op threads (left unchanged when None).

    Returns
    -------
    mu, variance : ndarray
        Standardised means (mean 0, sd 1; torch's unbiased sd, as in the loss) and variances
        on the same scale.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    mu = (0.01 * torch.randn(n_options, generator=gen)).requires_grad_(True)
    log_var = torch.zeros(n_options, requires_grad=True)
    a = torch.as_tensor(np.asarray(a_idx), dtype=torch.long)
    b = torch.as_tensor(np.asarray(b_idx), dtype=torch.long)
    target = torch.as_tensor(np.asarray(p_a), dtype=torch.float32)
    normal = torch.distributions.Normal(0.0, 1.0)
    opt = torch.optim.Adam([mu, log_var], lr=lr)

    def standardised():
        scale = mu.std()
        return (mu - mu.mean()) / scale, torch.exp(log_var) / scale**2

    for _ in range(epochs):
        opt.zero_grad()
        m, v = standardised()
        prob = normal.cdf((m[a] - m[b]) / torch.sqrt(v[a] + v[b]))
        loss = torch.nn.functional.binary_cross_entropy(prob, target)
        loss.backward()
        opt.step()
    with torch.no_grad():
        m, v = standardised()
    return m.numpy().astype(float), v.numpy().astype(float)


def predict_published(mu: np.ndarray, variance: np.ndarray, a_idx: np.ndarray, b_idx: np.ndarray) -> np.ndarray:
    """P(A preferred) under fitted means and variances."""
    return ndtr((mu[a_idx] - mu[b_idx]) / np.sqrt(variance[a_idx] + variance[b_idx]))

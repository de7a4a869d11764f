"""Re-implementation of the published Thurstonian fitting procedure (the benchmark's competitor).

Utility Engineering [1]_ gives every option a normally distributed utility, fits a mean and a
log-variance per option with Adam (learning rate 0.01) for a fixed 1,000 full-batch steps
with no convergence check, and minimises the binary cross-entropy between each pair's
observed preference share and the model's probability; every pair weighs the same however
many answers it holds. The means are standardised inside the loss (the variances divided by
the same squared scale) and the standardised values are what the procedure returns.

This module is written from that description; it shares no code with the authors' release.
It needs torch only when :func:`fit_published` is called.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

#: Small constant of the published procedure: added to the standard deviation of the means
#: (and once more in the variance scale) and to each pair's summed variance.
EPS = 1e-5


def fit_published(a_idx: np.ndarray, b_idx: np.ndarray, p_a: np.ndarray, n_options: int, *, epochs: int = 1000,
                  lr: float = 0.01, seed: int = 0, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Fit per-option means and variances the way Utility Engineering does.

    Model: option :math:`i` has utility :math:`U_i \sim N(\mu_i, \sigma_i^2)` and

    .. math:: P(A \succ B) = \Phi\!\left(\frac{\mu_A - \mu_B}{\sqrt{\sigma_A^2 + \sigma_B^2}}\right).

    Each step standardises the raw means, :math:`\tilde\mu = (\mu - \bar\mu) / s` with
    :math:`s` the (unbiased, torch default) standard deviation of :math:`\mu`, scales the
    variances by the same factor, :math:`\tilde\sigma^2 = \sigma^2 / s^2`, computes the pair
    probabilities from the standardised values and takes the mean binary cross-entropy
    against ``p_a`` (``torch.nn.functional.binary_cross_entropy``, which clamps each log at
    -100). One full-batch ``torch.optim.Adam`` step follows; exactly ``epochs`` steps are
    taken, with no convergence test.

    Choices, following the authors' released code where the paper leaves room:

    * initialisation: raw means and raw log-variances both ``0.01 * N(0, 1)``, drawn (means
      first) from a private ``torch.Generator`` seeded with ``seed`` (the release uses the
      unseeded global generator; the global generator is left untouched here);
    * stabilisers: :data:`EPS` is added to :math:`s` (the variances are divided by
      :math:`(s + 2\,\mathrm{EPS})^2`, as released) and to each pair's summed variance;
    * :math:`\Phi` is evaluated as ``0.5 * (1 + erf(z / sqrt 2))``, the formula of
      ``torch.distributions.Normal.cdf`` that the release calls;
    * float32 throughout (torch's default dtype), as the release runs;
    * if the loss becomes NaN, the loop stops before stepping, as the release does; no
      progress is printed.

    Parameters
    ----------
    a_idx, b_idx : ndarray of int, shape (n_pairs,)
        Option indices, in ``0 .. n_options - 1``, of the two sides of each pair.
    p_a : ndarray of float, shape (n_pairs,)
        Observed share of answers that preferred option ``a_idx`` (one row per pair, both
        presentation orders pooled, as the paper aggregates).
    n_options : int
        Number of options (at least 2).
    epochs : int, default 1000
        Number of full-batch Adam steps.
    lr : float, default 0.01
        Adam learning rate.
    seed : int, default 0
        Seed of the initialisation.
    threads : int, optional
        torch intra-op threads for this call (restored afterwards); torch's setting is used
        when None.

    Returns
    -------
    mu : ndarray of float, shape (n_options,)
        Standardised means (mean 0, standard deviation just under 1 because of :data:`EPS`).
    variance : ndarray of float, shape (n_options,)
        Variances on the same scale as ``mu``.

    See Also
    --------
    predict_published : pair probabilities from the returned values.

    References
    ----------
    .. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
       Value Systems in AIs. arXiv:2502.08640.
    """
    a_idx, b_idx, p_a = (np.asarray(x).ravel() for x in (a_idx, b_idx, p_a))
    if not (a_idx.shape == b_idx.shape == p_a.shape):
        raise ValueError("a_idx, b_idx and p_a must have the same length")
    if n_options < 2:
        raise ValueError("need at least two options")
    if a_idx.size and (min(a_idx.min(), b_idx.min()) < 0 or max(a_idx.max(), b_idx.max()) >= n_options):
        raise ValueError("option indices must lie in 0 .. n_options - 1")
    if np.any(~np.isfinite(p_a)) or np.any((p_a < 0) | (p_a > 1)):
        raise ValueError("p_a must lie in [0, 1]")

    import torch
    import torch.nn.functional as F

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        dtype = torch.float32
        gen = torch.Generator().manual_seed(seed)
        raw_mu = torch.nn.Parameter(0.01 * torch.randn(n_options, generator=gen, dtype=dtype))
        raw_log_var = torch.nn.Parameter(0.01 * torch.randn(n_options, generator=gen, dtype=dtype))
        a = torch.as_tensor(a_idx, dtype=torch.long)
        b = torch.as_tensor(b_idx, dtype=torch.long)
        target = torch.as_tensor(p_a, dtype=dtype)
        inv_sqrt2 = 0.5 ** 0.5
        optimiser = torch.optim.Adam([raw_mu, raw_log_var], lr=lr)

        def standardised() -> tuple[torch.Tensor, torch.Tensor]:
            scale = raw_mu.std() + EPS
            mu = (raw_mu - raw_mu.mean()) / scale
            var = torch.exp(raw_log_var) / (scale + EPS) ** 2
            return mu, var

        for _ in range(epochs):
            optimiser.zero_grad()
            mu, var = standardised()
            z = (mu[a] - mu[b]) / torch.sqrt(var[a] + var[b] + EPS)
            prob = 0.5 * (1.0 + torch.erf(z * inv_sqrt2))
            loss = F.binary_cross_entropy(prob, target)
            if torch.isnan(loss):
                break
            loss.backward()
            optimiser.step()

        with torch.no_grad():
            mu, var = standardised()
        return mu.numpy().astype(np.float64), var.numpy().astype(np.float64)
    finally:
        if threads is not None:
            torch.set_num_threads(previous_threads)


def predict_published(mu: np.ndarray, variance: np.ndarray, a_idx: np.ndarray, b_idx: np.ndarray) -> np.ndarray:
    r"""Probability that option ``a_idx`` is preferred to ``b_idx`` under a published-procedure fit.

    Parameters
    ----------
    mu, variance : ndarray of float, shape (n_options,)
        As returned by :func:`fit_published`.
    a_idx, b_idx : ndarray of int, shape (n_pairs,)
        Option indices of each pair.

    Returns
    -------
    ndarray of float, shape (n_pairs,)
        :math:`\Phi((\mu_A - \mu_B) / \sqrt{\sigma_A^2 + \sigma_B^2})`, computed in float64
        with ``scipy.special.ndtr`` (no :data:`EPS` in the denominator).

    References
    ----------
    .. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
       Value Systems in AIs. arXiv:2502.08640.
    """
    mu, variance = np.asarray(mu, dtype=float), np.asarray(variance, dtype=float)
    a_idx, b_idx = np.asarray(a_idx), np.asarray(b_idx)
    return ndtr((mu[a_idx] - mu[b_idx]) / np.sqrt(variance[a_idx] + variance[b_idx]))

"""LDA topic models by batch variational Bayes (numpy / scipy), with SageMaker's LDA hyperparameters.

SageMaker's LDA is a spectral method (tensor decomposition by alternating
least squares); this one fits the same model (Blei, Ng & Jordan's LDA:
``num_topics`` topics over a ``feature_dim``-word vocabulary, a symmetric
Dirichlet prior on each document's topic mixture) by batch variational
Bayes (Hoffman et al.; the update scikit-learn's
``LatentDirichletAllocation(learning_method="batch")`` makes, written
vectorized over the sparse count matrix). The parameters map as follows:

* ``alpha0``: the sum of the document-topic Dirichlet's elements, so each
  element is ``alpha0 / num_topics`` (scikit-learn's ``doc_topic_prior``);
  the topic-word prior is ``1 / num_topics`` (scikit-learn's default);
* ``max_restarts``: the number of random initializations; each runs a few
  EM iterations and the one with the best training per-word
  log-likelihood is carried on (restarts look for a better local optimum,
  as the spectral method's ALS restarts do);
* ``max_iterations``: the most EM iterations of that run;
* ``tol``: it stops once the training per-word log-likelihood changes by
  less than ``tol`` (relative) between iterations;
* ``mini_batch_size``: documents per E-step block (bounds memory; the
  result does not depend on it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import psi

from containers.lda.hyperparameters import LDAConfig

SCREEN_ITERATIONS = 10  # EM iterations each restart runs before the best is kept
DOC_ITERATIONS = 100  # E-step updates per document at most (scikit-learn's max_doc_update_iter)
DOC_TOL = 1e-3  # E-step stops when gamma moves less than this (scikit-learn's mean_change_tol)
_TINY = 1e-100


@dataclass(frozen=True)
class LDAModel:
    """Variational topic-word parameters ``lam`` (``K x V``) and the document-topic prior ``alpha``."""

    lam: np.ndarray
    alpha: np.ndarray

    @property
    def beta(self) -> np.ndarray:
        """Each topic's word distribution (rows sum to 1)."""
        return self.lam / self.lam.sum(1, keepdims=True)

    @property
    def exp_elog_beta(self) -> np.ndarray:
        """``exp(E[log beta])`` under the variational Dirichlet."""
        return np.exp(psi(self.lam) - psi(self.lam.sum(1))[:, None])


def _exp_elog(gamma: np.ndarray) -> np.ndarray:
    return np.exp(psi(gamma) - psi(gamma.sum(1))[:, None])


def e_step(X: sp.csr_matrix, model: LDAModel, gamma: np.ndarray | None = None, block: int = 5000,
           want_stats: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Each document's variational topic parameters ``gamma``; with ``want_stats`` the topic-word statistics."""
    eb = model.exp_elog_beta
    n, k = X.shape[0], len(model.alpha)
    gamma = np.full((n, k), 1.0) if gamma is None else gamma.copy()
    stats = np.zeros_like(eb) if want_stats else None
    for start in range(0, n, block):
        Xb = X[start:start + block]
        rows = np.repeat(np.arange(Xb.shape[0]), np.diff(Xb.indptr))
        cols, counts = Xb.indices, Xb.data.astype(np.float64)
        g = gamma[start:start + block]
        eb_words = np.ascontiguousarray(eb[:, cols].T)  # (nonzeros, topics), gathered once per block
        ratio = sp.csr_matrix((counts, cols, Xb.indptr), shape=Xb.shape)
        et = _exp_elog(g)
        for _ in range(DOC_ITERATIONS):
            # phi's normalizers, at the nonzero counts only: sum_k exp(E log theta_dk) exp(E log beta_kw)
            ratio.data = counts / ((et[rows] * eb_words).sum(1) + _TINY)
            new = model.alpha + et * (ratio @ eb.T)
            change = np.abs(new - g).mean(1).max() if len(g) else 0.0
            g, et = new, _exp_elog(new)
            if change < DOC_TOL:
                break
        gamma[start:start + block] = g
        if stats is not None:
            ratio.data = counts / ((et[rows] * eb_words).sum(1) + _TINY)
            stats += (ratio.T @ et).T
    if stats is not None:
        stats *= eb
    return gamma, stats


def topic_mixture(gamma: np.ndarray) -> np.ndarray:
    """Normalized topic mixtures (rows sum to 1)."""
    return gamma / gamma.sum(1, keepdims=True)


def per_word_log_likelihood(X: sp.csr_matrix, model: LDAModel, gamma: np.ndarray) -> float:
    """``sum x_dw log(theta_d . beta_w) / sum x_dw``: the average log-probability of each word."""
    theta, beta = topic_mixture(gamma), model.beta
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    p = np.einsum("ij,ji->i", theta[rows], beta[:, X.indices])
    total = float(X.data.sum())
    return float((X.data * np.log(p + _TINY)).sum() / total) if total else 0.0


def _em(X: sp.csr_matrix, model: LDAModel, eta: float, block: int) -> tuple[LDAModel, np.ndarray]:
    # The E-step starts afresh every iteration, as scikit-learn's does: warm-started document
    # parameters pass the E-step's convergence test at once and leave EM stuck near its start.
    gamma, stats = e_step(X, model, None, block, want_stats=True)
    assert stats is not None
    return LDAModel(lam=eta + stats, alpha=model.alpha), gamma


def fit(X: sp.csr_matrix, cfg: LDAConfig, seed: int = 0,
        on_iteration: Callable[[int, float], None] | None = None) -> LDAModel:
    """Fit ``cfg.num_topics`` topics to the word counts ``X`` (documents x vocabulary)."""
    X = sp.csr_matrix(X, dtype=np.float64)
    k, eta = cfg.num_topics, 1.0 / cfg.num_topics
    alpha = np.full(k, cfg.alpha0 / k)
    rng = np.random.default_rng(seed)
    best: tuple[float, LDAModel, np.ndarray] | None = None
    screen = min(SCREEN_ITERATIONS, cfg.max_iterations)
    for _ in range(cfg.max_restarts):
        model = LDAModel(lam=rng.gamma(100.0, 0.01, (k, X.shape[1])), alpha=alpha)
        for _ in range(screen):
            model, gamma = _em(X, model, eta, cfg.mini_batch_size)
        score = per_word_log_likelihood(X, model, gamma)
        if best is None or score > best[0]:
            best = (score, model, gamma)
    assert best is not None
    previous, model, gamma = best
    for iteration in range(screen + 1, cfg.max_iterations + 1):
        model, gamma = _em(X, model, eta, cfg.mini_batch_size)
        score = per_word_log_likelihood(X, model, gamma)
        if on_iteration:
            on_iteration(iteration, score)
        if abs(score - previous) <= cfg.tol * abs(previous):
            break
        previous = score
    return model


def infer(X: sp.csr_matrix | np.ndarray, model: LDAModel, block: int = 5000) -> np.ndarray:
    """The topic mixture of each document of ``X``."""
    gamma, _ = e_step(sp.csr_matrix(X, dtype=np.float64), model, block=block)
    return topic_mixture(gamma)

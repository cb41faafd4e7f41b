"""LDA beside scikit-learn's LatentDirichletAllocation (batch variational Bayes, the same update).

2,000 generated documents (100 words each) over a 500-word vocabulary from
10 sparse topics; 500 held out. Both fit with ``alpha0 = 1`` (a document
prior of 0.1 per topic) and 100 EM iterations at most (ours: 1 restart,
``tol`` 1e-6). Quality is the held-out per-word log-likelihood (``test:pwll``)
of each model's topics, computed the same way for both.
"""

from __future__ import annotations

import io
import json
import time

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import LatentDirichletAllocation

from bench.builtin_cases import Case
from containers.lda import algorithm, serve
from containers.lda.hyperparameters import parse_hyperparameters

DOCS, VOCAB, TOPICS, WORDS = 2_000, 500, 10, 100


def _corpus(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    topics = rng.dirichlet(np.full(VOCAB, 0.05), TOPICS)
    theta = rng.dirichlet(np.full(TOPICS, 0.1), DOCS + 500)
    return np.stack([rng.multinomial(WORDS, t @ topics) for t in theta]).astype(np.float32)


def _pwll(model: algorithm.LDAModel, X: np.ndarray) -> float:
    Xs = sp.csr_matrix(X, dtype=np.float64)
    return algorithm.per_word_log_likelihood(Xs, model, algorithm.e_step(Xs, model)[0])


def run_case() -> Case:
    """Time and score our LDA and scikit-learn's on the same split."""
    X = _corpus(0)
    train, test = X[:DOCS], X[DOCS:]
    cfg = parse_hyperparameters({"num_topics": str(TOPICS), "feature_dim": str(VOCAB), "mini_batch_size": str(DOCS),
                                 "alpha0": "1.0", "max_restarts": "1", "max_iterations": "100", "tol": "1e-6"})
    t0 = time.perf_counter()
    model = algorithm.fit(sp.csr_matrix(train), cfg)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sk = LatentDirichletAllocation(TOPICS, doc_topic_prior=1.0 / TOPICS, learning_method="batch", max_iter=100,
                                   random_state=0).fit(sp.csr_matrix(train))
    baseline_train_s = time.perf_counter() - t0
    batch = test
    buf = io.StringIO()
    np.savetxt(buf, batch, delimiter=",", fmt="%d")
    body = buf.getvalue().encode()
    t0 = time.perf_counter()
    answer = serve.output_fn(serve.predict_fn(serve.input_fn(body, serve.CSV), model), serve.JSON)
    infer_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sk.transform(sp.csr_matrix(batch))
    baseline_infer_s = time.perf_counter() - t0
    assert len(json.loads(answer)["predictions"]) == len(batch)
    sk_model = algorithm.LDAModel(lam=sk.components_, alpha=np.full(TOPICS, 1.0 / TOPICS))
    return Case(algorithm="LDA", dataset=f"{DOCS:,} docs x {VOCAB} words, {TOPICS} topics; 500 held out",
                train_s=train_s, baseline_train_s=baseline_train_s, baseline="sklearn LDA batch, 100 iterations",
                infer_s=infer_s, baseline_infer_s=baseline_infer_s, metric="held-out pwll",
                quality=_pwll(model, test), sklearn="LatentDirichletAllocation", sklearn_quality=_pwll(sk_model, test))

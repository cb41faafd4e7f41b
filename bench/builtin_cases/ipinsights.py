"""IP Insights beside a plain torch embedding model and a scikit-learn matrix factorisation.

Generated users each draw addresses from their own /16. Quality is the AUC
of telling held-out (user, address) pairs from the algorithm's generated
negatives (one random, one shuffled per pair). The torch baseline is the
same dot-product of an entity embedding and a /24-prefix embedding, trained
with ``torch.optim.Adam`` on the same negatives (no prefix hierarchy); the
scikit-learn one factors the user x /16 co-occurrence counts with
TruncatedSVD and scores a pair by its factors' dot product.
"""

from __future__ import annotations

import io
import time

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.decomposition import TruncatedSVD

from bench.builtin_cases import Case
from containers.ipinsights import algorithm, encoding, serve
from containers.ipinsights.hyperparameters import parse_hyperparameters

USERS, DIM = 500, 16
NETS = np.random.default_rng(42).integers(1, 223, size=(USERS, 2))
HPS = {"num_entity_vectors": str(2 * USERS), "vector_dim": str(DIM), "epochs": "5", "mini_batch_size": "500",
       "learning_rate": "0.01"}


def _pairs(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, USERS, n)
    return [f"user{u}" for u in users], [f"{NETS[u, 0]}.{NETS[u, 1]}.{rng.integers(0, 8)}.{rng.integers(1, 255)}"
                                         for u in users]


def _torch_baseline(ents: np.ndarray, ips: np.ndarray, cfg: object) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    entity, prefix = torch.nn.Embedding(2 * USERS, DIM), torch.nn.Embedding(1 << 16, DIM)
    opt = torch.optim.Adam([*entity.parameters(), *prefix.parameters()], lr=0.01)
    for _ in range(5):
        for start in range(0, len(ents), 500):
            e, ip = ents[start:start + 500], ips[start:start + 500]
            ne, nip = algorithm.negatives(e, ip, cfg, rng)
            all_e, all_ip = np.concatenate([e, ne]), np.concatenate([ip, nip])
            key = torch.from_numpy(encoding.prefix_buckets(all_ip, 1 << 16)[:, 14])  # the /24
            logits = (entity(torch.from_numpy(all_e)) * prefix(key)).sum(1)
            labels = torch.cat([torch.ones(len(e)), torch.zeros(len(ne))])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return entity, prefix


def run_case() -> Case:
    """Time and score the three models on the same split."""
    torch.set_num_threads(1)
    cfg = parse_hyperparameters(HPS)
    users, addrs = _pairs(20_000, 0)
    ents = encoding.entity_buckets(users, cfg.num_entity_vectors)
    ips = encoding.ip_array(map(encoding.parse_ip, addrs))
    t0 = time.perf_counter()
    net = algorithm.fit(ents, ips, cfg)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    entity, prefix = _torch_baseline(ents, ips, cfg)
    baseline_train_s = time.perf_counter() - t0
    v_users, v_addrs = _pairs(1000, 1)
    v_ents = encoding.entity_buckets(v_users, cfg.num_entity_vectors)
    v_ips = encoding.ip_array(map(encoding.parse_ip, v_addrs))
    neg_e, neg_ip = algorithm.negatives(v_ents, v_ips, cfg, np.random.default_rng(1))
    body = "".join(f"{u}, {a}\n" for u, a in zip(v_users, v_addrs)).encode()
    t0 = time.perf_counter()
    serve.output_fn(serve.predict_fn(serve.input_fn(body, serve.CSV), net), serve.JSON)
    infer_s = time.perf_counter() - t0
    with torch.no_grad():
        t0 = time.perf_counter()
        (entity(torch.from_numpy(v_ents)) * prefix(torch.from_numpy(
            encoding.prefix_buckets(v_ips, 1 << 16)[:, 14]))).sum(1)
        baseline_infer_s = time.perf_counter() - t0
    pos, _, _ = algorithm.embed(net, v_ents, v_ips)
    neg, _, _ = algorithm.embed(net, neg_e, neg_ip)
    # scikit-learn: TruncatedSVD of the user x /16 counts
    net16 = lambda ip: (ip[:, 12].astype(np.int64) << 8) | ip[:, 13]  # noqa: E731
    counts = sp.csr_matrix((np.ones(len(ents)), (ents, net16(ips))), shape=(cfg.num_entity_vectors, 1 << 16))
    svd = TruncatedSVD(DIM, random_state=0).fit(counts)
    left, right = svd.transform(counts), svd.components_.T
    sk = lambda e, ip: (left[e] * right[net16(ip)]).sum(1)  # noqa: E731
    return Case(algorithm="IP Insights", dataset=f"20,000 (user, IPv4) pairs, {USERS} users; 1,000 held out",
                train_s=train_s, baseline_train_s=baseline_train_s, baseline="torch Adam, entity x /24 embeddings",
                infer_s=infer_s, baseline_infer_s=baseline_infer_s, metric="AUC",
                quality=algorithm.auc(pos, neg), sklearn="TruncatedSVD of user x /16 counts",
                sklearn_quality=algorithm.auc(sk(v_ents, v_ips), sk(neg_e, neg_ip)))

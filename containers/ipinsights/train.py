"""Training for the built-in IP Insights algorithm.

Reads ``train`` (required) and ``validation`` (optional) as headerless CSV
of ``entity, ip address`` pairs, trains the embeddings, prints SageMaker's
metric lines (the training log loss each epoch; on a validation channel the
AUC of telling its pairs from generated negatives,
``#quality_metric: host=algo-1, validation discriminator_auc <score>=...``)
and writes ``model_algo-1`` (the network's weights and shape, a PyTorch
file) to the model directory.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import TYPE_CHECKING

import numpy as np

from containers.common.environment import Environment
from containers.ipinsights.data import Pairs, read_pairs
from containers.ipinsights.encoding import entity_buckets
from containers.ipinsights.hyperparameters import IPInsightsConfig, parse_hyperparameters

if TYPE_CHECKING:
    from containers.ipinsights.algorithm import IPInsightsNet

MODEL_FILE = "model_algo-1"
# Batch size x vector_dim from which training uses every CPU.
PARALLEL_WORK = 4_000_000


def validation_auc(pairs: Pairs, cfg: IPInsightsConfig, net: IPInsightsNet) -> float:
    """AUC of the validation pairs against one random and one shuffled negative each (fixed seed)."""
    from containers.ipinsights import algorithm

    entities = entity_buckets(pairs.entities, cfg.num_entity_vectors)
    negative_cfg = dataclasses.replace(cfg, random_negative_sampling_rate=1, shuffled_negative_sampling_rate=1)
    neg_e, neg_ip = algorithm.negatives(entities, pairs.ips, negative_cfg, np.random.default_rng(1))
    positive, _, _ = algorithm.embed(net, entities, pairs.ips)
    negative, _, _ = algorithm.embed(net, neg_e, neg_ip)
    return algorithm.auc(positive, negative)


def train(env: Environment) -> None:
    """Train IP Insights for the job described by ``env``."""
    cfg = parse_hyperparameters(env.hyperparameters)
    pairs = read_pairs(env, "train")
    validation = read_pairs(env, "validation") if "validation" in env.channels else None
    # torch only once the hyperparameters and data are known good: bad input fails in a second, not ten.
    import torch

    from containers.ipinsights import algorithm

    # Intra-op threads only pay off on large batches; on small ones their spin-waits cost more than they
    # save, badly so when the machine's cores are shared with other jobs.
    torch.set_num_threads(env.num_cpus if cfg.mini_batch_size * cfg.vector_dim >= PARALLEL_WORK else 1)
    entities = entity_buckets(pairs.entities, cfg.num_entity_vectors)
    host = env.current_host
    started = [time.monotonic()]

    def on_batch(step: int, _loss: float) -> None:
        if step % cfg.batch_metrics_publish_interval == 0:
            elapsed = time.monotonic() - started[0]
            rate = cfg.batch_metrics_publish_interval * min(cfg.mini_batch_size, len(entities)) / max(elapsed, 1e-9)
            print(f"#throughput_metric: host={host}, train throughput={rate:.1f} records/second", flush=True)
            started[0] = time.monotonic()

    def on_epoch(epoch: int, loss: float) -> None:
        print(f"#progress_metric: host={host}, completed {100.0 * epoch / cfg.epochs:.1f} % of epochs", flush=True)
        print(f"#quality_metric: host={host}, train binary_classification_cross_entropy <loss>={loss:.6g}",
              flush=True)

    net = algorithm.fit(entities, pairs.ips, cfg, on_epoch=on_epoch, on_batch=on_batch)
    if validation is not None:
        value = validation_auc(validation, cfg, net)
        # SageMaker's tuning objective is validation:discriminator_auc; "auc" is the short name.
        print(f"#quality_metric: host={host}, validation discriminator_auc <score>={value:.6g}", flush=True)
        print(f"#quality_metric: host={host}, validation auc <score>={value:.6g}", flush=True)
    env.model_dir.mkdir(parents=True, exist_ok=True)
    shape = {"num_entity_vectors": cfg.num_entity_vectors, "vector_dim": cfg.vector_dim,
             "prefix_buckets": net.prefix_buckets, "layers": cfg.num_ip_encoder_layers}
    torch.save({"shape": shape, "state": net.state_dict()}, env.model_dir / MODEL_FILE)
    (env.model_dir / "hyperparameters.json").write_text(json.dumps(shape))
    print(f"Saved the model to {env.model_dir / MODEL_FILE}.", flush=True)

"""DistributedDataParallel over gloo across SageMaker hosts: one process per host.

Each host trains on its own shard of the data; DDP averages gradients across
hosts every step, so every host ends with the same weights.
"""

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def load(directory: str) -> tuple[torch.Tensor, torch.Tensor]:
    files = sorted(Path(directory).glob("*.csv"))
    data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files]).astype(np.float32)
    return torch.from_numpy(data[:, 1:]), torch.from_numpy(data[:, :1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--fail-on", type=str, default="")
    args = parser.parse_args()
    hosts = json.loads(os.environ["SM_HOSTS"])
    current = os.environ["SM_CURRENT_HOST"]
    if args.fail_on == current:
        raise RuntimeError(f"{current} failed on purpose")
    rank = hosts.index(current)
    dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=len(hosts))
    X, y = load(os.environ["SM_CHANNEL_TRAIN"])
    print(f"rank {rank} of {dist.get_world_size()} on {current}: {len(X)} rows", flush=True)
    torch.manual_seed(0)
    model = DistributedDataParallel(torch.nn.Sequential(torch.nn.Linear(X.shape[1], 16), torch.nn.ReLU(),
                                                        torch.nn.Linear(16, 1)))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    started, samples = time.perf_counter(), 0
    for epoch in range(args.epochs):
        for i in range(0, len(X), args.batch_size):
            xb, yb = X[i:i + args.batch_size], y[i:i + args.batch_size]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(xb), yb)
            loss.backward()  # gradients are allreduced across hosts here
            opt.step()
            samples += len(xb)
        print(f"rank {rank} epoch {epoch} loss {loss.item():.5f}", flush=True)
    elapsed = time.perf_counter() - started
    total = torch.tensor([float(samples)])
    dist.all_reduce(total)
    if rank == 0:
        print(f"throughput {total.item() / elapsed:.1f} samples/s over {len(hosts)} host(s)", flush=True)
    state = model.module.state_dict()
    digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in state.values())).hexdigest()
    print(f"rank {rank} final weights sha256 {digest}", flush=True)
    torch.save(state, os.path.join(os.environ["SM_MODEL_DIR"], "model.pt"))
    dist.destroy_process_group()

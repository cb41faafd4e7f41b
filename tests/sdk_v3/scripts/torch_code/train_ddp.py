"""A user's DistributedDataParallel script for v3's Torchrun driver: torchrun sets RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT; gloo on CPU. Each host trains on its own shard; DDP averages the gradients,
so every host ends with the same weights.
"""

import argparse
import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
files = sorted(Path(os.environ["SM_CHANNEL_TRAIN"]).glob("*.csv"))
data = torch.from_numpy(np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files]).astype(np.float32))
X, y = data[:, 1:], data[:, :1]
print(f"rank {rank} of {world} on {os.environ['SM_CURRENT_HOST']} "
      f"(master {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}): {len(X)} rows", flush=True)
torch.manual_seed(0)
model = DistributedDataParallel(torch.nn.Linear(X.shape[1], 1))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for epoch in range(args.epochs):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(X), y)
    loss.backward()  # gradients are allreduced across the hosts here
    opt.step()
state = model.module.state_dict()
digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in state.values())).hexdigest()
print(f"rank {rank} final weights sha256 {digest}", flush=True)
if rank == 0:
    torch.save(state, Path(os.environ["SM_MODEL_DIR"]) / "model.pt")
dist.destroy_process_group()

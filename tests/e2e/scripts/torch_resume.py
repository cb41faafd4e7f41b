"""A PyTorch script that checkpoints every epoch and resumes, as SageMaker's spot examples do."""

import argparse
import os
import time

import torch

CHECKPOINT = "/opt/ml/checkpoints/checkpoint.pt"

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--epoch-seconds", type=float, default=0.5)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    start = 0
    if os.path.exists(CHECKPOINT):
        state = torch.load(CHECKPOINT)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = state["epoch"] + 1
        print(f"resumed from checkpoint at epoch {start}", flush=True)
    X = torch.randn(256, 4, generator=torch.Generator().manual_seed(1))
    y = X @ torch.tensor([[1.0], [-1.0], [0.5], [2.0]])
    for epoch in range(start, args.epochs):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X), y)
        loss.backward()
        opt.step()
        tmp = CHECKPOINT + ".tmp"
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch}, tmp)
        os.replace(tmp, CHECKPOINT)
        print(f"epoch {epoch} loss {loss.item():.6f}", flush=True)
        time.sleep(args.epoch_seconds)
    torch.save(model.state_dict(), os.path.join(os.environ["SM_MODEL_DIR"], "model.pt"))
    print(f"weights {model.weight.detach().flatten().tolist()}", flush=True)

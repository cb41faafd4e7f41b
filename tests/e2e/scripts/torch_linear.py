"""A PyTorch script-mode script: trains a linear model, and serves it through model_fn."""

import argparse
import os

import torch


def build():
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def model_fn(model_dir):
    """An eager model: the toolkit's default model_fn would need TorchScript."""
    model = build()
    model.load_state_dict(torch.load(os.path.join(model_dir, "weights.pt"), weights_only=True))
    return model


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=50)
    args = parser.parse_args()
    torch.manual_seed(0)
    X = torch.randn(256, 4, generator=torch.Generator().manual_seed(1))
    y = X @ torch.tensor([[1.0], [-1.0], [0.5], [2.0]])
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(args.epochs):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X), y)
        loss.backward()
        opt.step()
    print(f"final loss {loss.item():.5f}", flush=True)
    torch.save(model.state_dict(), os.path.join(os.environ["SM_MODEL_DIR"], "weights.pt"))

"""A user's scikit-learn training script for a tuning job: a ridge regression, its validation error printed
as a line the tuner's metric definition reads."""

import argparse
import glob
import os

import joblib
import numpy as np
from sklearn.linear_model import Ridge

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=1.0)
args, _ = parser.parse_known_args()


def load(channel: str) -> np.ndarray:
    files = sorted(glob.glob(os.path.join(os.environ[f"SM_CHANNEL_{channel.upper()}"], "*.csv")))
    return np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])


train, validation = load("train"), load("validation")
model = Ridge(alpha=args.alpha).fit(train[:, 1:], train[:, 0])
mse = float(np.mean((model.predict(validation[:, 1:]) - validation[:, 0]) ** 2))
joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
print(f"alpha={args.alpha} validation-mse: {mse:.6f}", flush=True)

"""A scikit-learn training script as a SageMaker user writes it (script mode)."""

import argparse
import json
import os
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

from helpers import load_csv  # a module next to the entry point: the code directory is importable

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--fail-with", type=str, default="")
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
    args = parser.parse_args()
    if args.fail_with:
        raise ValueError(args.fail_with)

    X, y = load_csv(Path(args.train))
    model = LogisticRegression(C=args.C, max_iter=args.max_iter).fit(X, y)
    accuracy = float((model.predict(X) == y).mean())
    print(f"train_accuracy={accuracy:.4f}")
    env = {k: os.environ[k] for k in ("SM_CURRENT_HOST", "SM_HOSTS", "SM_CHANNELS", "SM_NUM_CPUS", "SM_NUM_GPUS",
                                       "SM_HPS", "SM_USER_ARGS", "SM_OUTPUT_DATA_DIR", "SM_HP_C")}
    env["training_env_keys"] = sorted(json.loads(os.environ["SM_TRAINING_ENV"]))
    env["opt_ml_model_exists"] = Path("/opt/ml/model").is_dir()
    print("SMENV " + json.dumps(env))
    joblib.dump(model, Path(args.model_dir) / "model.joblib")
    # A script that hardcodes the literal path, as many do.
    Path("/opt/ml/model/literal.txt").write_text("written at /opt/ml/model")


def model_fn(model_dir):
    """Inference: load the model (the SageMaker scikit-learn serving hook)."""
    return joblib.load(os.path.join(model_dir, "model.joblib"))

"""XGBoost in framework mode: a training script and its model_fn (the framework has no default)."""

import argparse
import os

import numpy as np
import xgboost as xgb


def model_fn(model_dir):
    booster = xgb.Booster()
    booster.load_model(os.path.join(model_dir, "my-model.json"))
    return booster


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--num_round", type=int, default=10)
    args = parser.parse_args()
    data = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "part-0.csv"), delimiter=",", ndmin=2)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(data[:, 1:], data[:, 0]),
                        args.num_round)
    booster.save_model(os.path.join(os.environ["SM_MODEL_DIR"], "my-model.json"))

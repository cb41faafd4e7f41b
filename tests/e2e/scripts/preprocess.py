"""A SageMaker Processing script with the literal /opt/ml/processing paths, as users write them."""

import argparse
import glob
import json
import os

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--test-size", type=float, default=0.25)
    args = parser.parse_args()
    files = sorted(glob.glob("/opt/ml/processing/input/*.csv"))
    frame = pd.concat([pd.read_csv(f, header=None) for f in files])
    train, test = train_test_split(frame, test_size=args.test_size, random_state=0)
    os.makedirs("/opt/ml/processing/train", exist_ok=True)
    train.to_csv("/opt/ml/processing/train/train.csv", header=False, index=False)
    test.to_csv("/opt/ml/processing/test/test.csv", header=False, index=False)
    with open("/opt/ml/config/resourceconfig.json") as fh:
        hosts = json.load(fh)
    print(f"split {len(frame)} rows into {len(train)} train and {len(test)} test on {hosts['current_host']}")
    print("ENV_MARK=" + os.environ.get("MARK", ""))

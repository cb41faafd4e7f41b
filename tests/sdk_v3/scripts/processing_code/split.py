"""A processing script as a user writes it: split a CSV dataset into train and test with scikit-learn."""

import argparse
import glob
import json
import os

import pandas as pd
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--test-size", type=float, default=0.25)
args = parser.parse_args()

frames = [pd.read_csv(f, header=None) for f in sorted(glob.glob("/opt/ml/processing/input/*.csv"))]
data = pd.concat(frames)
train, test = train_test_split(data, test_size=args.test_size, random_state=0)
os.makedirs("/opt/ml/processing/train", exist_ok=True)
os.makedirs("/opt/ml/processing/test", exist_ok=True)
train.to_csv("/opt/ml/processing/train/train.csv", header=False, index=False)
test.to_csv("/opt/ml/processing/test/test.csv", header=False, index=False)
with open("/opt/ml/config/resourceconfig.json") as f:
    host = json.load(f)["current_host"]
print(f"split {len(data)} rows into {len(train)} train and {len(test)} test on {host}, "
      f"MARK={os.environ.get('MARK')}", flush=True)

"""Score the trained XGBoost model on the test rows; write evaluation.json (the pipeline's property file)."""

import glob
import json
import os
import tarfile

import numpy as np
import pandas as pd
import xgboost as xgb

with tarfile.open(glob.glob("/opt/ml/processing/model/*.tar.gz")[0]) as tar:
    tar.extractall("/tmp/model")
booster = xgb.Booster(model_file="/tmp/model/xgboost-model")
test = pd.concat([pd.read_csv(f, header=None) for f in glob.glob("/opt/ml/processing/test/*.csv")]).to_numpy()
mse = float(np.mean((booster.predict(xgb.DMatrix(test[:, 1:])) - test[:, 0]) ** 2))
os.makedirs("/opt/ml/processing/evaluation", exist_ok=True)
with open("/opt/ml/processing/evaluation/evaluation.json", "w") as fh:
    json.dump({"regression_metrics": {"mse": {"value": mse}}}, fh)
print(f"mse {mse}")

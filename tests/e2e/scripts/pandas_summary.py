"""A scikit-learn script-mode script that reads its channel with pandas, as SageMaker's image allows."""

import json
import os
import sys

import pandas as pd
from sklearn.linear_model import LogisticRegression

if __name__ == "__main__":
    df = pd.read_csv(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "part-0.csv"), header=None)
    model = LogisticRegression().fit(df.iloc[:, 1:], df.iloc[:, 0])
    report = {"rows": len(df), "columns": df.shape[1], "positive": int(df[0].sum()),
              "accuracy": round(float(model.score(df.iloc[:, 1:], df.iloc[:, 0])), 3),
              "pandas": pd.__version__, "prefix": sys.prefix}
    print("SUMMARY " + json.dumps(report), flush=True)

"""Split the input rows 80/20 into train and test (a pipeline's first step)."""

import glob
import os

import pandas as pd

frame = pd.concat([pd.read_csv(f, header=None) for f in sorted(glob.glob("/opt/ml/processing/input/*.csv"))])
cut = int(len(frame) * 0.8)
for name, part in (("train", frame[:cut]), ("test", frame[cut:])):
    os.makedirs(f"/opt/ml/processing/{name}", exist_ok=True)
    part.to_csv(f"/opt/ml/processing/{name}/{name}.csv", header=False, index=False)
print(f"split {len(frame)} rows")

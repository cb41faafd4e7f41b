"""Write one marker file naming the step (the parallel branches' work)."""

import os
import sys

os.makedirs("/opt/ml/processing/out", exist_ok=True)
with open(f"/opt/ml/processing/out/{sys.argv[1]}.txt", "w") as fh:
    fh.write(sys.argv[1])

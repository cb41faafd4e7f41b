"""A user's scikit-learn training script, run by v3's drivers (entry_script) or by a command.

It trains a linear model on the ``train`` channel, keeps a checkpoint, and prints one ``SEEN <json>``
line with what it found: the v3 drivers' ``SM_*`` environment, its arguments, the interpreter and the
package its requirements file installed.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import Ridge

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=1.0)
parser.add_argument("--label", type=str, default="")
args, unknown = parser.parse_known_args()

try:  # installed from the job's requirements file, if it has one
    import hw_v3_probe

    probe = hw_v3_probe.VERSION
except ImportError:
    probe = None

train = Path(os.environ["SM_CHANNEL_TRAIN"])
data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in sorted(train.glob("*.csv"))])
model = Ridge(alpha=args.alpha).fit(data[:, 1:], data[:, 0])
joblib.dump(model, Path(os.environ["SM_MODEL_DIR"]) / "model.joblib")

checkpoints = Path("/opt/ml/checkpoints")
restored = sorted(p.name for p in checkpoints.iterdir())
(checkpoints / "state.json").write_text(json.dumps({"rows": len(data)}))

names = ("SM_CURRENT_HOST", "SM_HOSTS", "SM_CHANNEL_TRAIN", "SM_MODEL_DIR", "SM_SOURCE_DIR", "SM_ENTRY_SCRIPT",
         "SM_HPS", "SM_MASTER_ADDR", "SM_NUM_CPUS", "TRAINING_JOB_NAME")
print("SEEN " + json.dumps({
    "env": {n: os.environ.get(n) for n in names}, "argv": sys.argv[1:], "alpha": args.alpha, "label": args.label,
    "cwd": os.getcwd(), "python": sys.executable, "prefix": sys.prefix, "probe": probe, "restored": restored,
    "rows": len(data), "coef": model.coef_.round(3).tolist()}), flush=True)

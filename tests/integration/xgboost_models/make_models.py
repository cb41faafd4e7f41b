"""Writes the XGBoost model files of this folder with the XGBoost it runs under.

The files are what SageMaker's XGBoost container leaves in ``model.tar.gz``: its algorithm
mode and most framework-mode scripts pickle the Booster (``xgboost-model``, images 0.90-1 to
1.2-2), later ones ``save_model`` it (the binary format without a ``.json`` / ``.ubj`` name,
else JSON or UBJSON). They were made once, each under its version in a throwaway virtualenv
on Python 3.11 (numpy 1.23.5, scipy 1.9.3):

    python3.11 -m venv /tmp/xgb-0.90 && /tmp/xgb-0.90/bin/pip install xgboost==0.90 numpy==1.23.5 scipy==1.9.3
    /tmp/xgb-0.90/bin/python tests/integration/xgboost_models/make_models.py tests/integration/xgboost_models

and the same with xgboost 1.2.1, 1.3.3 and 1.7.6. Each run writes ``<format>-<version>`` files and
``<version>.json``: the rows the model was asked about and what that XGBoost predicted.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import xgboost as xgb

ROWS = [[0.5, -1.0, 0.25, 2.0], [-1.5, 0.75, 1.0, -0.5], [0.0, 0.0, 0.0, 0.0]]


def main(out: Path) -> None:
    rng = np.random.RandomState(7)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] - X[:, 1] > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "eta": 0.5}, xgb.DMatrix(X, label=y), 3)
    version = xgb.__version__
    (out / f"pickle-{version}").write_bytes(pickle.dumps(booster, protocol=2))
    booster.save_model(str(out / f"binary-{version}"))  # no .json/.ubj name: XGBoost 1.x's binary format
    major, minor = (int(p) for p in version.split(".")[:2])
    if (major, minor) >= (1, 0):
        booster.save_model(str(out / f"json-{version}.json"))
    if (major, minor) >= (1, 6):
        booster.save_model(str(out / f"ubj-{version}.ubj"))
    predictions = booster.predict(xgb.DMatrix(np.array(ROWS))).tolist()
    (out / f"{version}.json").write_text(json.dumps({"rows": ROWS, "predictions": predictions}, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

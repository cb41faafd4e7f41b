"""Inference hooks that override the scikit-learn container's defaults (used for serving only).

``input_fn`` reads a JSON document of its own shape, ``output_fn`` answers
one of its own, and ``predict_fn`` refuses missing values by raising (the
endpoint answers 500, which the caller sees as ``ModelError``).
"""

import json
import os

import joblib
import numpy as np


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(request_body, request_content_type):
    if request_content_type != "application/json":
        raise ValueError(f"this model reads application/json, not {request_content_type}")
    document = json.loads(request_body)  # text: the toolkit decodes JSON bodies before input_fn
    return np.asarray(document["customers"], dtype=float)


def predict_fn(input_data, model):
    if np.isnan(input_data).any():
        raise ValueError("predict_fn refuses rows with missing values")
    return model.predict_proba(input_data)[:, 1]


def output_fn(prediction, accept):
    answer = {"churn_probability": [round(float(p), 6) for p in prediction], "served_by": "custom output_fn"}
    return json.dumps(answer), "application/json"

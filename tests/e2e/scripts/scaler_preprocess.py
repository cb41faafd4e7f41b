"""The first container of a serial inference pipeline: a fitted StandardScaler, served by the scikit-learn container.

``input_fn`` and ``output_fn`` are the container's defaults (CSV, JSON or NPY
in; out in ``Accept``, or ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` when the
platform sends none, as it does to every container but the last of a
pipeline); ``predict_fn`` scales the features instead of predicting.
"""

import os

import joblib


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(input_data, model):
    return model.transform(input_data)

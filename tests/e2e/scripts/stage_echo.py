"""Serving hooks that show which environment a container runs with (served by the scikit-learn container).

The request is a JSON list; the answer is that list with this container's
``STAGE`` variable appended, so a serial pipeline of such containers
answers the stages it passed through, in order.
"""

import json
import os


def model_fn(model_dir):
    return os.environ.get("STAGE", "unset")


def input_fn(request_body, request_content_type):
    return json.loads(request_body)


def predict_fn(input_data, model):
    return input_data + [model]


def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"

"""A processing script that fails after leaving a message for ExitMessage."""

import os

os.makedirs("/opt/ml/output", exist_ok=True)
with open("/opt/ml/output/message", "w") as fh:
    fh.write("no rows to process")
raise RuntimeError("processing went wrong on purpose")

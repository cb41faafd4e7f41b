"""Run until stopped (the step a test stops)."""

import time

print("waiting to be stopped", flush=True)
time.sleep(600)

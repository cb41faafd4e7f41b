"""Reports which input files this instance received (ShardedByS3Key) into a Continuous output."""

import json
import os
import sys
import time

with open("/opt/ml/config/resourceconfig.json") as fh:
    host = json.load(fh)["current_host"]
names = sorted(os.listdir("/opt/ml/processing/input/shards"))
os.makedirs("/opt/ml/processing/report", exist_ok=True)
with open(f"/opt/ml/processing/report/{host}.json", "w") as fh:
    json.dump({"host": host, "files": names, "argv": sys.argv[1:]}, fh)
print(f"{host} got {names}", flush=True)
time.sleep(2.5)  # long enough for a Continuous sync to see the report before the end

"""A host that reports what it sees of earlier hosts, then leaves traces for later ones.

``python -m tests.warm_images.host <name>``: prints one JSON line (its process, working directory and its
files, environment, the preloaded module's state, an unseeded random number), then changes all of those.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from tests.warm_images import state

name = sys.argv[1]
print(json.dumps({
    "name": name, "pid": os.getpid(), "cwd": os.getcwd(), "files": sorted(os.listdir(".")),
    "env": dict(os.environ), "seen": list(state.SEEN), "argv": sys.argv, "path0": sys.path[0],
    "main": sorted(k for k in vars(sys.modules["__main__"]) if not k.startswith("__")),
    "random": int(np.random.randint(1 << 62)),
}))
# Traces a later host must not see.
state.SEEN.append(name)
os.environ["LEFT_BEHIND"] = name
Path("left-behind").write_text(name)
sys.exit(int(os.environ.get("EXIT_CODE", "0")))

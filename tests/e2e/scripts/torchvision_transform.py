"""A PyTorch script-mode script that needs torchvision, as SageMaker's PyTorch image ships it."""

import json
import os
import sys

import torch
import torchvision
from PIL import Image
from torchvision import transforms

if __name__ == "__main__":
    # An 8x8 grey image through the transforms a vision script starts with.
    pipeline = transforms.Compose([transforms.Resize(4), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    x = pipeline(Image.new("L", (8, 8), color=191))
    report = {"shape": list(x.shape), "value": round(float(x[0, 0, 0]), 4), "torch": torch.__version__,
              "torchvision": torchvision.__version__, "prefix": sys.prefix}
    print("TRANSFORMED " + json.dumps(report), flush=True)
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "report.json"), "w") as fh:
        json.dump(report, fh)

"""Built-in algorithms: platform overhead and model quality, beside baselines.

For every module in ``bench/builtin_cases/`` (one per algorithm), prints
training and single-batch inference time through Headwater's algorithm code
beside the underlying library used directly (the ratio is the overhead of
our code), and held-out quality beside scikit-learn's closest estimator.
Everything runs in this process on generated data; nothing is asserted.

Run: ``.venv/bin/python bench/builtins.py [--only kmeans,pca]``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import builtin_cases  # noqa: E402
from bench.builtin_cases import Case  # noqa: E402


def _cases(only: set[str]) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules(builtin_cases.__path__))
    return [n for n in names if not only or n in only]


def _row(case: Case) -> str:
    return (f"| {case.algorithm} | {case.dataset} | {case.train_s:.3f} | {case.baseline_train_s:.3f} "
            f"({case.baseline}) | {case.train_s / case.baseline_train_s:.2f}x | {case.infer_s * 1e3:.1f} | "
            f"{case.baseline_infer_s * 1e3:.1f} | {case.infer_s / case.baseline_infer_s:.2f}x | "
            f"{case.metric} {case.quality:.4f} | {case.sklearn} {case.sklearn_quality:.4f} |")


def main() -> int:
    """Run the selected cases and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated case modules (default: all)")
    args = parser.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    print("| algorithm | data | train s | baseline train s | ratio | infer ms | baseline infer ms | ratio "
          "| held-out quality | scikit-learn |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in _cases(only):
        module = importlib.import_module(f"bench.builtin_cases.{name}")
        print(_row(module.run_case()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

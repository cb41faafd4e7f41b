"""Helpers imported by the entry point (shipped in the same source_dir)."""

from pathlib import Path

import numpy as np


def load_csv(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """Label in the first column, no header."""
    data = np.vstack([np.loadtxt(p, delimiter=",", ndmin=2) for p in sorted(directory.glob("*.csv"))])
    return data[:, 1:], data[:, 0]

"""Shared test fixtures: paths to the shared real datasets, tiny seeded generators."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MURAL_SHARED", ROOT.parent / "shared"))


def shared_dataset(name: str) -> Path:
    """Path of a dataset in ``../shared/datasets``; skipped locally when absent, an error in CI."""
    path = SHARED / "datasets" / name
    if not path.exists():
        if os.environ.get("CI"):
            raise FileNotFoundError(
                f"{path} is missing: CI needs ../shared/datasets beside the clone"
            )
        pytest.skip(f"{path} not present (set MURAL_SHARED)")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)

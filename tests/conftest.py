"""Shared fixtures: where the published vectors live, and project paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT.parent / "shared" / "vectors"


def vector_path(*parts: str) -> Path:
    """Path of a published vector file; a missing file is a test failure, never a skip."""
    path = VECTORS.joinpath(*parts)
    if not path.is_file():
        pytest.fail(f"published vector file missing: {path}")
    return path


def load_vector_json(*parts: str) -> Any:
    return json.loads(vector_path(*parts).read_text())


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    if not VECTORS.is_dir():
        pytest.fail(f"../shared/vectors not found at {VECTORS}")
    return VECTORS

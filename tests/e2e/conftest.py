"""Shared fixtures for weft's black-box tests: they start the real binary."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def weft_bin():
    path = os.environ.get("WEFT_BIN", str(ROOT / "build" / "weft"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"weft binary not found at {path}: run 'make' first")
    return path

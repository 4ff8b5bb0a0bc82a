"""Shared fixtures: the project root and the evaluation data beside it (../shared)."""

import contextlib
import signal
from pathlib import Path

import pytest
import torch

import ndic  # noqa: F401  (installs the import hooks before a test module imports compressai)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a skip that names it (a user's fresh clone has no ../shared)."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"needs the evaluation data at {path} (present in CI; absent on a fresh clone)")
    return path


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    """../shared/reference, or a skip that names it."""
    path = SHARED / "reference"
    if not path.is_dir():
        pytest.skip(f"needs the reference fixtures at {path} (present in CI; absent on a fresh clone)")
    return path


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same RNG state."""
    torch.manual_seed(0)


@contextlib.contextmanager
def deadline(seconds: int):
    """TimeoutError when the block runs longer (a hang fails the test instead of stalling the suite)."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

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


@pytest.fixture
def one_thread():
    """One torch thread for the test (bitwise comparisons need a fixed thread count), restored after it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def spawn_pair(worker, cases: dict, folders: dict, attempts: int = 3) -> None:
    """Run ``worker(rank, 2, runs)`` in two spawned processes, as torchrun sets them up (env://, a fresh port per
    case). A rendezvous that fails for the machine's sake (a port taken between choosing and binding it, a
    peer closing the connection under load) is retried with new ports; any other error fails at once."""
    import socket

    import torch.multiprocessing as mp

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    transient = ("connectFullMesh", "Connection closed by peer", "Address already in use", "Connection reset")
    for attempt in range(attempts):
        runs = [(free_port(), str(folders[case]), overrides) for case, overrides in cases.items()]
        try:
            mp.start_processes(worker, args=(2, runs), nprocs=2, start_method="spawn")
            return
        except mp.ProcessRaisedException as error:
            if attempt == attempts - 1 or not any(text in str(error) for text in transient):
                raise

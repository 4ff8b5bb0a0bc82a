"""Coding images for evaluation: one image's real round trip with its rate estimates, many across threads.

:func:`code_image` compresses an image (timed), decodes the bytes (timed, with the side image for
distributed models) and estimates the rate from the likelihoods of the symbols ``compress`` coded
(``model.compress_with_likelihoods``, :mod:`ndic.models.base`; the model families take them from the latents
``compress`` computes anyway, so the estimate costs no extra forward pass):

.. code-block:: none

    x ──► compress_with_likelihoods ──► strings ──► bytes ─────────────────────► bpp
              │ (timed: encoding)          └──► decompress(strings, side) ──► x_hat   (timed: decoding)
              └──► likelihoods p ──► -sum(log2 p) ──────────────────────────► bpp_estimated
                                 └─► sum(min(-log2 p, 16)) ─────────────────► bpp_estimated_capped

``bpp_estimated_capped`` charges a symbol at most the 16 bits a 16-bit rANS table can charge a symbol within
its range (``entropy_coder_precision``); ``bpp_estimated`` charges up to ~30 (the likelihood floor 1e-9), so
for latents far out in a model's tails (broken or unusual weights) the plain estimate overstates the rate
the coder would spend. Values outside a table's range also cost escape bits, which neither estimate counts.

:func:`in_order` runs a per-image function over images in worker threads and yields the results in image
order. Model inference (PyTorch releases the GIL) overlaps with entropy coding, which CompressAI's rANS
coder runs holding the GIL, so coding is serialised across workers and the gain is the overlap;
:func:`sharing_threads` splits PyTorch's intra-op threads between the workers meanwhile.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import torch

from . import metrics
from .models.base import compress_then_forward

CODER_PRECISION = 16  # bits of CompressAI's rANS tables (EntropyModel.entropy_coder_precision)
MAX_DEFAULT_WORKERS = 4  # beyond it the GIL-bound coding leaves nothing to overlap
T = TypeVar("T")


def flatten_strings(strings) -> list[bytes]:
    """Every byte string of a ``compress`` result (``strings[latent][batch]``, nested lists)."""
    if isinstance(strings, (bytes, bytearray)):
        return [bytes(strings)]
    return [s for item in strings for s in flatten_strings(item)]


@dataclass
class CodedImage:
    """One image's round trip: its real size, the decoded image and the two rate estimates."""

    bytes: int
    x_hat: torch.Tensor  # (1, 3, H, W), clamped to [0, 1]
    encoding_time: float
    decoding_time: float
    bpp_estimated: float
    bpp_estimated_capped: float


def capped_bpp(likelihoods: list[torch.Tensor], height: int, width: int, cap: float = CODER_PRECISION) -> float:
    """-sum(log2 p) / pixels over every likelihood, each symbol charged at most ``cap`` bits."""
    return sum(float((-torch.log2(p.double())).clamp(max=cap).sum()) for p in likelihoods) / (height * width)


def code_image(model, x: torch.Tensor, side: torch.Tensor | None = None) -> CodedImage:
    """Compress ``x`` (1, 3, H, W), decode it (with ``side`` for distributed models) and estimate the rate.

    The model must be in eval mode, with its coder tables built. Times are wall times with CUDA synchronised
    around each step; the estimate is computed after both, outside them.
    """
    device = x.device
    distributed = bool(getattr(model, "distributed", False))
    estimate = getattr(model, "compress_with_likelihoods", None)  # a model outside ImageCodec: the forward
    with torch.no_grad():  # grad mode is per thread: the workers' own
        _sync(device)
        start = time.perf_counter()
        encoded, likelihoods = estimate(x, side) if estimate else compress_then_forward(model, x, side)
        _sync(device)
        encoded_at = time.perf_counter()
        decoded = model.decompress(encoded["strings"], encoded["shape"], **({"side": side} if distributed else {}))
        _sync(device)
        decoded_at = time.perf_counter()
        found = likelihoods()
    return CodedImage(
        bytes=sum(len(s) for s in flatten_strings(encoded["strings"])),
        x_hat=decoded["x_hat"].clamp(0, 1),
        encoding_time=encoded_at - start,
        decoding_time=decoded_at - encoded_at,
        bpp_estimated=metrics.bpp_from_likelihoods(found, *x.shape[-2:]),
        bpp_estimated_capped=capped_bpp(found, *x.shape[-2:]),
    )


def default_workers() -> int:
    """Workers for PyTorch's intra-op thread budget: one per thread, at most :data:`MAX_DEFAULT_WORKERS`
    (``OMP_NUM_THREADS=1`` keeps one worker)."""
    return max(1, min(torch.get_num_threads(), MAX_DEFAULT_WORKERS))


@contextlib.contextmanager
def sharing_threads(workers: int) -> Iterator[None]:
    """PyTorch's intra-op threads split between ``workers`` for the duration (restored afterwards)."""
    budget = torch.get_num_threads()
    torch.set_num_threads(max(1, budget // max(workers, 1)))
    try:
        yield
    finally:
        torch.set_num_threads(budget)


def in_order(function: Callable[[int], T], count: int, workers: int = 1) -> Iterator[T]:
    """``function(0)``, ..., ``function(count - 1)``, computed by ``workers`` threads, yielded in order.

    At most ``2 * workers`` results are computed ahead of the one yielded, which bounds memory; an exception
    of ``function`` is raised at its index, after the remaining work is cancelled.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers == 1 or count <= 1:
        yield from map(function, range(count))
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="ndic-coding")
    pending: deque = deque()
    try:
        for index in range(count):
            pending.append(pool.submit(function, index))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)

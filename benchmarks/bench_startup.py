"""Start-up time of the command line and of CompressAI, against ``python -c "import torch"``.

Every measurement is a fresh interpreter of this environment (``sys.executable``), wall time from
start to exit; the commands are run in turns (one run of each, ``--runs`` times) so that load on a
shared machine spreads over all of them. Reported: median, min and max, and the median's ratio to
the median of ``import torch`` measured in the same run.

- ``import torch``: the peer (the least any command that touches a model pays);
- ``ndic --help``: ``python -m ndic --help``;
- ``import compressai``: with the environment's import hooks (``ndic/_compat.py``), and with
  ``NDIC_IMPORT_HOOKS=torchvision`` (CompressAI imports as published: torch_geometric, pandas,
  scipy.stats, torchvision; only the torchvision fix stays, without which it cannot import here);
- ``ndic compress``: one 128x256 crop of Kodak's kodim01 (scikit-image's astronaut when Kodak is
  absent) with a bls17 checkpoint (untrained weights, seed 0: speed does not depend on training),
  with both settings too.

``coding`` is the same compression in an already started process (model loaded, median of the runs),
and the goal is ``ndic compress <= 2 x import torch + coding``, written to the ``.meta.json``.

    .venv/bin/python benchmarks/bench_startup.py                 # -> benchmarks/results/startup.csv
    .venv/bin/python benchmarks/bench_startup.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KODAK_IMAGE = ROOT.parent / "shared" / "data" / "kodak" / "kodim01.png"
EAGER = {"NDIC_IMPORT_HOOKS": "torchvision"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (median; default 7)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "startup.csv", help="CSV")
    return parser.parse_args(argv)


def prepare(folder: Path) -> tuple[Path, Path, str]:
    """A 128x256 PNG crop and a bls17 checkpoint in ``folder``; returns (image, checkpoint, image source)."""
    import numpy as np
    import torch
    from PIL import Image

    from ndic import models
    from ndic.io import atomic_torch_save

    if KODAK_IMAGE.is_file():
        where = os.path.relpath(KODAK_IMAGE, ROOT)  # as a path from the checkout, not this machine's
        pixels, source = np.asarray(Image.open(KODAK_IMAGE).convert("RGB")), f"{where} [0:128, 0:256]"
    else:
        from skimage import data

        pixels, source = data.astronaut(), "scikit-image astronaut [0:128, 0:256] (Kodak not found)"
    image = folder / "crop.png"
    Image.fromarray(pixels[:128, :256]).save(image)
    torch.manual_seed(0)
    model = models.build("bls17")
    model.update(force=True)
    checkpoint = folder / "bls17.pt"
    atomic_torch_save({"model": "bls17", "model_config": model.config, "state_dict": model.state_dict()}, checkpoint)
    return image, checkpoint, source


def coding_seconds(image: Path, checkpoint: Path, out: Path, runs: int) -> list[float]:
    """The compression itself, in this process: model loaded once, one warm-up run."""
    from ndic.bitstream import compress_file
    from ndic.checkpoint import model_for_coding

    model = model_for_coding(checkpoint=checkpoint)  # as `ndic compress` loads it
    compress_file(model, image, out)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        compress_file(model, image, out)
        times.append(time.perf_counter() - start)
    return times


def wall_seconds(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    base = {k: v for k, v in os.environ.items() if k != "NDIC_IMPORT_HOOKS"}
    with tempfile.TemporaryDirectory() as tmp:
        image, checkpoint, source = prepare(Path(tmp))
        out = Path(tmp) / "crop.ndic"
        compress = ["-m", "ndic", "compress", "--checkpoint", str(checkpoint), str(image), "-o", str(out)]
        commands = {  # name -> (interpreter arguments, extra environment)
            "import torch": (["-c", "import torch"], {}),
            "ndic --help": (["-m", "ndic", "--help"], {}),
            "import compressai": (["-c", "import compressai"], {}),
            "import compressai (as published)": (["-c", "import compressai"], EAGER),
            "ndic compress": (compress, {}),
            "ndic compress (compressai as published)": (compress, EAGER),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (arguments, extra) in commands.items():
                times[name].append(wall_seconds(arguments, {**base, **extra}))
        coding = coding_seconds(image, checkpoint, out, args.runs)

    peer = statistics.median(times["import torch"])
    rows = []
    for name, (arguments, extra) in commands.items():
        median = statistics.median(times[name])
        shown = " ".join(["python", *arguments]).replace(tmp, "$TMP")
        rows.append(
            {
                "measurement": name,
                "command": " ".join([*(f"{k}={v}" for k, v in extra.items()), shown]),
                "runs": args.runs,
                "median_s": round(median, 4),
                "min_s": round(min(times[name]), 4),
                "max_s": round(max(times[name]), 4),
                "ratio_to_import_torch": round(median / peer, 3),
            }
        )
    coding_median = statistics.median(coding)
    rows.append(
        {
            "measurement": "coding",
            "command": "ndic.bitstream.compress_file in a started process (model loaded)",
            "runs": args.runs,
            "median_s": round(coding_median, 4),
            "min_s": round(min(coding), 4),
            "max_s": round(max(coding), 4),
            "ratio_to_import_torch": round(coding_median / peer, 3),
        }
    )

    import pandas as pd

    from ndic.io import atomic_write_text
    from ndic.results import provenance

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, pd.DataFrame(rows).to_csv(index=False))
    budget = 2 * peer + coding_median
    compress_median = statistics.median(times["ndic compress"])
    meta = provenance(profile="startup", command=" ".join(["benchmarks/bench_startup.py", *(argv or sys.argv[1:])]))
    meta.update(
        {
            "image": source,
            "model": "bls17 (num_filters 192), untrained weights of seed 0, entropy tables updated",
            "omp_num_threads": os.environ["OMP_NUM_THREADS"],
            "pythondontwritebytecode": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
            "load_average_after": list(os.getloadavg()),
            "goal": "ndic compress <= 2 x import torch + coding",
            "goal_budget_s": round(budget, 4),
            "ndic_compress_s": round(compress_median, 4),
            "goal_met": compress_median <= budget,
        }
    )
    atomic_write_text(args.out.with_suffix(".meta.json"), json.dumps(meta, indent=2) + "\n")
    for row in rows:
        print(
            f"{row['measurement']:42s} {row['median_s']:7.3f} s  [{row['min_s']:.3f}, {row['max_s']:.3f}]"
            f"  x{row['ratio_to_import_torch']:.2f} import torch"
        )
    print(
        f"goal: ndic compress {compress_median:.3f} s <= 2 x import torch + coding = {budget:.3f} s: {meta['goal_met']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

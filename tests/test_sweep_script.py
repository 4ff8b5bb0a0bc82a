"""ndic.codecs.runner.sweep with worker processes, called from a plain script without a ``__main__`` guard."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = """
import json

import numpy as np

from ndic.codecs import get, runner

rng = np.random.default_rng(0)
images = [(f"im{i}", rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) for i in range(3)]
found = {}
for workers in (2, 1):
    rows = runner.sweep(get("jpeg"), images, [20, 80], "random", workers=workers, cache=None, progress=False)
    found[workers] = [[row["image"], row["quality"], row["bytes"], row["psnr"]] for row in rows]
print(json.dumps(found))
"""


def test_a_plain_script_without_a_main_guard_sweeps_with_two_worker_processes(tmp_path):
    script = tmp_path / "sweep_jpeg.py"
    script.write_text(textwrap.dedent(SCRIPT))
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-W", "ignore::UserWarning", str(script)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["2"] == found["1"] and len(found["2"]) == 6  # every (image, quality), as one process codes them
    assert found["2"][0][:2] == ["im0", 20] and len({row[2] for row in found["2"]}) > 1

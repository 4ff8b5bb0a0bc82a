"""The README's commands, run in order on a fresh copy of the checkout, change no committed file.

The tracked files are copied into a temporary folder (beside a link to ``../shared``, where the README's
paths point) and committed there; every command of the README's ``bash`` blocks then runs from that folder,
as it is or as a cheap variant of itself (fewer images, codecs, steps or models: the same code and the same
output folders), or is skipped for a stated reason; afterwards ``git status`` must be empty: no tracked file
changed, no file written outside the git-ignored folders. Placeholders are filled as a user would: ``RUN``
with a run trained first (``train --profile quick --steps 2``), ``image.png`` with a photograph of the user's
own folder, ``my_ndic_cam_config.yaml`` with a small NDIC-CAM configuration.

Every command line of the README must be classified below, so that a new command cannot escape the check.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SHARED

BIN = Path(sys.executable).parent

# a command line of the README -> how this test runs it: None (as it is), a string (skipped: why), or a
# function (command words, context) -> the words of a cheap variant of it
SKIPPED = {
    "make book": "executes every notebook and builds the book (many minutes); `make book` is its own check",
    "make test": "runs this test suite itself",
    "papermill notebooks/X.ipynb": "a GPU job in the paper profile (X: any training/evaluation notebook)",
    "train --model stf": "STF at the paper's width on a CUDA device",
    "torchrun": "DistributedDataParallel over 4 GPUs",
    "sweep --profile cpu --run": "retrains a CPU-scale run (a quarter of an hour on 2 cores); "
    "tests/test_cpu_reproduction.py checks its commands, its refusals and the comparison",
}


def _readme_commands() -> list[str]:
    """Every command line of the README's bash blocks, comments removed, in order."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = [re.sub(r"\s+#.*$", "", line).strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _git(folder: Path, *args: str) -> str:
    quiet = ["-c", "user.name=readme test", "-c", "user.email=readme@test", "-c", "core.autocrlf=false"]
    return subprocess.run(["git", *quiet, *args], cwd=folder, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The tracked files (as they are now) in a fresh git repository, ``../shared`` beside it."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and the project's git checkout")
    base = tmp_path_factory.mktemp("readme")
    copy = base / "ndic-book"
    for name in _git(ROOT, "ls-files", "-z").split("\0"):
        source = ROOT / name
        if name and source.is_file():  # a file deleted in the working tree but still in the index: gone
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    if SHARED.is_dir():
        (base / "shared").symlink_to(SHARED)
    _git(copy, "init", "-q")
    _git(copy, "add", "-A")
    _git(copy, "commit", "-q", "-m", "fresh clone")
    return copy


class Context:
    """What later commands need: the run folder of the quick training, the user's own files."""

    def __init__(self, clone: Path, user: Path):
        self.clone, self.user, self.run = clone, user, None


def _run(words: list[str], ctx: Context, timeout: int = 600) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1", NDIC_CODEC_CACHE=str(ctx.user / "codec-cache"))
    if words[0] in ("python", "python3"):
        words = [sys.executable, *words[1:]]
    elif words[0].startswith(".venv/bin/"):
        words = [str(BIN / words[0].removeprefix(".venv/bin/")), *words[1:]]
    done = subprocess.run(words, cwd=ctx.clone, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{shlex.join(words)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _fill(words: list[str], ctx: Context) -> list[str]:
    """Placeholders as a user fills them: the quick run, a photograph of the user's own folder."""
    user_files = {"image.png", "image.ndic", "image_hat.png"}
    out = []
    for word in words:
        if "runs/RUN" in word:
            assert ctx.run is not None, "RUN is used before the quick training ran"
            word = word.replace("runs/RUN", ctx.run)
        out.append(str(ctx.user / word) if word in user_files else word)
    return [w for w in out if w not in ("[--side", "right.png]")]  # an optional flag of a distributed model


def _needs_shared(words: list[str]) -> None:
    if any("../shared" in word for word in words) and not SHARED.is_dir():
        pytest.skip(f"needs {SHARED} (the evaluation data beside the checkout)")


def _classify(line: str):
    """None: run as it is; a str: skipped, with the reason; a callable: the cheap variant's words."""
    for start, reason in SKIPPED.items():
        if start in line:
            return reason
    if line.startswith(("mkdir", "python -m ndic sweep", "python -m data_prep.kitti --help")):
        return None
    if " compress " in line or " decompress " in line:
        return lambda words, ctx: _fill(words, ctx)
    if "train --config my_ndic_cam_config.yaml" in line:
        return lambda words, ctx: [*words, "--steps", "2"]  # the file (written below) is the user's config
    if " evaluate " in line:
        return lambda words, ctx: [*_fill(words, ctx), "--limit", "1"]
    if " baselines " in line:  # JPEG (no external encoder) on 2 images; the folder is the README's default
        return lambda words, ctx: [*words[: words.index("--codecs") + 1], "jpeg", "--limit", "2", "--workers", "1"]
    if "bench_models.py" in line:
        return lambda words, ctx: [*words, "--models", "bls17", "--repeats", "1", "--warmup", "0"]
    if "check_reference.py" in line:
        return lambda words, ctx: [*words, "--models", "bls17", "--skip-params"]
    if "papermill notebooks/01_data.ipynb" in line:
        return None
    raise AssertionError(f"README command not classified by tests/test_readme_commands.py: {line}")


NDIC_CAM_CONFIG = """\
# keys of NDIC-CAM's configs/config.yaml
dataset_name: default
model: bls17
num_filters: 8
resize: [64, 128]
train_batch_size: 2
lambda: 0.01
distortion_loss: MSE
profile: quick
"""


@pytest.mark.slow
def test_the_readme_commands_change_no_committed_file(clone, tmp_path):
    ctx = Context(clone, tmp_path / "user")
    ctx.user.mkdir()
    (clone / "my_ndic_cam_config.yaml").write_text(NDIC_CAM_CONFIG)  # the user's file: removed below
    from ndic import data
    from ndic.evaluate import save_png

    save_png(data.load("default", "test", stereo=False)[0], ctx.user / "image.png")

    # every command's help, then the run that RUN stands for
    for command in ("compress", "decompress", "train", "evaluate", "baselines", "sweep"):
        assert "usage:" in _run(["python", "-m", "ndic", command, "--help"], ctx)
    out = _run(["python", "-m", "ndic", "train", "--profile", "quick", "--model", "bmshj18", "--steps", "2"], ctx)
    ctx.run = re.search(r"^writing to (\S+)$", out, flags=re.M).group(1)
    assert ctx.run.startswith("runs/") and (clone / ctx.run / "checkpoint.pt").is_file()

    ran, skipped = [], []
    for line in _readme_commands():
        how = _classify(line)
        if isinstance(how, str):
            skipped.append(f"{line}: {how}")
            continue
        words = shlex.split(line)
        words = how(words, ctx) if callable(how) else words
        _needs_shared(words)
        if words[0] == "mkdir":
            (clone / words[-1]).mkdir(parents=True, exist_ok=True)
        else:
            _run(words, ctx)
        ran.append(shlex.join(words))
    (clone / "my_ndic_cam_config.yaml").unlink()

    assert (ctx.user / "image_hat.png").is_file() and (clone / "runs" / "baselines" / "kodak" / "jpeg.csv").is_file()
    assert len(ran) >= 10 and len(skipped) == len(SKIPPED), (ran, skipped)
    changed = _git(clone, "status", "--porcelain", "--untracked-files=all")
    assert changed == "", f"the README's commands changed the checkout:\n{changed}\nran:\n" + "\n".join(ran)

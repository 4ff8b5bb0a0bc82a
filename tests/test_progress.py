"""Feedback on long work: plain progress lines where standard output is not a terminal (papermill, ``> log``),
nothing but the start and end lines with progress off, and the training scalars as TensorBoard events."""

import importlib.util
import io
import re
import sys
import types

import pandas as pd
import pytest

from ndic import logs
from ndic.cli import main
from ndic.config import ConfigError, load_config
from ndic.train import Trainer

# a small NDIC-CAM baseline on 64x128 crops of the embedded stereo pairs (as tests/test_train.py trains it)
SMALL = dict(profile="quick", model="bls17", num_filters=8, resize=[64, 128], distortion="MSE", lmbda=0.01,
             train_batch_size=2, deterministic=True, verbose_period=0, val_split="none")  # fmt: skip
LINE = re.compile(
    r"^run: step (\d+)/(\d+) \((\d+)%\), epoch (\d+): loss [\d.e+-]+, bpp [\d.]+, PSNR [\d.]+ dB, "
    r"[\d.]+ images/s, ETA (.+)$"
)


def _config(tmp_path, **overrides):
    return load_config(None, **dict(SMALL, out_dir=str(tmp_path), experiment_name="run", **overrides))


class Clock:
    """A clock the test moves (seconds)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_plain_lines_come_at_the_first_step_every_tenth_every_minute_and_the_last():
    stream, clock = io.StringIO(), Clock()
    progress = logs.Progress(100, description="run", stream=stream, clock=clock)
    assert progress.plain and progress.bar is None  # a StringIO is no terminal; pytest's stderr neither
    for step in range(1, 101):
        clock.now = step if step <= 50 else 50 + 0.01 * (step - 50)  # 1 s per step, then 0.01 s
        progress.update({"loss": 0.5, "bpp": 0.25, "psnr": 30.0, "epoch": 0}, images=2)
    steps = [int(LINE.match(line).group(1)) for line in stream.getvalue().splitlines()]
    # step 1, then every 10 steps while 10 steps take >= 5 s, then none (never 5 s since step 51) until the last
    assert steps == [1, 11, 21, 31, 41, 51, 100]
    first = stream.getvalue().splitlines()[1]
    assert first == "run: step 11/100 (11%), epoch 0: loss 0.5, bpp 0.250, PSNR 30.00 dB, 2.0 images/s, ETA 1 min 29 s"


def test_a_line_comes_at_least_every_minute_on_slow_steps():
    stream, clock = io.StringIO(), Clock()
    progress = logs.Progress(1000, description="run", stream=stream, clock=clock)
    for step in range(1, 31):
        clock.now = 25.0 * step  # a step every 25 s: the 10% milestone (100 steps) is far away
        progress.update({"loss": 1.0, "bpp": 1.0, "psnr": 20.0, "epoch": 3}, images=1)
    steps = [int(LINE.match(line).group(1)) for line in stream.getvalue().splitlines()]
    assert steps == [1, 4, 7, 10, 13, 16, 19, 22, 25, 28]  # 75 s apart: the first step >= 60 s after a line


def test_progress_off_shows_nothing():
    stream = io.StringIO()
    progress = logs.Progress(10, description="run", enabled=False, stream=stream)
    for _ in range(10):
        progress.update({"loss": 1.0, "bpp": 1.0, "psnr": 20.0}, images=1)
    progress.close()
    assert stream.getvalue() == "" and progress.bar is None


def test_a_notebook_open_in_jupyterlab_gets_a_bar_and_no_lines(monkeypatch):
    stream = io.StringIO()  # a kernel's stdout is no terminal either
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("ipykernel.zmqshell"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert not logs.live_notebook()  # papermill's or the book's kernel: plain lines, no widget state
    assert logs.Progress(10, stream=stream).plain
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/00_quickstart.ipynb")  # set by the Jupyter server
    progress = logs.Progress(10, stream=stream)
    progress.update({"loss": 1.0, "bpp": 1.0, "psnr": 20.0}, images=1)
    progress.close()
    assert not progress.plain and progress.bar is not None and progress.bar.n == 1 and stream.getvalue() == ""


@pytest.mark.parametrize(("seconds", "words"), [(42.4, "42 s"), (185, "3 min 05 s"), (7620, "2 h 07 min")])
def test_durations_read_as_words(seconds, words):
    assert logs.duration(seconds) == words


def test_training_in_a_batch_log_prints_plain_lines(tmp_path, capsys):
    """pytest's captured stdout is not a terminal, as papermill's and a `> log`'s are not."""
    Trainer(_config(tmp_path, steps=3, progress=True)).fit()
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("run: ")]
    assert [LINE.match(line).group(1, 2) for line in lines] == [("1", "3"), ("3", "3")]
    assert lines[-1].endswith("ETA 0 s")
    assert out.splitlines()[-1] == "stopped at step 3 (epoch 0): 3 steps done"
    assert "\r" not in out + err and "it/s" not in err  # no bar in a log


def test_train_with_progress_off_prints_only_where_it_writes_and_what_it_wrote(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--profile", "quick", "--model", "bls17", "--num_filters", "8", "--resize", "64", "128",
            "--distortion", "MSE", "--steps", "2", "--val_split", "none", "--progress", "false",
            "--out-dir", str(run)]  # fmt: skip
    assert main(args) == 0
    out, err = capsys.readouterr()
    first, middle, last = out.splitlines()  # exactly three lines
    assert first == f"writing to {run}" and middle == "stopped at step 2 (epoch 0): 2 steps done"
    assert last.startswith(f"wrote {run}: checkpoint.pt (step 2), ") and "train_log.csv" in last
    assert err == ""


def _scalars(folder, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


class Killed(Exception):
    pass


def test_tensorboard_holds_the_logged_scalars_and_a_resumed_run_replaces_the_killed_steps(tmp_path):
    settings = dict(steps=4, checkpoint_every=2, val_every=2, val_split=None, val_limit=2, progress=False)

    def kill_at_3(trainer, metrics):
        if trainer.state.step == 3:  # its step-3 events are written, its last checkpoint is step 2
            raise Killed

    with pytest.raises(Killed):
        Trainer(_config(tmp_path, **settings)).fit(kill_at_3)
    trainer = Trainer(_config(tmp_path, resume=True, **settings))
    trainer.fit()
    trainer.close()
    csv = pd.read_csv(tmp_path / "train_log.csv")
    for name in ("loss", "bpp", "psnr", "lr"):
        logged = _scalars(tmp_path / "tb", f"train/{name}")
        assert [step for step, _ in logged] == [1, 2, 3, 4]  # step 3 once: the killed run's purged
        assert [value for _, value in logged] == pytest.approx(csv[name].tolist(), rel=1e-6)
    val = pd.read_csv(tmp_path / "val_log.csv")
    assert _scalars(tmp_path / "tb", "val/psnr") == [
        (s, pytest.approx(v, rel=1e-6)) for s, v in zip(val["step"], val["psnr"], strict=True)
    ]


def test_tensorboard_off_writes_no_events(tmp_path):
    Trainer(_config(tmp_path, steps=1, progress=False, tensorboard=False)).fit()
    assert (tmp_path / "train_log.csv").is_file() and not (tmp_path / "tb").exists()


def test_tensorboard_without_its_package_is_one_clear_error(tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else find_spec(name, *a)
    )
    with pytest.raises(ConfigError, match="tensorboard package is not installed; run `make env`.*tensorboard: false"):
        _config(tmp_path, steps=1).resolved()
    assert _config(tmp_path, steps=1, tensorboard=False).resolved().tensorboard is False

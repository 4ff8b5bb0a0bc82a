"""A user's mistake on any command answers in one line that names the fix, with exit status 2.

``python -m ndic <command>`` (:mod:`ndic.cli`), ``python -m data_prep.<command>`` (:mod:`data_prep._common`)
and the notebooks' papermill parameters (:func:`ndic.notebook.check_parameters`). ``--debug`` keeps the
traceback. Each command runs in this process through its ``main`` (the same code as ``python -m``).
"""

import errno
import os
import subprocess
import sys

import pytest

import ndic.io
from conftest import ROOT, deadline
from ndic import notebook
from ndic.cli import main
from ndic.train import Trainer

# a few steps of a small model on the embedded data: seconds on a CPU
TINY = ["--profile", "quick", "--model", "bls17", "--num_filters", "8", "--resize", "64", "128",
        "--distortion", "MSE", "--train_batch_size", "2", "--val_split", "none", "--progress", "false"]  # fmt: skip


def one_line_error(capsys, argv: list[str], *words: str) -> str:
    """Run ``ndic ARGV``; assert exit status 2 and exactly one line on stderr holding ``words``; return it."""
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own errors (flags, their types)
        code = stop.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"ndic {argv[0]}: error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The run folder of two training steps of the tiny bls17 (checkpoint.pt)."""
    from ndic.config import load_config

    out = tmp_path_factory.mktemp("trained")
    settings = dict(profile="quick", model="bls17", num_filters=8, resize=[64, 128], distortion="MSE",
                    train_batch_size=2, val_split="none", progress=False, steps=2, out_dir=str(out))  # fmt: skip
    Trainer(load_config(None, **settings)).fit()
    return out


# ---------------------------------------------------------------------------- configuration mistakes
def test_an_unknown_model_is_named_with_the_closest_one(capsys):
    one_line_error(capsys, ["train", "--model", "bmshj81"], "unknown model 'bmshj81'", "did you mean 'bmshj18'?")


def test_an_unknown_dataset_lists_the_known_ones(capsys, tmp_path):
    one_line_error(capsys, ["train", *TINY, "--dataset", "kitty", "--out-dir", str(tmp_path)],
                   "unknown dataset 'kitty'", "kitti_stereo")  # fmt: skip


def test_a_value_of_the_wrong_type_names_the_flag_as_written(capsys):
    one_line_error(capsys, ["train", "--lambda", "abc"], "the command line: lambda (lmbda) must be a number, got 'abc'")


def test_a_missing_configuration_file(capsys):
    one_line_error(capsys, ["train", "--config", "/nope.yaml"], "configuration file /nope.yaml does not exist")


def test_a_list_where_a_number_belongs_names_the_file_and_the_key(capsys, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("lr: [1e-4]\n")
    one_line_error(capsys, ["train", "--config", str(path)], f"{path}: lr must be a number, got ['1e-4']")


def test_a_yaml_alias_bomb_is_one_line(capsys, tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text("model_config:\n  a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
    ))  # fmt: skip
    with deadline(60):
        one_line_error(capsys, ["train", "--config", str(path)], "expands through its aliases")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--crop", "0"], "crop must be a positive size"),
        (["--checkpoint_every", "-1"], "checkpoint_every must be 0"),
        (["--val_every", "-3"], "val_every must be 0"),
        (["--lr", "inf"], "lr must be a finite positive number, got inf"),
        (["--alpha", "nan"], "alpha must be a finite non-negative number, got nan"),
    ],
)
def test_values_that_cannot_work(capsys, flags, words):
    one_line_error(capsys, ["train", *flags], words)


# ---------------------------------------------------------------------------- files and the machine
def test_an_unreadable_image_is_named(capsys, tmp_path, trained, shared_data):
    images = tmp_path / "images" / "test"
    images.mkdir(parents=True)
    (images / "kodim01.png").write_bytes((shared_data / "kodak" / "kodim01.png").read_bytes())
    (images / "broken.png").write_text("not an image")
    argv = ["evaluate", "--checkpoint", str(trained / "checkpoint.pt"), "--dataset", "images", "--dataset_path",
            str(tmp_path / "images"), "--out", str(tmp_path / "r.csv"), "--progress", "false"]  # fmt: skip
    one_line_error(capsys, argv, "broken.png")


def _fail_writes(monkeypatch, code: int) -> None:
    """Every atomic write of ndic.io fails as the machine would (read-only folder, full disk)."""

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(ndic.io.os, "fsync", fail)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, ["No space left on device", "free some space", "--out-dir DIR"]),
        (errno.EROFS, ["Read-only file system", "--out-dir DIR"]),
        (errno.EACCES, ["Permission denied", "--out-dir DIR"]),
    ],
)
def test_train_on_a_full_or_read_only_disk(capsys, tmp_path, monkeypatch, code, words):
    _fail_writes(monkeypatch, code)
    one_line_error(capsys, ["train", *TINY, "--steps", "1", "--out-dir", str(tmp_path / "run")], *words)


def test_a_folder_that_may_not_be_written_is_named_not_its_temporary(capsys, tmp_path, monkeypatch):
    def refuse(prefix, suffix, dir):  # what mkstemp raises in a read-only folder (root is never refused)
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.path.join(dir, f"{prefix}x1y2{suffix}"))

    monkeypatch.setattr(ndic.io.tempfile, "mkstemp", refuse)
    run = tmp_path / "run"
    line = one_line_error(capsys, ["train", *TINY, "--steps", "1", "--out-dir", str(run)], f"({run}): check its")
    assert ".tmp" not in line


def test_evaluate_on_a_full_disk(capsys, tmp_path, monkeypatch, trained, shared_data):
    _fail_writes(monkeypatch, errno.ENOSPC)
    kodak = ["--dataset", "kodak", "--dataset_path", str(shared_data / "kodak"), "--limit", "1", "--progress", "false"]
    argv = ["evaluate", "--checkpoint", str(trained / "checkpoint.pt"), *kodak, "--out", str(tmp_path / "r.csv")]
    one_line_error(capsys, argv, "No space left on device", "--out FILE")


def test_a_mistyped_flag_or_command_is_one_line_naming_the_closest(capsys):
    for argv, words in ((["train", "--lamda", "1"], "(did you mean --lambda?)"), (["traim"], "(did you mean train?)")):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        lines = capsys.readouterr().err.strip().splitlines()
        assert stop.value.code == 2 and len(lines) == 1 and words in lines[0], lines


def test_debug_keeps_the_traceback(tmp_path):
    from ndic.config import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        main(["train", "--debug", "--config", str(tmp_path / "nope.yaml")])


# ---------------------------------------------------------------------------- output folders
def test_train_and_evaluate_say_where_they_write(capsys, tmp_path, trained, shared_data):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "1", "--out-dir", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"writing to {run}" and out[-1].startswith(f"wrote {run}: checkpoint.pt (step 1)")
    csv = tmp_path / "r.csv"
    argv = ["evaluate", "--checkpoint", str(run / "checkpoint.pt"), "--dataset", "kodak", "--dataset_path",
            str(shared_data / "kodak"), "--limit", "1", "--out", str(csv), "--progress", "false"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"writing to {tmp_path}" and str(csv) in out[-1]  # evaluate's closing line names the file


def test_one_default_run_folder_in_help_readme_and_gitignore(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "runs/<experiment_name>" in " ".join(capsys.readouterr().out.split())
    readme = (ROOT / "README.md").read_text()
    assert "runs/<experiment_name>" in readme
    for stale in ("run/checkpoint.pt", "runs/x/", "./outputs"):
        assert f" {stale}" not in readme
    for folder in ("outputs", "runs"):  # NDIC-CAM's configs write to ./outputs: never committed by accident
        assert subprocess.run(["git", "check-ignore", "-q", f"{folder}/x/checkpoint.yaml"], cwd=ROOT).returncode == 0
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "runs/x" not in capsys.readouterr().out


# ---------------------------------------------------------------------------- input silently ignored
def test_evaluate_refuses_a_model_the_checkpoint_does_not_hold(capsys, trained):
    one_line_error(capsys, ["evaluate", "--checkpoint", str(trained / "checkpoint.pt"), "--model", "stf"],
                   "holds a bls17 model, but the configuration names 'stf'")  # fmt: skip


def test_train_checkpoint_starts_a_new_run_from_its_weights(capsys, tmp_path, trained):
    import torch

    run = tmp_path / "finetuned"
    assert main(["train", *TINY, "--steps", "1", "--checkpoint", str(trained / "checkpoint.pt"),
                 "--out-dir", str(run)]) == 0  # fmt: skip
    assert f"starting from the weights of {trained / 'checkpoint.pt'}" in capsys.readouterr().out
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 1  # one new step, not the finished run resumed
    assert ckpt["config"]["load_weight"] and ckpt["config"]["weight_path"] == str(trained / "checkpoint.pt")
    one_line_error(capsys, ["train", *TINY, "--checkpoint", str(trained / "checkpoint.pt"), "--resume"],
                   "--checkpoint", "--resume")  # fmt: skip


# ---------------------------------------------------------------------------- notebook parameters
def _history(parameters: str, injected: str) -> list[str]:
    """IPython's input history as papermill leaves it: the parameters cell, then its injected cell."""
    return ["", parameters, "# Parameters\n" + injected, "check_parameters(globals())"]


def test_check_parameters_refuses_a_misspelled_papermill_parameter():
    params = 'model = "bls17"  # a name of ndic.models.names()\nsteps = 40\n'
    namespace = {"In": _history(params, 'modle = "stf"\n'), "model": "bls17", "steps": 40, "modle": "stf"}
    with pytest.raises(NameError, match=r"unknown notebook parameter 'modle' .*did you mean 'model'\?"):
        notebook.check_parameters(namespace)
    fine = {"In": _history(params, 'model = "stf"\nsteps = 3\n'), "model": "stf", "steps": 3}
    notebook.check_parameters(fine)
    notebook.check_parameters({"In": ["", params, "check_parameters(globals())"]})  # JupyterLab/nbval: none injected
    notebook.check_parameters({"model": "x"}, known=["model"])  # no IPython history at all: nothing to check
    with pytest.raises(NameError, match="'stpes'"):
        notebook.check_parameters({"In": _history(params, "stpes = 3\n")}, known=["model", "steps"])


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_notebook_checks_its_parameters_right_after_papermill(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    check = nb.cells[index + 1]
    assert check.cell_type == "code" and "check_parameters(globals())" in check.source
    if "lmbda =" in nb.cells[index].source:
        assert "not lambda" in nb.cells[index].source  # papermill -p lambda is a Python syntax error


def test_papermill_stops_at_a_misspelled_parameter(tmp_path):
    pytest.importorskip("papermill")
    result = subprocess.run(
        [sys.executable, "-m", "papermill", "notebooks/01_data.ipynb", str(tmp_path / "out.ipynb"),
         "-p", "datset", "kodak", "--log-level", "ERROR"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "unknown notebook parameter 'datset'" in result.stderr and "did you mean 'dataset'?" in result.stderr


# ---------------------------------------------------------------------------- data_prep commands
def test_data_prep_errors_are_one_line_with_status_2(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in (["kitti", "--root", str(tmp_path / "k"), "--from", str(empty), "--quiet"],
                    ["cityscape", "--root", str(tmp_path / "c")]):  # fmt: skip
        result = subprocess.run([sys.executable, "-m", f"data_prep.{command[0]}", *command[1:]], cwd=ROOT,
                                capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)  # fmt: skip
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert lines[0].startswith(f"python -m data_prep.{command[0]}: error: "), lines[0]
    kitti = ["-m", "data_prep.kitti", "--root", str(tmp_path / "k"), "--from", str(empty), "--quiet", "--debug"]
    debug = subprocess.run([sys.executable, *kitti], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_data_prep_wrapper(capsys):
    from data_prep import _common

    def broken(argv):
        raise FileNotFoundError("no such archive; download it first")

    assert _common.run_command(broken, "kodak", ["--quiet"]) == 2
    assert capsys.readouterr().err == (
        "python -m data_prep.kodak: error: no such archive; download it first (--debug shows the traceback)\n"
    )
    with pytest.raises(FileNotFoundError):
        _common.run_command(broken, "kodak", ["--debug"])
    assert _common.run_command(lambda argv: 0, "kodak", []) == 0

    def full(argv):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    assert _common.run_command(full, "kitti", []) == 2
    assert "No space left on device; free some space, or choose another --root DIR" in capsys.readouterr().err


def test_yaml_given_as_a_value_is_bounded_too(capsys):
    """papermill's ``-p model_config '...'`` and ``--model_config KEY=VALUE`` are read with the same bounded loader."""
    from ndic.config import Config, ConfigError

    laughs = (
        "{a0: &a0 [x, x, x, x, x, x, x, x, x], "
        + ", ".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10))
        + "}"
    )
    with deadline(60):
        with pytest.raises(ConfigError, match="expands through its aliases"):
            Config.from_dict({"model_config": laughs}, "the notebook")
        one_line_error(capsys, ["train", "--model_config", f"depths={laughs}"], "expands through its aliases")

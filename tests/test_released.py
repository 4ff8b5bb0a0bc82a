"""The released-weights table: every printed command parses with ``ndic evaluate``'s own parser into the
configuration that reproduces the release (its model, lambda, objective, test set, paper profile), and the
facts agree with the papers' recipes as the models record them."""

import shlex

import pytest

from ndic import models, released
from ndic.cli import OneLineParser
from ndic.cli import evaluate as evaluate_cli
from ndic.cli.config_args import config_from_args


def _parse(line: str):
    words = shlex.split(line)
    assert words[:4] == ["python", "-m", "ndic", "evaluate"], line
    parser = OneLineParser(prog="ndic evaluate")
    evaluate_cli.add_arguments(parser)
    args = parser.parse_args(words[4:])
    return args, config_from_args(args, None)


@pytest.mark.parametrize("weights", released.RELEASED, ids=lambda w: f"{w.model}-{w.name}")
def test_each_command_parses_into_the_release(weights):
    args, config = _parse(released.command(weights))
    assert args.checkpoint == weights.file
    assert models.canonical(config.model) == weights.model
    assert config.lmbda == pytest.approx(weights.lmbda, rel=0, abs=0)
    assert config.distortion_loss == weights.objective
    assert config.profile == "paper"
    assert config.dataset_name == weights.dataset
    assert args.out == weights.result and args.out.startswith(f"results/{weights.dataset}/")
    # STF's files carry the authors' coder tables: keeping them gives the original's bytes
    assert args.update is (weights.model not in ("stf", "wacnn"))


def test_a_mistyped_flag_would_be_caught():
    # the parse above is a real check: the same parser refuses a flag evaluate does not have
    line = released.command(released.RELEASED[0]).replace("--no-update", "--no-updates")
    with pytest.raises(SystemExit) as stop:
        _parse(line)
    assert stop.value.code == 2


def test_every_release_writes_its_own_file():
    outs = [w.result for w in released.RELEASED]
    assert len(set(outs)) == len(outs)


def test_stf_lambdas_are_the_papers():
    for w in released.RELEASED:
        if w.model in ("stf", "wacnn"):
            assert w.objective == "MSE"  # the README: "optimized for MSE"
            assert w.lmbda in models.get(w.model).lambdas("kodak", "MSE")
            # the authors' file names spell the lambda's digits: stf_0035 is 0.0035, cnn_025 is 0.025
            assert w.name.split("_")[1] == f"{w.lmbda:g}".split(".")[1]


def test_ten_stf_family_files_and_ndic_cam():
    names = [w.name for w in released.RELEASED if w.model in ("stf", "wacnn")]
    assert len(names) == 10 and len(set(names)) == 10
    assert {w.model for w in released.RELEASED} == {"stf", "wacnn", "cross_attention"}


def test_table_links_each_fact_to_its_commit():
    table = released.table()
    assert len(table) == len(released.RELEASED)
    for w, source in zip(released.RELEASED, table["source"], strict=True):
        assert len(w.source.commit) == 40 and w.source.commit in w.source.url
        assert w.source.url in source

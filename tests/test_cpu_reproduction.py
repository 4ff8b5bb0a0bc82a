"""The CPU-scale reproduction's plan: every job is a valid command, resumable, and skipped once done."""

import argparse
import shlex

import pytest

from ndic import cpu_reproduction as cpu
from ndic import models
from ndic.cli import main
from ndic.cli.config_args import config_from_args
from ndic.cli.evaluate import add_arguments as evaluate_arguments
from ndic.cli.train import add_arguments as train_arguments
from ndic.config import Config


def _parse(add_arguments, words):
    parser = argparse.ArgumentParser()
    add_arguments(parser, "x")
    return parser.parse_args(words)


def test_the_plan_has_four_lambdas_of_each_model_the_issue_names():
    jobs = cpu.jobs()
    per_model = {m: [j for j in jobs if j.model == m] for m in ("bls17", "ndic_bls17", "cross_attention", "bmshj18")}
    assert all(len(js) == 4 for js in per_model.values())
    assert {j.train_set for j in per_model["cross_attention"]} == {"stereo_train"}
    assert {j.tests for j in per_model["bmshj18"]} == {("kodak",)}
    assert len({j.name for j in jobs}) == len(jobs)  # one folder and one result name per job


def test_each_model_trains_once_from_scratch_and_its_other_lambdas_start_from_that_run(tmp_path):
    jobs = cpu.jobs()
    scratch = [j for j in jobs if j.start_from is None]
    assert [j.model for j in scratch] == ["bls17", "ndic_bls17", "cross_attention", "bmshj18"]
    assert jobs[: len(scratch)] == scratch  # one trained model of each kind before any other lambda
    for job in jobs[len(scratch) :]:
        base = job.start_from
        assert base in scratch and (base.model, base.distortion, base.train_set) == (
            job.model, job.distortion, job.train_set)  # fmt: skip
        words = shlex.split(cpu.commands(job, runs=tmp_path)[0])[5:]
        config = config_from_args(_parse(train_arguments, words[1:])).resolved()
        assert config.load_weight and config.weight_path == str(base.folder(tmp_path) / "best.pt")
        assert config.steps == cpu.CPU_FINETUNE_STEPS < Config(model=job.model, profile="cpu").resolved().steps
        assert config.lr_drop_at < config.steps
    base_words = shlex.split(cpu.commands(scratch[0], runs=tmp_path)[0])
    assert "--load_weight" not in base_words and "--weight_path" not in base_words


def test_every_command_parses_into_the_cpu_profile(tmp_path):
    for job in cpu.jobs():
        train, *evaluations = cpu.commands(job, runs=tmp_path / "runs", results=tmp_path / "results")
        words = shlex.split(train)[5:]
        assert words[0] == "train"
        config = config_from_args(_parse(train_arguments, words[1:])).resolved()
        assert (config.profile, config.model, config.lmbda, config.resume) == ("cpu", job.model, job.lmbda, True)
        assert config.deterministic and config.steps is not None and config.lr_drop_at < config.steps
        if job.model == "cross_attention":  # the attention is narrowed too
            assert config.model_kwargs()["attention_dim"] == 64
        assert len(evaluations) == len(job.tests)
        for test, line in zip(job.tests, evaluations, strict=True):
            args = _parse(evaluate_arguments, shlex.split(line)[6:])
            assert args.checkpoint.endswith("best.pt") and args.out == str(job.result(test, tmp_path / "results"))
            assert args.dataset_label == test  # rows say kitti_samples, never the paper's kitti_stereo test split


def test_the_cpu_profile_uses_the_models_own_reduced_widths():
    config = Config(model="cross_attention", profile="cpu").resolved()
    model = models.build(config.model, **config.model_kwargs())
    assert model.config["num_filters"] == 64 and model.config["attention_heads"] == 4
    assert Config(model="bls17", profile="cpu").resolved().dataset_name == "stereo_train"


def test_a_job_is_done_only_when_every_test_set_has_its_result(tmp_path):
    job = cpu.jobs(("bls17",))[0]
    assert not cpu.done(job, tmp_path)
    for test in job.tests[:-1]:
        path = job.result(test, tmp_path)
        path.parent.mkdir(parents=True)
        path.write_text("x")
        path.with_suffix(".meta.json").write_text("{}")
    assert not cpu.done(job, tmp_path)
    last = job.result(job.tests[-1], tmp_path)
    last.parent.mkdir(parents=True)
    last.write_text("x")
    assert not cpu.done(job, tmp_path)  # no provenance yet: an interrupted write
    last.with_suffix(".meta.json").write_text("{}")
    assert cpu.done(job, tmp_path)


def test_sweep_prints_the_cpu_plan_and_refuses_what_does_not_apply(capsys):
    assert main(["sweep", "--profile", "cpu", "--model", "ndic_bls17"]) == 0
    out = capsys.readouterr().out
    assert out.count("# ndic_bls17_stereo_train_MS-SSIM_") == 4 and out.count(" evaluate ") == 12
    assert main(["sweep", "--profile", "cpu", "--dataset", "kodak"]) == 2
    assert "runs its own plan" in capsys.readouterr().err
    with pytest.raises(ValueError, match="has no run of stf"):
        cpu.jobs(("stf",))


def test_the_training_record_is_kept_beside_the_results(tmp_path):
    job = cpu.jobs(("bls17",))[0]
    folder = job.folder(tmp_path / "runs")
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("model: bls17\n")
    (folder / "train_log.csv").write_text("step,loss\n1,2.0\n")
    (folder / "checkpoint.pt").write_bytes(b"weights stay out of the repository")
    kept = cpu.keep_training_record(job, tmp_path / "runs", tmp_path / "results")
    assert sorted(p.name for p in kept.iterdir()) == ["config.yaml", "train_log.csv"]
    assert (kept / "config.yaml").read_text() == "model: bls17\n"

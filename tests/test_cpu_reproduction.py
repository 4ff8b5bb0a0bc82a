"""The CPU-scale reproduction's plan: every job is a valid command, resumable, and skipped once done."""

import argparse
import shlex

import pytest

from ndic import cpu_reproduction as cpu
from ndic import cpu_results, models
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
    # each curve: four lambdas, every one fine-tuned from the model's run from scratch (its own lambda included)
    assert all(len({j.lmbda for j in js if j.start_from is not None}) == 4 for js in per_model.values())
    assert all(len(js) == 5 and sum(j.start_from is None for j in js) == 1 for js in per_model.values())
    continued = [j for j in per_model["bls17"] if j.start_from is not None and j.lmbda == j.start_from.lmbda]
    assert [j.name for j in continued] == ["bls17_stereo_train_MS-SSIM_0.00011_continued"]
    assert {j.train_set for j in per_model["cross_attention"]} == {"stereo_train"}
    assert {j.tests for j in per_model["bmshj18"]} == {("kodak",)}
    assert len({j.name for j in jobs}) == len(jobs)  # one folder and one result name per job


def test_each_model_trains_once_from_scratch_and_its_other_lambdas_start_from_that_run(tmp_path):
    jobs = cpu.jobs()
    scratch = [j for j in jobs if j.start_from is None]
    assert [j.model for j in scratch] == ["bls17", "ndic_bls17", "cross_attention", "bmshj18"]
    assert jobs[: len(scratch)] == scratch  # one trained model of each kind before any other lambda
    for base in scratch:  # their runs are there (else a committed checkpoint stands in: tested below)
        base.folder(tmp_path).mkdir(parents=True)
        (base.folder(tmp_path) / "best.pt").write_bytes(b"w")
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


def test_a_run_from_scratch_keeps_its_results_with_its_training_record_out_of_the_curves(tmp_path):
    import pandas as pd

    from ndic import results

    base, point = cpu.jobs(("bls17",))[:2]
    assert base.start_from is None and point.start_from is base
    assert base.result("middlebury", tmp_path) == cpu.record_folder(base, tmp_path) / "middlebury" / f"{base.name}.csv"
    assert point.result("middlebury", tmp_path) == tmp_path / "middlebury" / f"{point.name}.csv"
    row = dict.fromkeys(results.COLUMNS, 0) | dict(method="bls17", label="bls17", dataset="middlebury",
                                                    quality=base.lmbda, image="i0", profile="cpu")  # fmt: skip
    for job in (base, point):
        path = job.result("middlebury", tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([row]).to_csv(path, index=False)
        path.with_suffix(".meta.json").write_text('{"command": "python -m ndic evaluate ..."}')
    assert results.find_results(tmp_path) == [point.result("middlebury", tmp_path)]  # the curve's point only
    assert results.find_results(cpu.record_folder(base, tmp_path)) == [base.result("middlebury", tmp_path)]


def test_a_job_is_done_only_when_every_test_set_has_its_result(tmp_path):
    job = cpu.jobs(("bls17",))[0]
    assert not cpu.done(job, tmp_path)
    for test in job.tests[:-1]:
        path = job.result(test, tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        path.with_suffix(".meta.json").write_text("{}")
    assert not cpu.done(job, tmp_path)
    last = job.result(job.tests[-1], tmp_path)
    last.parent.mkdir(parents=True, exist_ok=True)
    last.write_text("x")
    assert not cpu.done(job, tmp_path)  # no provenance yet: an interrupted write
    last.with_suffix(".meta.json").write_text("{}")
    assert cpu.done(job, tmp_path)


def test_sweep_prints_the_cpu_plan_and_refuses_what_does_not_apply(capsys):
    assert main(["sweep", "--profile", "cpu", "--model", "ndic_bls17"]) == 0
    out = capsys.readouterr().out
    assert out.count("# ndic_bls17_stereo_train_MS-SSIM_") == 5 and out.count(" evaluate ") == 15
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


def _finished_run(job, runs, results, weights=b"trained weights"):
    """A run folder with its best.pt and result files as the sweep leaves them (contents made up, small)."""
    folder = job.folder(runs)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "best.pt").write_bytes(weights)
    for test in job.tests:
        path = job.result(test, results)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        path.with_suffix(".meta.json").write_text('{"git_commit": "abc1234", "machine": "x86_64, 2 CPU cores, cpu"}')


def test_the_notebooks_weights_are_exported_with_their_hash_and_never_replaced_silently(tmp_path):
    import hashlib
    import json

    runs, results, target = tmp_path / "runs", tmp_path / "results", tmp_path / "checkpoints"
    job = cpu.jobs(("ndic_bls17",))[0]
    _finished_run(job, runs, results)
    path = cpu.export_checkpoint(job, runs, results, target)
    assert path == target / "ndic_bls17.pt" and path.read_bytes() == b"trained weights"
    entry = json.loads((target / cpu.MANIFEST).read_text())["ndic_bls17.pt"]
    assert entry["sha256"] == hashlib.sha256(b"trained weights").hexdigest() and entry["bytes"] == 15
    assert entry["git_commit"] == "abc1234" and entry["job"] == job.name
    assert entry["command"].startswith("OMP_NUM_THREADS=2 python -m ndic train --profile cpu --model ndic_bls17")
    assert f"--lambda {job.lmbda:g}" in entry["command"] and f"--out-dir {job.folder()}" in entry["command"]
    assert cpu.export_checkpoint(job, runs, results, target) == path  # the same weights again: nothing changes
    (job.folder(runs) / "best.pt").write_bytes(b"other weights")
    with pytest.raises(ValueError, match="already holds other weights of ndic_bls17"):
        cpu.export_checkpoint(job, runs, results, target)
    assert path.read_bytes() == b"trained weights"


def test_committed_weights_without_their_results_stop_the_sweep_before_it_trains(tmp_path):
    runs, results, target = tmp_path / "runs", tmp_path / "results", tmp_path / "checkpoints"
    job = cpu.jobs(("bls17",))[0]
    target.mkdir()
    cpu.checkpoint_path("bls17", target).write_bytes(b"committed")
    with pytest.raises(ValueError, match="results are missing: remove"):
        cpu.run([job], runs, results, tmp_path / "data", checkpoints=target, references=None)
    assert not job.folder(runs).exists()  # nothing was trained


def test_a_finetuned_job_alone_brings_its_run_from_scratch_until_that_run_is_finished(tmp_path):
    runs, results = tmp_path / "runs", tmp_path / "results"
    finetuned = [j for j in cpu.jobs(("bls17",)) if j.start_from is not None][:2]
    base = finetuned[0].start_from
    assert cpu.with_bases(finetuned, runs, results) == [base, *finetuned]
    assert cpu.with_bases([base, *finetuned], runs, results) == [base, *finetuned]
    base.folder(runs).mkdir(parents=True)
    (base.folder(runs) / "best.pt").write_bytes(b"w")  # written at the first validation: the run is not finished
    assert cpu.with_bases(finetuned, runs, results) == [base, *finetuned]
    _finished_run(base, runs, results)
    assert cpu.with_bases(finetuned, runs, results) == finetuned


def test_a_finetune_starts_from_the_committed_weights_where_its_base_run_folder_is_absent(tmp_path):
    runs, results, target = tmp_path / "runs", tmp_path / "results", tmp_path / "checkpoints"
    job = [j for j in cpu.jobs(("ndic_bls17",)) if j.start_from is not None][0]
    base = job.start_from
    assert cpu.start_weights(job, runs, target) == base.folder(runs) / "best.pt"  # to be trained first
    _finished_run(base, tmp_path / "elsewhere", results)
    cpu.export_checkpoint(base, tmp_path / "elsewhere", results, target)
    assert cpu.start_weights(job, runs, target) == target / "ndic_bls17.pt"  # a fresh clone: runs/ is absent
    _finished_run(base, runs, results)
    assert cpu.start_weights(job, runs, target) == base.folder(runs) / "best.pt"  # its own run comes first
    with pytest.raises(ValueError, match="trains from scratch"):
        cpu.start_weights(base, runs, target)


def test_a_finished_base_without_weights_anywhere_is_trained_again_before_its_finetune(tmp_path, monkeypatch):
    runs, results = tmp_path / "runs", tmp_path / "results"
    job, other = [j for j in cpu.jobs(("bmshj18",)) if j.start_from is not None][:2]  # never committed weights
    base = job.start_from
    _finished_run(base, tmp_path / "elsewhere", results)  # a fresh clone: its results, but no run folder
    assert cpu.with_bases([job], runs, results) == [base, job]
    ran = []

    def commands(job, runs, results, data):  # the sweep's own lines, recorded instead of run
        ran.append(job.name)
        return ["true"]

    monkeypatch.setattr(cpu, "commands", commands)
    assert cpu.run([base, job, other], runs, results, tmp_path / "data", checkpoints=None, references=None) == 0
    assert ran == [base.name, job.name, other.name]  # the base first, once, although its results are there
    _finished_run(base, runs, results)
    ran.clear()
    assert cpu.with_bases([job], runs, results) == [job]  # with its weights at hand it is not trained again
    assert cpu.run([base, job], runs, results, tmp_path / "data", checkpoints=None, references=None) == 0
    assert ran == [job.name]


def test_a_sweep_killed_after_its_last_evaluation_completes_the_record_and_the_export_when_run_again(tmp_path):
    import json

    runs, results, target = tmp_path / "runs", tmp_path / "results", tmp_path / "checkpoints"
    job = cpu.jobs(("cross_attention",))[0]
    _finished_run(job, runs, results)
    (job.folder(runs) / "val_log.csv").write_text("step,loss\n100,1.0\n")
    # results present: skipped
    assert cpu.run([job], runs, results, tmp_path / "data", checkpoints=target, references=None) == 0
    assert (results / "training" / job.name / "val_log.csv").is_file()
    assert json.loads((target / cpu.MANIFEST).read_text())["cross_attention.pt"]["job"] == job.name
    (job.folder(runs) / "best.pt").write_bytes(b"weights of another run")  # a skipped job never re-exports
    assert cpu.run([job], runs, results, tmp_path / "data", checkpoints=target, references=None) == 0
    assert (target / "cross_attention.pt").read_bytes() == b"trained weights"


def test_the_reproduction_check_compares_means_per_test_set_within_one_percent_and_a_tenth_of_a_db(tmp_path):
    import pandas as pd

    job = cpu.jobs(("bmshj18",))[0]  # one test set: kodak

    def write(folder, bpp, psnr, ms_ssim):
        path = job.result("kodak", folder)
        path.parent.mkdir(parents=True)
        rows = [dict(method="m", label="m", dataset="kodak", quality=job.lmbda, image=f"i{k}", bpp=bpp[k],
                     bpp_estimated=bpp[k], psnr=psnr[k], ms_ssim=ms_ssim, encoding_time=0, decoding_time=0)
                for k in range(2)]  # fmt: skip
        pd.DataFrame(rows).to_csv(path, index=False)

    write(tmp_path / "committed", [0.4, 0.6], [30.0, 32.0], 0.9)
    write(tmp_path / "close", [0.402, 0.602], [30.05, 32.05], 0.9)
    write(tmp_path / "far", [0.5, 0.6], [30.0, 32.0], 0.9)
    close = cpu_results.reproduction_check([job], tmp_path / "close", tmp_path / "committed")
    assert close["bpp difference (%)"].iloc[0] == pytest.approx(0.4) and close["reproduced"].all()
    assert close["PSNR difference (dB)"].iloc[0] == pytest.approx(0.05)
    far = cpu_results.reproduction_check([job], tmp_path / "far", tmp_path / "committed")
    assert far["bpp difference (%)"].iloc[0] == pytest.approx(10.0) and not far["reproduced"].any()
    assert cpu_results.reproduction_check([job], tmp_path / "missing", tmp_path / "committed").empty


def test_a_reproduction_check_is_recorded_beside_the_committed_results_and_never_replaced_silently(tmp_path):
    import json

    import pandas as pd

    job = cpu.jobs(("bmshj18",))[0]
    for folder, bpp in (("committed", 0.4), ("rerun", 0.4), ("other", 0.401)):
        path = job.result("kodak", tmp_path / folder)
        path.parent.mkdir(parents=True)
        pd.DataFrame([dict(method="m", label="m", dataset="kodak", quality=job.lmbda, image="i0", bpp=bpp,
                           bpp_estimated=bpp, psnr=30.0, ms_ssim=0.9, encoding_time=0, decoding_time=0)]
                     ).to_csv(path, index=False)  # fmt: skip
        meta = {"git_commit": f"{folder[:3]}1234", "machine": f"{folder} machine", "command": "evaluate ..."}
        path.with_suffix(".meta.json").write_text(json.dumps(meta))
    committed = tmp_path / "committed"
    check = cpu_results.reproduction_check([job], tmp_path / "rerun", committed)
    [record] = cpu_results.write_reproduction_check(check, tmp_path / "rerun", committed)
    assert record == committed / "reproduction" / f"{job.name}.csv"
    meta = json.loads(record.with_suffix(".meta.json").read_text())
    assert meta["rerun"]["kodak"]["machine"] == "rerun machine"
    assert meta["committed"]["kodak"]["git_commit"] == "com1234"
    assert meta["profile"] == "cpu" and meta["bounds"]["PSNR and MS-SSIM (dB)"] == cpu_results.REPRODUCED_DB
    shown = cpu_results.reproduction_records(committed)
    assert list(shown["test set"]) == ["kodak"] and shown["reproduced"].all()
    assert shown["machine"].iloc[0] == "rerun machine"
    assert cpu_results.write_reproduction_check(check, tmp_path / "rerun", committed) == []  # the same numbers again
    other = cpu_results.reproduction_check([job], tmp_path / "other", committed)
    with pytest.raises(FileExistsError, match="move it aside"):
        cpu_results.write_reproduction_check(other, tmp_path / "other", committed)
    assert pd.read_csv(record)["bpp rerun"].iloc[0] == 0.4  # the first record is kept
    assert cpu_results.reproduction_records(tmp_path / "nothing").empty


def test_a_committed_checkpoint_is_checked_against_its_manifest_before_loading(tmp_path):
    runs, results, target = tmp_path / "runs", tmp_path / "results", tmp_path / "checkpoints"
    job = cpu.jobs(("bls17",))[0]
    _finished_run(job, runs, results, weights=b"w" * 4096)
    path = cpu.export_checkpoint(job, runs, results, target)
    cpu.verify_checkpoint(path)  # as exported: passes
    path.write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(ValueError, match="is not the committed file.*Git LFS pointer.*git checkout --"):
        cpu.verify_checkpoint(path)
    path.unlink()
    with pytest.raises(ValueError, match="listed in .* but missing"):
        cpu.verify_checkpoint(path)
    own = tmp_path / "mine.pt"
    own.write_bytes(b"anything")
    cpu.verify_checkpoint(own)  # no manifest beside it: the user's own file
    stray = target / "other.pt"
    stray.write_bytes(b"anything")
    with pytest.raises(ValueError, match="is not listed in .*keep it in another folder"):
        cpu.verify_checkpoint(stray)


def test_every_test_set_gets_jpeg_and_bpg_on_the_same_images_down_to_the_small_models_rates(tmp_path):
    from ndic.cli.baselines import add_arguments as baselines_arguments
    from ndic.codecs import get as get_codec
    from ndic.cpu_test_sets import KODAK_LOW_RATES, reference_folder, reference_sweep

    lines = cpu.reference_commands(tmp_path / "data")
    assert list(lines) == [*cpu.STEREO_TESTS, "kodak"]
    for test, line in lines.items():
        codecs = []
        for command in line.split(" && "):  # one baselines command per codec, each with its own sweep
            args = _parse(baselines_arguments, shlex.split(command)[6:])
            name, sub, label = cpu.TEST_SETS[test]
            assert (args.data, args.root, args.dataset) == (name, str(tmp_path / "data" / sub), label)
            assert args.out == str(reference_folder(test)) and args.profile == "cpu"
            assert args.both_directions == (test != "kodak")  # stereo sets: each view in turn
            assert args.qualities == [float(q) for q in reference_sweep(args.codecs[0], test)]
            codecs += args.codecs
        assert codecs == list(cpu.REFERENCE_CODECS)
    assert reference_folder("middlebury") == cpu.REFERENCE_RESULTS / "middlebury"
    # Kodak's default sweeps are results/kodak's: only the low end is added, in a folder of its own
    assert reference_folder("kodak") == cpu.REFERENCE_RESULTS / KODAK_LOW_RATES
    assert reference_sweep("jpeg", "kodak") == (1, 2, 3, 4) and reference_sweep("bpg", "kodak") == (51, 49)
    with pytest.raises(ValueError, match="no classical reference is run on 'photos'"):
        reference_folder("photos")
    # below each codec's default sweep, where the small models' curves lie
    assert reference_sweep("jpeg", "kitti_samples")[:5] == (1, 2, 3, 4, 5)
    assert reference_sweep("bpg", "kitti_samples")[:3] == (51, 49, 47)
    results = tmp_path / "results"
    folder = reference_folder("middlebury", results)
    folder.mkdir(parents=True)

    def write(codec, qualities):
        rows = "".join(f"{codec},{q}\n" for q in qualities)
        (folder / f"{codec}.csv").write_text("method,quality\n" + rows)

    for codec in cpu.REFERENCE_CODECS:
        write(codec, reference_sweep(codec, "middlebury"))
    assert not cpu.references_done("middlebury", results)  # no provenance: an interrupted write
    for codec in cpu.REFERENCE_CODECS:
        (folder / f"{codec}.meta.json").write_text("{}")
    assert cpu.references_done("middlebury", results)
    write("jpeg", get_codec("jpeg").qualities)  # the default sweep only, as before the low end was added
    assert not cpu.references_done("middlebury", results)
    assert not cpu.references_done("kodak", results)


def test_the_sweep_runs_missing_references_first_and_stops_on_their_failure(tmp_path, monkeypatch, capsys):
    from ndic.cpu_test_sets import reference_folder, reference_sweep

    runs, results, references = tmp_path / "runs", tmp_path / "results", tmp_path / "references"
    job = [j for j in cpu.jobs(("bmshj18",)) if j.start_from is None][0]  # tested on Kodak only
    ran = []
    monkeypatch.setattr(cpu, "commands", lambda job, runs, results, data: ran.append(job.name) or ["true"])
    status = cpu.run([job], runs, results, tmp_path / "no-data", checkpoints=None, references=references)
    assert status == 2 and ran == []  # no Kodak here: baselines refuses, and nothing is trained
    assert "stopped: the references of kodak failed with exit status 2" in capsys.readouterr().err
    folder = reference_folder("kodak", references)
    folder.mkdir(parents=True)
    for codec in cpu.REFERENCE_CODECS:  # present over their whole sweep: not run again
        rows = "".join(f"{codec},{q}\n" for q in reference_sweep(codec, "kodak"))
        (folder / f"{codec}.csv").write_text("method,quality\n" + rows)
        (folder / f"{codec}.meta.json").write_text("{}")
    assert cpu.run([job], runs, results, tmp_path / "no-data", checkpoints=None, references=references) == 0
    assert ran == [job.name] and "[references]" not in capsys.readouterr().out


def test_kodaks_low_end_joins_its_default_sweep_as_one_curve_per_codec(tmp_path):
    import pandas as pd

    from ndic.cpu_test_sets import KODAK_LOW_RATES
    from ndic.plot import curves_from_results
    from ndic.results import load_results, write_result_set

    def rows(qualities, profile):
        return pd.DataFrame([dict(method="jpeg", label="JPEG (4:4:4)", quality=q, dataset="kodak", image=f"kodim{i}",
                                  height=2, width=2, bytes=1, bpp=q / 50 + i / 100, bpp_estimated=float("nan"),
                                  psnr=20 + q / 5, ms_ssim=0.8,
                                  ms_ssim_db=7.0, encoding_time=0.0, decoding_time=0.0, profile=profile)
                             for q in qualities for i in (1, 2)])  # fmt: skip

    for folder, qualities, profile in [("kodak", (5, 10, 20), "paper"), (KODAK_LOW_RATES, (1, 2), "cpu")]:
        write_result_set(rows(qualities, profile), tmp_path / folder / "jpeg.csv", "JPEG", {"of": 2})
    (curve,) = curves_from_results(load_results(tmp_path))
    assert curve.kind == "classical" and list(curve.bpp) == pytest.approx([0.035, 0.055, 0.115, 0.215, 0.415])


def test_sweep_selects_the_plans_lambdas_and_refuses_one_it_does_not_have(capsys, tmp_path):
    assert main(["sweep", "--profile", "cpu", "--model", "bls17", "--lambdas", "3e-05"]) == 0
    out = capsys.readouterr().out
    assert "# bls17_stereo_train_MS-SSIM_3e-05" in out and "# bls17_stereo_train_MS-SSIM_6e-05" not in out
    assert main(["sweep", "--profile", "cpu", "--model", "bls17", "--lambdas", "0.00011"]) == 0
    names = [line[2:].split(" (")[0] for line in capsys.readouterr().out.splitlines() if line.startswith("# bls17")]
    assert names == ["bls17_stereo_train_MS-SSIM_0.00011", "bls17_stereo_train_MS-SSIM_0.00011_continued"]
    assert main(["sweep", "--profile", "cpu", "--model", "bls17", "--lambdas", "3e-05,5e-05"]) == 2
    assert "--lambdas: 5e-05 not in the cpu plan; the lambdas of these models are" in capsys.readouterr().err


def test_a_reproduction_check_needs_fresh_training_folders_and_results_dir_is_the_cpu_profiles(capsys, tmp_path):
    rerun = ["sweep", "--profile", "cpu", "--model", "bls17", "--lambdas", "3e-05", "--run"]
    assert main([*rerun, "--results-dir", str(tmp_path / "results")]) == 2
    assert "give a fresh --out-dir" in capsys.readouterr().err
    assert main(["sweep", "--model", "stf", "--dataset", "images", "--results-dir", str(tmp_path)]) == 2
    assert "--results-dir is the CPU-scale reproduction's" in capsys.readouterr().err


def test_a_run_whose_validation_loss_collapsed_stops_the_sweep_with_its_step_and_the_fix(tmp_path):
    fine, collapsed = tmp_path / "fine", tmp_path / "collapsed"
    for folder, losses in ((fine, [3.1, 2.4, 1.9, 1.6, 1.7]), (collapsed, [3.1, 2.4, 1.6, 7.8, 7.7])):
        folder.mkdir()
        rows = "".join(f"{91 * (k + 1)},{loss}\n" for k, loss in enumerate(losses))
        (folder / "val_log.csv").write_text("step,loss\n" + rows)
    assert cpu.diverged(fine) is None  # a last loss a little above the best is noise, not a collapse
    reason = cpu.diverged(collapsed)
    assert reason.startswith("diverged: validation loss 7.7 at step 455, 4.8x its best (1.6 at step 273)")
    assert "lower the profile's lr" in reason
    assert cpu.diverged(tmp_path / "never_validated") is None


def test_the_books_readers_find_the_committed_files_from_any_folder(monkeypatch, tmp_path):
    # the book executes its pages from book/: relative defaults must still mean the checkout's results/cpu/
    monkeypatch.chdir(tmp_path)
    assert set(cpu_results.training_folders()) == {job.name for job in cpu.jobs() if job.start_from is None}
    assert not cpu_results.reproduction_records().empty
    assert cpu_results.plan_table().loc["bls17", "runs with results"] == "5 of 5"


def test_the_step_time_of_a_run_is_its_median_logged_step_times_its_steps(tmp_path):
    job = cpu.jobs(("bls17",))[0]
    folder = cpu.record_folder(job, tmp_path)
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("train_batch_size: 8\nsteps: 4\n")
    # four steps of 1 s (8 images at 8 images/s), one of them held up for 1000 s by a pause
    (folder / "train_log.csv").write_text("step,images_per_s\n1,8\n2,8\n3,0.008\n4,8\n")
    assert cpu_results.step_seconds(tmp_path) == {job.name: pytest.approx(4.0)}
    assert cpu_results.step_seconds(tmp_path / "nothing") == {}

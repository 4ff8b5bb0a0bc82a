"""The sweep's job array on a real one-node SLURM (Debian's ``slurm-wlm``), with quick stand-ins for training.

The cluster is started here: ``slurmctld`` and ``slurmd`` with a minimal ``slurm.conf`` in a temporary
folder (no munge: ``auth/none``). The array's lines are the sweep's own commands, run by papermill, but
the notebooks are stand-ins that only record their parameters, so no model is trained. The test skips,
saying why, where no cluster can start (no SLURM binaries, not root, daemons that do not come up).
"""

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from ndic import sweep

BINARIES = ("slurmctld", "slurmd", "sbatch", "sinfo")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(folder: Path, node: str) -> str:
    lines = {
        "ClusterName": "ndictest",
        "SlurmctldHost": f"{node}(127.0.0.1)",
        "SlurmctldPort": _free_port(),
        "SlurmdPort": _free_port(),
        "AuthType": "auth/none",  # a throw-away cluster on one machine: no munge key needed
        "CredType": "cred/none",
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "StateSaveLocation": folder / "state",
        "SlurmdSpoolDir": folder / "spool",
        "SlurmctldPidFile": folder / "slurmctld.pid",
        "SlurmdPidFile": folder / "slurmd.pid",
        "SlurmctldLogFile": folder / "slurmctld.log",
        "SlurmdLogFile": folder / "slurmd.log",
        "ProctrackType": "proctrack/linuxproc",  # no cgroups in a container
        "TaskPlugin": "task/none",
        "JobAcctGatherType": "jobacct_gather/none",
        "AccountingStorageType": "accounting_storage/none",
        "SchedulerType": "sched/builtin",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core",
        "MpiDefault": "none",
        "ReturnToService": 2,
        "NodeName": f"{node} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} State=UNKNOWN",
        "PartitionName": "test Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """The environment (SLURM_CONF) of a running one-node cluster; its daemons stop after the tests."""
    missing = [name for name in BINARIES if shutil.which(name) is None]
    if missing:
        pytest.skip(f"no SLURM here ({', '.join(missing)} not found); apt-get install slurm-wlm to run this test")
    if os.geteuid() != 0:
        pytest.skip("starting slurmctld and slurmd needs root; run as root (e.g. in the project's container)")
    folder = tmp_path_factory.mktemp("slurm")
    (folder / "state").mkdir()
    (folder / "spool").mkdir()
    node = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(_config(folder, node))
    env = dict(os.environ, SLURM_CONF=str(conf))
    daemons = [
        subprocess.Popen(["slurmctld", "-D", "-i", "-f", str(conf)], env=env, stdout=subprocess.DEVNULL,
                         stderr=open(folder / "slurmctld.out", "w")),
        subprocess.Popen(["slurmd", "-D", "-N", node, "-f", str(conf)], env=env, stdout=subprocess.DEVNULL,
                         stderr=open(folder / "slurmd.out", "w")),
    ]  # fmt: skip
    try:
        if not _node_idle(env, daemons):
            logs = " | ".join((folder / f).read_text()[-300:] for f in ("slurmctld.out", "slurmd.out"))
            pytest.skip(f"the one-node SLURM cluster did not come up within 60 s: {logs}")
        yield env
    finally:
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()


def _node_idle(env: dict, daemons: list) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(d.poll() is not None for d in daemons):
            return False
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
        if state.strip() == "idle":
            return True
        time.sleep(1)
    return False


def _notebook(path: Path, parameters: str, body: str) -> None:
    book = nbformat.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    book.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(book, path)


def stand_in_notebooks(folder: Path, failing_lambda: float) -> Path:
    """02_train and 03_evaluate that record their parameters instead of training and evaluating."""
    folder.mkdir()
    _notebook(
        folder / "02_train.ipynb",
        "model = dataset = distortion = profile = device = out_dir = root = None\nlmbda = None\nresume = False",
        "import json, os\nfrom pathlib import Path\n"
        f"if lmbda == {failing_lambda!r}:\n"
        "    raise RuntimeError(f'stand-in training failed for lambda {lmbda}')\n"
        "Path(out_dir, 'best.pt').write_text('stand-in weights')\n"
        "record = dict(lmbda=lmbda, resume=resume, task=os.environ['SLURM_ARRAY_TASK_ID'], model=model)\n"
        "Path(out_dir, 'trained.json').write_text(json.dumps(record))",
    )
    _notebook(
        folder / "03_evaluate.ipynb",
        "checkpoint = dataset = profile = device = out_dir = root = None",
        "import json\nfrom pathlib import Path\nassert Path(checkpoint).is_file(), checkpoint\n"
        "Path(out_dir, 'evaluated.json').write_text(json.dumps(dict(checkpoint=checkpoint)))",
    )
    return folder


def test_the_sweeps_job_array_runs_one_resumable_task_per_lambda_with_its_own_log(slurm, tmp_path):
    lambdas = [0.0018, 0.0035, 0.0067]
    notebooks = stand_in_notebooks(tmp_path / "notebooks", failing_lambda=lambdas[2])
    opts = sweep.Options(profile="quick", device="cpu", out_dir=str(tmp_path / "runs"), notebooks=str(notebooks),
                         resume=True)  # fmt: skip
    runs = sweep.plan("wacnn", "images", "MSE", lambdas)
    logs = tmp_path / "runs" / "slurm"
    logs.mkdir(parents=True)
    script = tmp_path / "sweep.sbatch"
    script.write_text(sweep.slurm_script([sweep.command(run, opts) for run in runs], job_name="ndic_test",
                                         workdir=tmp_path, log_dir=logs))  # fmt: skip

    done = subprocess.run(["sbatch", "--wait", str(script)], env=slurm, capture_output=True, text=True, timeout=240)
    assert done.returncode != 0  # the array fails because its third task did
    job = done.stdout.split()[-1]
    for task, run in enumerate(runs):
        log = (logs / f"ndic_test_{job}_{task}.out").read_text()
        assert f"array task {task} of job {job}" in log
        folder = run.folder(opts.out_dir)
        if task == 2:
            assert "stand-in training failed for lambda 0.0067" in log and not (folder / "evaluated.json").exists()
            continue
        trained = json.loads((folder / "trained.json").read_text())
        assert trained == dict(lmbda=run.lmbda, resume=True, task=str(task), model="wacnn")
        evaluated = json.loads((folder / "evaluated.json").read_text())
        assert evaluated["checkpoint"] == str(folder / "best.pt")
        assert (folder / "02_train.ipynb").is_file() and (folder / "03_evaluate.ipynb").is_file()  # papermill's copies

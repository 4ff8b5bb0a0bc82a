"""Training as the papers train, on a CPU, one GPU or many (``torchrun``), resumable to the step.

Recipes (``Config.recipe``; by default the one the model declares, :mod:`ndic.recipes`):

- ``ndic_cam`` (NDIC-CAM ``main.py``): one Adam with ``amsgrad`` over the model's parameters, no
  gradient clipping, ReduceLROnPlateau(factor 0.1, patience 10, min_lr 1e-7) stepped on the
  validation loss after every epoch, batch 1, lambda * 255**2 * D + bpp.
- ``stf`` (STF ``train.py``, CompressAI's example trainer): Adam(1e-4) over the main parameters,
  clip_grad_norm 1.0, ReduceLROnPlateau(factor 0.3, patience 4), batch 16 of 256x256 random crops.

Both use CompressAI's second optimiser when the model has entropy-bottleneck ``quantiles``: Adam
(``aux_lr``, 1e-3) on ``model.aux_loss()``, stepped after the main step. The quantiles never enter
the rate-distortion loss; they only place the coder's CDF tables, which real bitstreams need. The
original NDIC-CAM has no quantiles (no real coder), so this step is the one addition to its recipe.

Run folder (``save_output_path``): ``checkpoint.pt`` (everything needed to continue, written
atomically after every epoch and every ``checkpoint_every`` steps), ``best.pt`` (lowest validation
loss, as both originals keep), ``train_log.csv`` (one row per ``log_every`` steps), ``val_log.csv``
(one row per validation), ``tb/`` (the same scalars as TensorBoard events; ``tensorboard: false`` turns
it off), ``config.yaml`` (the resolved configuration).

Exact resumption: the shuffling of epoch ``e`` depends only on (seed, e) (DistributedSampler
with ``set_epoch``), the loader resumes at the batch where the checkpoint was taken, and the RNG
states of python, numpy, torch and CUDA (of every rank) are restored, so in deterministic mode a
resumed run reproduces the uninterrupted one bit for bit (with ``workers=0``: with worker
processes, random crops depend on which worker loads which image).

Multi-GPU: ``torchrun --nproc_per_node N -m ndic train ...``; each process reads RANK, WORLD_SIZE
and LOCAL_RANK (``env://``), trains a DistributedDataParallel replica on its shard of every epoch,
and only rank 0 writes logs and checkpoints. ``train_batch_size`` is the global batch, as in both
originals, which split one batch over their GPUs with ``nn.DataParallel`` (so does CompressAI's example
trainer): each of N processes takes ``train_batch_size / N`` (an error when N does not divide it);
``batch_per_process: True`` makes it each process's batch instead.

Stopping (:data:`ndic.recipes.STOPPING`): ``epochs`` or ``steps``, whichever comes first; ``lr_drop_at``
sets the learning rate to ``lr_drop_to`` after that many steps (STF's author's schedule; the plateau
schedule is then off); ``stop_patience`` ends the run after that many epochs without a new best
validation loss, counted only at the minimum learning rate with ``stop_at_min_lr`` (NDIC-CAM's
ReduceLROnPlateau has then nothing left to try).

Why this module is long: :class:`Trainer` is one state machine (steps, validation, schedule,
checkpoints, exact resumption, DDP) whose parts read and write the same state; the pieces that stand
alone live elsewhere (:mod:`ndic.optim`, :mod:`ndic.seeding`, :mod:`ndic.logs`, :mod:`ndic.checkpoint`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, Subset

from . import _compat  # noqa: F401  (before compressai)
from .checkpoint import CHECKPOINT_FORMAT, build_model, load_model
from .config import Config, ConfigError
from .io import atomic_torch_save, atomic_write_text, remove_stale_temporaries
from .logs import STEP_COLUMNS, VAL_COLUMNS, CsvLog, Progress, TensorBoardLog
from .losses import RateDistortionLoss
from .optim import keep_entropy_models_fp32, make_optimizers
from .seeding import deterministic_mode, rng_state, seed_everything, seed_worker, set_rng_state


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the run stopped before the bad step touched anything."""


# ---------------------------------------------------------------------------- data
SINGLE_IMAGE_SETS = ("images", "kodak", "photos")  # ndic.data sets of single photographs that training crops


def load_datasets(config: Config, distributed_model: bool) -> tuple[Any, Any | None]:
    """(train, validation) datasets of ``ndic.data`` for a resolved configuration."""
    from . import data

    def load(split: str):
        opts: dict[str, Any] = {}
        if config.dataset_name == "default":  # NDIC-CAM trains its single-image baselines on the pairs' x too
            opts["stereo"] = config.trains_on_pairs
        single = config.dataset_name in SINGLE_IMAGE_SETS
        if config.crop and (single or config.dataset_name == "default") and not distributed_model:
            opts["crop"] = config.crop  # random crops for training, centre crops for validation (as STF)
        # NDIC-CAM's resize is the preprocessing of its stereo pairs; photographs are cropped, never squashed
        size = None if single else config.resize
        return data.load(config.dataset_name, split, root=config.dataset_path, size=size, **opts)

    train_set = load("train")
    if distributed_model and not getattr(train_set, "stereo", False):
        raise ConfigError(
            f"model {config.model!r} is distributed: it needs stereo pairs, but dataset {config.dataset_name!r} "
            "gives single images (use kitti_stereo, kitti_general, cityscape or default)"
        )
    val_set = None
    if config.val_split and config.val_split.lower() != "none":
        val_set = load(config.val_split)
        if config.val_limit:
            val_set = Subset(val_set, range(min(config.val_limit, len(val_set))))
    return train_set, val_set


def split_batch(batch, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(x, side or None) on ``device`` from a batch of images or of (x, y) pairs."""
    x, y = (batch[0], batch[1]) if isinstance(batch, (list, tuple)) else (batch, None)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = x.to(device, non_blocking=True).float().contiguous(memory_format=fmt)
    if y is not None:
        y = y.to(device, non_blocking=True).float().contiguous(memory_format=fmt)
    return x, y


class _Resume(torch.utils.data.Sampler):
    """A sampler's indices from position ``start`` on (to continue an epoch where a checkpoint was taken)."""

    def __init__(self, sampler, start: int) -> None:
        self.sampler, self.start = sampler, start

    def __iter__(self):
        return iter(list(self.sampler)[self.start :])

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.start)


def _psnr_from_mse(mse: float) -> float:
    """PSNR of float images in [0, 1] (training monitor; evaluation rounds to 8 bits)."""
    return 10 * math.log10(1 / mse) if mse > 0 else math.inf


# ---------------------------------------------------------------------------- the trainer
@dataclasses.dataclass
class TrainState:
    step: int = 0  # optimiser steps done
    epoch: int = 0  # current epoch
    batch_in_epoch: int = 0  # batches of the current epoch done
    best_val_loss: float = math.inf
    epoch_loss_sum: float = 0.0  # training loss of the current epoch (the schedule's signal without validation)
    stale_epochs: int = 0  # epochs since the last new best validation loss (stop_patience counts them)


class Trainer:
    """Trains ``model`` (default: built from ``config``) on ``train_set`` (default: ``ndic.data``).

    >>> trainer = Trainer(load_config(profile="quick", model="bls17"))
    >>> trainer.fit()            # returns the last validation metrics
    >>> trainer.model            # the trained model (not wrapped)

    ``callback(trainer, metrics)`` runs after every step (after its checkpoint, if any): a notebook
    plots with it, a test raises from it to simulate a killed run.
    """

    def __init__(self, config: Config, model=None, train_set=None, val_set=None) -> None:
        self.config = cfg = config.resolved()
        self.rank, self.world_size, self.local_rank = _init_distributed(cfg)
        self.device = _device(cfg, self.local_rank)
        self.is_main = self.rank == 0
        self.batch_size = per_process_batch(cfg, self.world_size)  # of this process
        if cfg.lr_drop_at and cfg.lr_drop_to is None:
            raise ConfigError(f"lr_drop_at is {cfg.lr_drop_at} but lr_drop_to is not set; give the learning rate")
        seed_everything(cfg.seed + self.rank)

        model_class = type(model) if model is not None else cfg.model_class
        self.distributed_model = bool(getattr(model_class, "distributed", False))
        if train_set is None:  # data first: a missing dataset fails before a large model is built
            train_set, loaded_val = load_datasets(cfg, self.distributed_model)
            val_set = loaded_val if val_set is None else val_set
        self.train_set, self.val_set = train_set, val_set
        self.model = (model if model is not None else build_model(cfg)).to(self.device)
        if cfg.load_weight and model is None:
            self.model.load_state_dict(load_model(cfg.weight_path, cfg).state_dict())

        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.amp_dtype = _amp_dtype(self.device) if cfg.amp else None
        if cfg.amp:
            keep_entropy_models_fp32(self.model)
        self.criterion = RateDistortionLoss.from_config(cfg)
        self.optimizer, self.aux_optimizer, self.scheduler = make_optimizers(self.model, cfg)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.forward = self._wrap(self.model)
        self.state = TrainState()

        self.out_dir = cfg.out_dir
        self.checkpoint_path = self.out_dir / "checkpoint.pt"
        self.best_path = self.out_dir / "best.pt"
        writes = self.is_main and cfg.save_weights
        self.step_log = CsvLog(self.out_dir / "train_log.csv", STEP_COLUMNS, self.is_main)
        self.val_log = CsvLog(self.out_dir / "val_log.csv", VAL_COLUMNS, self.is_main)
        self.tb_log = TensorBoardLog(self.out_dir / "tb", self.is_main and cfg.tensorboard)
        self._writes_checkpoints = writes
        self._last_saved_step = -1
        if self.is_main:  # temporaries of a run killed while writing a checkpoint (up to ~1 GB each)
            for name in ("checkpoint.pt", "best.pt"):
                for path in remove_stale_temporaries(self.out_dir, name):
                    self._print(f"removed {path.name}, left by a run killed while writing {name}")
        if not self._resume():
            self.step_log.reset()
            self.val_log.reset()
            self.tb_log.reset()
        if self.is_main:
            atomic_write_text(self.out_dir / "config.yaml", _yaml(cfg.to_dict()))

    # ------------------------------------------------------------------ setup helpers
    def _wrap(self, model):
        forward = model
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            # find_unused_parameters: the side decoder of a distributed model gets no gradient when
            # alpha == 0 (as in the original), nor w's entropy model when beta == 0; CompressAI's
            # quantiles take part in the forward of some models (STF/WACNN use the medians) and not in
            # others. Their aux gradient comes from synchronised weights, identical on every rank.
            ids = [self.device.index] if self.device.type == "cuda" else None
            forward = DDP(model, device_ids=ids, find_unused_parameters=True)
        if self.config.compile:
            forward = torch.compile(forward)
        return forward

    def _resume(self) -> bool:
        """Continue from the checkpoint ``config.resume`` names; False when the run starts from scratch."""
        cfg = self.config
        if not cfg.resume:
            return False
        path = self.checkpoint_path if cfg.resume is True else Path(cfg.resume)
        if not path.is_file():
            if cfg.resume is True:
                self._print(f"no checkpoint at {path}: starting from scratch")
                return False
            raise FileNotFoundError(f"--resume {path}: no such checkpoint")
        # on the CPU: RNG states must stay CPU tensors; the optimisers move their state to the parameters
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a training checkpoint of this project; use load_weight for weights")
        if ckpt["model"] != self.model.registry_name or ckpt["model_config"] != self.model.config:
            raise ValueError(
                f"{path} holds {ckpt['model']} {ckpt['model_config']}, but this run builds "
                f"{self.model.registry_name} {self.model.config}; resume with the same model"
            )
        self.model.load_state_dict(ckpt["state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.aux_optimizer is not None and ckpt.get("aux_optimizer") is not None:
            self.aux_optimizer.load_state_dict(ckpt["aux_optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self._apply_new_rates(ckpt.get("config") or {})
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.state = TrainState(**ckpt["state"])
        states = ckpt["rng"]
        if len(states) == self.world_size:
            set_rng_state(states[self.rank])
        else:
            self._print(f"checkpoint from {len(states)} processes, now {self.world_size}: RNG streams restart")
        self._last_saved_step = self.state.step
        self.step_log.truncate_after(self.state.step)
        self.val_log.truncate_after(self.state.step)
        self.tb_log.truncate_after(self.state.step)
        self._print(f"resumed from {path} at step {self.state.step} (epoch {self.state.epoch})")
        if self.stop_reason() is not None:  # e.g. a finished run resumed: nothing would be trained, say so
            self._print(f"that run is over ({self.stop_reason()}): raise steps or epochs to train further")
        return True

    def _apply_new_rates(self, stored: dict[str, Any]) -> None:
        """A learning rate that differs from the one the checkpoint's run was configured with replaces the
        optimiser's restored (possibly scheduled) rate: lowering lr is how a run that diverged goes on. The
        run's config.yaml, its checkpoints and the lr column of its logs then show the new rate."""
        for name, words, optimizer in (("lr", "learning rate", self.optimizer),
                                       ("aux_lr", "aux learning rate", self.aux_optimizer)):  # fmt: skip
            new, old = getattr(self.config, name), stored.get(name)
            if optimizer is None or new is None or old is None or new == old:
                continue  # the same configuration: the schedule's rate stays, for an exact continuation
            was = optimizer.param_groups[0]["lr"]
            for group in optimizer.param_groups:
                group["lr"] = new
            self._print(f"{words} {new:g} replaces the checkpoint's {was:g} (its run was configured with {old:g})")

    def _print(self, *args) -> None:
        if self.is_main:
            print(*args, flush=True)

    # ------------------------------------------------------------------ data loaders
    def _loader(self, dataset, batch_size: int, epoch: int, start_batch: int, shuffle: bool) -> DataLoader:
        cfg = self.config
        if shuffle:
            sampler = DistributedSampler(dataset, self.world_size, self.rank, shuffle=True, seed=cfg.seed)
            sampler.set_epoch(epoch)  # the order of an epoch depends on (seed, epoch) only
            sampler = _Resume(sampler, start_batch * batch_size)
        else:  # validation: every image exactly once over all ranks
            sampler = range(self.rank, len(dataset), self.world_size)
        generator = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)  # spares the global RNG
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=cfg.workers,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=seed_worker,
            generator=generator,
        )

    def batches_per_epoch(self) -> int:
        per_rank = math.ceil(len(self.train_set) / self.world_size)
        return math.ceil(per_rank / self.batch_size)

    # ------------------------------------------------------------------ one step
    def _reduce(self, values: torch.Tensor) -> list[float]:
        """Mean over ranks (one small all-reduce; it also makes every rank see a NaN of any rank)."""
        values = values.detach().double()
        if self.world_size > 1:
            dist.all_reduce(values)
            values = values / self.world_size
        return values.tolist()  # one device synchronisation per step

    def train_step(self, batch) -> dict[str, float]:
        cfg = self.config
        self.model.train()
        x, side = split_batch(batch, self.device, cfg.channels_last)
        self.optimizer.zero_grad(set_to_none=True)
        if self.aux_optimizer is not None:
            self.aux_optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            output = self.forward(x, side) if self.distributed_model else self.forward(x)
        losses = self.criterion(output, x, side)
        names = ["loss", "bpp_loss", "bpp", "distortion", "mse"]
        values = self._reduce(torch.stack([losses[k].float() for k in names]))
        metrics = dict(zip(names, values, strict=True))
        if not all(math.isfinite(v) for v in values):
            raise NonFiniteLossError(
                f"the loss became non-finite at step {self.state.step + 1} (epoch {self.state.epoch}): "
                + ", ".join(f"{k}={v:.6g}" for k, v in metrics.items())
                + f". Nothing was saved after it; the last good checkpoint is {self._last_good()}. "
                + self._advice()
            )
        self.scaler.scale(losses["loss"]).backward()
        if cfg.clip_max_norm and cfg.clip_max_norm > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_max_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        metrics["aux_loss"] = math.nan
        if self.aux_optimizer is not None:
            aux_loss = self.model.aux_loss()
            aux_loss.backward()
            self.aux_optimizer.step()
            metrics["aux_loss"] = float(aux_loss.detach())
        metrics["psnr"] = _psnr_from_mse(metrics["mse"])
        metrics["ms_ssim"] = float(losses["ms_ssim"]) if "ms_ssim" in losses else math.nan
        return metrics

    def _advice(self) -> str:
        """How to go on after a non-finite loss or weights (a new lr given on resume replaces the optimiser's)."""
        lower = self.optimizer.param_groups[0]["lr"] / 10
        return (
            f"To go on, continue with --resume --lr {lower:g} (a tenth of the current rate), "
            "and/or enable clip_max_norm or turn amp off."
        )

    def _check_finite_weights(self) -> None:
        """Refuse to save weights that an optimiser step blew up: that step's loss was still finite, so only
        the weights show it, and a checkpoint of them would replace the last good one."""
        finite = torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all()
        if bool(finite):  # one device synchronisation per checkpoint
            return
        bad = next(name for name, p in self.model.named_parameters() if not torch.isfinite(p).all())
        raise NonFiniteLossError(
            f"the weights became non-finite at step {self.state.step} (epoch {self.state.epoch}; {bad}, among "
            f"others maybe) and were not saved; the last good checkpoint is {self._last_good()}. {self._advice()}"
        )

    def _last_good(self) -> str:
        if not self._writes_checkpoints:
            return "none (save_weights is off)"
        if self._last_saved_step < 0:
            return f"none yet ({self.checkpoint_path} is written after the first epoch or checkpoint_every steps)"
        return f"{self.checkpoint_path} (step {self._last_saved_step}), left intact"

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss terms over the validation set (every rank takes a share; the means are exact)."""
        cfg = self.config
        if self.val_set is None:
            raise ValueError("no validation set: this run has val_split 'none' and none was given")
        self.model.eval()
        names = ["loss", "bpp_loss", "bpp", "distortion", "mse", "ms_ssim"]
        sums = torch.zeros(len(names) + 1, dtype=torch.float64, device=self.device)
        loader = self._loader(self.val_set, cfg.val_batch_size, 0, 0, shuffle=False)
        for batch in loader:
            x, side = split_batch(batch, self.device, cfg.channels_last)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                output = self.model(x, side) if self.distributed_model else self.model(x)
            losses = self.criterion(output, x, side)
            n = x.shape[0]
            row = [float(losses[k]) if k in losses else 0.0 for k in names]
            sums += torch.tensor([v * n for v in row] + [n], dtype=torch.float64, device=self.device)
        if self.world_size > 1:
            dist.all_reduce(sums)
        count = float(sums[-1])
        if count == 0:
            raise ValueError("the validation set is empty; set val_split to 'none' to train without one")
        metrics = dict(zip(names, (sums[:-1] / count).tolist(), strict=True))
        if self.criterion.distortion != "MS-SSIM":
            metrics["ms_ssim"] = math.nan
        metrics["psnr"] = _psnr_from_mse(metrics["mse"])
        metrics["images"] = int(count)
        if not math.isfinite(metrics["loss"]):
            raise NonFiniteLossError(
                f"the validation loss is {metrics['loss']} at step {self.state.step}; "
                f"the last good checkpoint is {self._last_good()}. {self._advice()}"
            )
        return metrics

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to continue exactly (RNG states of every rank included)."""
        rng = [rng_state()]
        if self.world_size > 1:
            rng = [None] * self.world_size
            dist.all_gather_object(rng, rng_state())
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.registry_name,
            "model_config": self.model.config,
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "aux_optimizer": self.aux_optimizer.state_dict() if self.aux_optimizer is not None else None,
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "state": dataclasses.asdict(self.state),
            "step": self.state.step,
            "epoch": self.state.epoch,
            "lmbda": self.config.lmbda,
            "rng": rng,
            "config": self.config.to_dict(),
            "world_size": self.world_size,
            "torch": str(torch.__version__),
        }

    def save_checkpoint(self) -> None:
        if not self.config.save_weights:
            return
        self._check_finite_weights()  # never replace a good checkpoint by blown-up weights
        ckpt = self.checkpoint()  # every rank takes part (RNG gathering)
        if self.is_main:
            atomic_torch_save(ckpt, self.checkpoint_path)
        self._last_saved_step = self.state.step

    def _save_best(self, val_loss: float) -> None:
        """The weights with the lowest validation loss (loadable by :func:`load_model`)."""
        if self._writes_checkpoints:
            self._check_finite_weights()
            ckpt = {
                "format": CHECKPOINT_FORMAT,
                "model": self.model.registry_name,
                "model_config": self.model.config,
                "state_dict": self.model.state_dict(),
                "step": self.state.step,
                "epoch": self.state.epoch,
                "val_loss": val_loss,
                "lmbda": self.config.lmbda,
                "config": self.config.to_dict(),
            }
            atomic_torch_save(ckpt, self.best_path)

    # ------------------------------------------------------------------ the loop
    def _done(self) -> bool:
        return self.stop_reason() is not None

    def stop_reason(self) -> str | None:
        """Why training is over (None while it is not): the epochs, the step cap or the patience rule."""
        cfg, state = self.config, self.state
        if state.epoch >= cfg.epochs:
            return f"{cfg.epochs} epochs done"
        if cfg.steps is not None and state.step >= cfg.steps:
            return f"{cfg.steps} steps done"
        if cfg.stop_patience and state.stale_epochs >= cfg.stop_patience:
            where = f" at the minimum learning rate {cfg.min_lr:g}" if cfg.stop_at_min_lr else ""
            return f"no new best validation loss in {state.stale_epochs} epochs{where}"
        return None

    def fit(self, callback: Callable[[Trainer, dict], None] | None = None) -> dict[str, float]:
        """Train until ``epochs`` or ``steps``; returns the last validation metrics (or step metrics).

        Progress (``config.progress``, rank 0): a bar in a terminal or notebook, plain lines in a batch log
        (:class:`ndic.logs.Progress`); off, only the closing line below is printed.
        """
        cfg = self.config
        per_epoch = self.batches_per_epoch()
        total = cfg.epochs * per_epoch if cfg.steps is None else min(cfg.steps, cfg.epochs * per_epoch)
        progress = Progress(total, self.state.step, cfg.experiment_name, cfg.progress and self.is_main)
        last: dict[str, float] = {}
        try:
            with deterministic_mode(cfg.deterministic):
                while not self._done():
                    last = self._run_epoch(per_epoch, progress, callback) or last
                    if self.state.batch_in_epoch < per_epoch:
                        break  # stopped by the step budget inside an epoch
                    last = self._end_epoch(last)
                if self._last_saved_step != self.state.step:
                    self.save_checkpoint()
                self._check_replicas()
        finally:
            progress.close()
            self.tb_log.close()  # flushed: the events of a finished (or failed) run are on disk
        self._print(f"stopped at step {self.state.step} (epoch {self.state.epoch}): {self.stop_reason()}")
        return last

    def _run_epoch(self, per_epoch: int, progress: Progress, callback) -> dict[str, float]:
        """The remaining batches of the current epoch (or fewer, when the step budget runs out)."""
        cfg, state = self.config, self.state
        batches = iter(self._loader(self.train_set, self.batch_size, state.epoch, state.batch_in_epoch, True))
        last: dict[str, float] = {}
        while state.batch_in_epoch < per_epoch:
            if cfg.steps is not None and state.step >= cfg.steps:
                break  # checked before loading the batch: loading draws the random crops
            tick = time.perf_counter()
            self._step_down_lr()
            batch = next(batches)
            last = self.train_step(batch)
            state.step += 1
            state.batch_in_epoch += 1
            state.epoch_loss_sum += last["loss"]
            images = (batch[0] if isinstance(batch, (list, tuple)) else batch).shape[0] * self.world_size
            last.update(step=state.step, epoch=state.epoch, lr=self.optimizer.param_groups[0]["lr"],
                        images_per_s=images / (time.perf_counter() - tick))  # fmt: skip
            if state.step % cfg.log_every == 0:
                self.step_log.write(last)
                self.tb_log.write("train", last)
            progress.update(last, images)
            if cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()
            if cfg.val_every and state.step % cfg.val_every == 0 and self.val_set is not None:
                lr = self.optimizer.param_groups[0]["lr"]
                self._log_validation(dict(self.validate(), step=state.step, epoch=state.epoch, lr=lr))
            if callback is not None:
                callback(self, last)
        return last

    def _log_validation(self, metrics: dict[str, float]) -> None:
        self.val_log.write(metrics)
        self.tb_log.write("val", metrics)

    def _check_replicas(self) -> None:
        """DDP keeps replicas identical; a difference (e.g. unsynchronised buffers) is an error, not a surprise."""
        if self.world_size == 1:
            return
        total = sum(float(p.detach().double().sum()) for p in self.model.parameters())
        sums = [None] * self.world_size
        dist.all_gather_object(sums, total)
        if len(set(sums)) != 1:
            raise RuntimeError(f"the DDP replicas differ after training: parameter sums {sums}")

    def _step_down_lr(self) -> None:
        """STF's schedule: the learning rate becomes ``lr_drop_to`` once ``lr_drop_at`` steps are done.

        Set from the step count alone, so a resumed run gets the same rate wherever it restarts."""
        cfg = self.config
        if cfg.lr_drop_at and self.state.step >= cfg.lr_drop_at:
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.lr_drop_to

    def _count_stale_epoch(self, improved: bool, lr_of_epoch: float) -> None:
        """Epochs without a new best; with ``stop_at_min_lr`` only those run at the minimum learning rate."""
        cfg, state = self.config, self.state
        at_min_lr = cfg.min_lr is not None and lr_of_epoch <= cfg.min_lr * (1 + 1e-6)
        if improved or (cfg.stop_at_min_lr and not at_min_lr):
            state.stale_epochs = 0
        else:
            state.stale_epochs += 1

    def _end_epoch(self, last: dict[str, float]) -> dict[str, float]:
        """Validate, step the schedule on the validation loss, keep the best weights, checkpoint."""
        cfg, state = self.config, self.state
        if self.val_set is not None:
            metrics = self.validate()
            metrics.update(step=state.step, epoch=state.epoch, lr=self.optimizer.param_groups[0]["lr"])
            self._log_validation(metrics)
            tracked = metrics["loss"]
        else:  # no validation set: the schedule follows the mean training loss of the epoch
            metrics, tracked = dict(last), state.epoch_loss_sum / max(state.batch_in_epoch, 1)
        lr_of_epoch = self.optimizer.param_groups[0]["lr"]
        if not cfg.lr_drop_at:  # a fixed step-down replaces the plateau schedule
            self.scheduler.step(tracked)
        improved = tracked < state.best_val_loss
        if improved:
            state.best_val_loss = tracked
            self._save_best(tracked)
        self._count_stale_epoch(improved, lr_of_epoch)
        if cfg.verbose_period > 0 and (state.epoch + 1) % cfg.verbose_period == 0 and self.val_set is not None:
            self._print(
                f"epoch {state.epoch + 1} step {state.step}: loss {metrics['loss']:.4f} bpp {metrics['bpp_loss']:.4f} "
                f"transmitted bpp (estimated) {metrics['bpp']:.4f} PSNR {metrics['psnr']:.2f} dB"
                + (f" MS-SSIM {metrics['ms_ssim']:.4f}" if math.isfinite(metrics["ms_ssim"]) else "")
            )
        state.epoch += 1
        state.batch_in_epoch = 0
        state.epoch_loss_sum = 0.0
        self.save_checkpoint()
        return metrics

    def close(self) -> None:
        """Close the TensorBoard writer; leave the process group (torchrun runs)."""
        self.tb_log.close()
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def per_process_batch(config: Config, world_size: int) -> int:
    """Each process's batch: the global ``train_batch_size`` split over ``world_size`` processes, as the
    originals' DataParallel splits it, or ``train_batch_size`` itself with ``batch_per_process``."""
    batch = config.train_batch_size
    if config.batch_per_process or world_size == 1:
        return batch
    if batch % world_size:
        raise ConfigError(
            f"train_batch_size {batch} is the global batch and does not divide over {world_size} processes; "
            f"use a multiple of {world_size} (or batch_per_process: True for {batch} per process)"
        )
    return batch // world_size


def train(config: Config, model=None, train_set=None, val_set=None, callback=None) -> Trainer:
    """Build a :class:`Trainer`, run it, return it (``.model``, ``.state``, the run folder)."""
    trainer = Trainer(config, model=model, train_set=train_set, val_set=val_set)
    trainer.fit(callback)
    return trainer


# ---------------------------------------------------------------------------- process setup
def _init_distributed(config: Config) -> tuple[int, int, int]:
    """(rank, world size, local rank); joins the torchrun process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        use_cuda = config.device != "cpu" and config.cuda is not False and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", init_method="env://")
    return dist.get_rank(), dist.get_world_size(), local_rank


def _device(config: Config, local_rank: int) -> torch.device:
    device = config.resolve_device()
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def _amp_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where the device has it (no loss scaling needed), float16 otherwise."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16


def _yaml(values: dict) -> str:
    import yaml

    return yaml.safe_dump(values, sort_keys=False)

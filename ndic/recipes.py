"""The two papers' training recipes and the data each profile trains on, as plain data.

A model names the recipe it follows (``recipe`` class attribute, see :mod:`ndic.models.base`);
:class:`ndic.config.Config` fills every unset field from it. Nothing here imports torch, so the
command line and the configuration can read it cheaply.

- ``ndic_cam``: NDIC-CAM's ``main.py`` (one Adam with amsgrad, no clipping, ReduceLROnPlateau(0.1,
  10, 1e-7) on the validation loss, batch 1, KITTI Stereo at 128x256, lambda * 255**2 * D + bpp).
- ``stf``: STF's ``train.py``, CompressAI's example trainer (Adam 1e-4 + an auxiliary Adam on the
  quantiles, clipping 1.0, ReduceLROnPlateau(0.3, 4), batch 16 of 256x256 crops).

Batches are global, as in both originals (``nn.DataParallel`` splits one batch over the GPUs): under
``torchrun`` every process takes ``train_batch_size / world_size``.

When a paper-profile run stops (:data:`STOPPING`): the originals' epoch counts are nominal maxima
nobody ran (NDIC-CAM's 50,000 epochs are 78.8M steps on KITTI Stereo's 1576 pairs, 149M on
Cityscapes' 2975; STF's ``-e 1000`` is 18.75M steps of batch 16 on 300k images), so each recipe gets
a stopping rule it can defend. :data:`FINETUNE` is CompressAI's recipe for MS-SSIM models.
"""

from __future__ import annotations

PROFILES = ("paper", "cpu", "quick")
DISTORTIONS = ("MSE", "MS-SSIM")

# The optimisation recipes. NDIC-CAM: main.py. STF: train.py (CompressAI's example trainer).
RECIPES = {
    "ndic_cam": dict(
        epochs=50000,
        train_batch_size=1,
        val_batch_size=1,  # main.py validates with the training batch size
        lr=1e-4,
        amsgrad=True,  # one Adam(amsgrad=True) over every parameter
        aux_lr=1e-3,  # only for the quantiles of our CompressAI entropy models (the original has none)
        clip_max_norm=0.0,  # no clipping
        lr_factor=0.1,  # ReduceLROnPlateau(factor=0.1, patience=10, min_lr=1e-7) on the validation loss
        lr_patience=10,
        min_lr=1e-7,
        msssim_scale=255.0**2,  # loss = lmbda * distortion * 255**2 + bpp, for MS-SSIM as well
        msssim_win_size=7,
        workers=3,  # DataLoader(num_workers=3)
        val_split="val",
    ),
    "stf": dict(
        epochs=1000,  # README: -e 1000
        train_batch_size=16,
        val_batch_size=64,  # --test-batch-size
        lr=1e-4,
        amsgrad=False,
        aux_lr=1e-3,  # --aux-learning-rate, Adam over the quantiles, stepped after the main step
        clip_max_norm=1.0,
        lr_factor=0.3,  # ReduceLROnPlateau(factor=0.3, patience=4) on the test-split loss
        lr_patience=4,
        min_lr=0.0,
        msssim_scale=1.0,  # CompressAI's MS-SSIM loss: lmbda * (1 - MS-SSIM) + bpp
        msssim_win_size=11,
        workers=8,
        val_split="test",  # STF validates on the ImageFolder's test split
    ),
}

# When a paper-profile run stops (part of SETUPS["paper"]; the quick profile has its own step budget).
STOPPING = {
    # STF's author (Googolxx/STF issues #3 and #27): training stopped after about 100 epochs of the 300k
    # images, 1.4-1.8M iterations of batch 16, at lr 1e-4 and then 1e-5 for the last ~20 epochs. Counted in
    # steps because an epoch depends on the image folder: 1.8M steps, the step-down for the last 20 %. With
    # a fixed step-down the plateau schedule is off (the author set the learning rate by hand).
    "stf": dict(steps=1_800_000, lr_drop_at=1_440_000, lr_drop_to=1e-5),
    # NDIC-CAM publishes no training length. Its ReduceLROnPlateau(0.1, 10, 1e-7) runs down to min_lr, then
    # the run stops after lr_patience + 1 = 11 epochs without a new best validation loss at that rate (the
    # schedule would cut again but cannot). 2M steps is this project's hard cap, not the paper's: the order
    # of the 1-2M steps at the first learning rate that CompressAI documents for its models and of STF's.
    "ndic_cam": dict(steps=2_000_000, stop_patience=11, stop_at_min_lr=True),
}

# Optimiser steps of the cpu profile. Each model trains once from scratch at one lambda for CPU_STEPS, and every
# lambda of its curve, that one included, starts from that model's best weights for CPU_FINETUNE_STEPS (the usual
# way to reach several rates on a budget; the point at the first lambda continues it, so that all four points
# have had the same steps). Measured here (2 threads, batch 8): bls17 0.34 s, ndic_bls17 0.83 s, cross_attention
# 1.77 s and bmshj18 (192 crops) 0.67 s per step, so the 20 runs of ndic.cpu_reproduction.PLAN train in about
# (1800 + 4 x 600) x 3.61 s = 4.2 h, plus validation and tests. 900 steps from scratch per lambda (this
# profile's first version) left every lambda at the same rate: the rate was still falling at the last step.
CPU_STEPS = 1800
CPU_FINETUNE_STEPS = 600
CPU_LR, CPU_LR_LAST = 3e-4, 3e-5  # the last fifth of each run at the second

# What each profile trains on, per recipe (the paper's data, widths and first lambda).
SETUPS = {
    "paper": {
        # configs/config.yaml; README "Lambda Values", KITTI Stereo
        "ndic_cam": dict(dataset_name="kitti_stereo", resize=[128, 256], num_filters=192, lmbda=3e-5,
                         distortion_loss="MS-SSIM", crop=None, **STOPPING["ndic_cam"]),
        # README: --lambda 0.0035; RandomCrop(256)
        "stf": dict(dataset_name="images", resize=None, lmbda=0.0035, distortion_loss="MSE", crop=256,
                    **STOPPING["stf"]),
    },
    # The CPU-scale reproduction (ndic.cpu_reproduction): the papers' architectures at reduced widths on real
    # photographs and stereo pairs installed by `make photos`, a budget that 2 CPU cores train in hours. Each
    # run steps its learning rate down for its last fifth (no plateau schedule at this budget). lr 3e-4 with
    # gradients clipped to norm 1 (CompressAI's example trainer): at 5e-4 unclipped, ndic_bls17 collapsed at
    # step 658 (MS-SSIM 0, outputs of 1e13: MS-SSIM's clipped terms then give no gradient to recover with).
    "cpu": {
        "ndic_cam": dict(dataset_name="stereo_train", resize=[128, 256], num_filters=64, lmbda=1e-4,
                         distortion_loss="MS-SSIM", crop=None, steps=CPU_STEPS, lr=CPU_LR,
                         lr_drop_at=CPU_STEPS * 4 // 5, lr_drop_to=CPU_LR_LAST, clip_max_norm=1.0,
                         train_batch_size=8, workers=0, val_limit=32, val_batch_size=8),
        "stf": dict(dataset_name="photos", resize=None, lmbda=0.0067, distortion_loss="MSE", crop=128,
                    steps=CPU_STEPS, lr=CPU_LR, lr_drop_at=CPU_STEPS * 4 // 5, lr_drop_to=CPU_LR_LAST,
                    clip_max_norm=1.0, train_batch_size=8, workers=0, val_limit=16, val_batch_size=4),
    },
    # embedded data, small widths, a bounded number of steps: minutes on a CPU, never a paper result
    "quick": {
        "ndic_cam": dict(dataset_name="default", resize=[128, 256], num_filters=32, lmbda=1e-4,
                         distortion_loss="MS-SSIM", crop=None, steps=300, train_batch_size=4, lr=1e-3,
                         workers=0, val_limit=4, val_batch_size=2),
        "stf": dict(dataset_name="default", resize=None, lmbda=0.0067, distortion_loss="MSE", crop=128,
                    steps=100, train_batch_size=2, lr=1e-3, workers=0, val_limit=4, val_batch_size=2),
    },
}  # fmt: skip

# CompressAI's MS-SSIM models start from the MSE model of the same quality and are fine-tuned at lr 1e-5,
# for the main and the auxiliary optimiser alike (InterDigitalInc/CompressAI, docs/source/zoo.rst, commit
# a065b9ef). How long is not documented: here as long as STF's 1e-5 phase (360k steps), plateau schedule on.
FINETUNE = dict(lr=1e-5, aux_lr=1e-5, steps=360_000, lr_drop_at=0)

# Whether a recipe trains single-image models on the x of stereo pairs (NDIC-CAM compares its
# baselines on the same pairs) or on single photographs (STF/CompressAI).
TRAINS_ON_PAIRS = {"ndic_cam": True, "stf": False}

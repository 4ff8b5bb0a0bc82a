"""The papers' optimisers and learning-rate schedule, and the float32 guard of entropy models under AMP.

Both recipes use one Adam over the main parameters (NDIC-CAM with ``amsgrad``) and CompressAI's second
Adam over the entropy bottlenecks' ``quantiles`` (``aux_lr``), with ReduceLROnPlateau on the validation loss.
"""

from __future__ import annotations

import functools

import torch

from .config import Config


def split_parameters(model: torch.nn.Module) -> tuple[list, list]:
    """(main parameters, entropy-bottleneck quantiles), as CompressAI's ``configure_optimizers``."""
    main, aux = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (aux if name.endswith(".quantiles") else main).append(param)
    return main, aux


def make_optimizers(model: torch.nn.Module, config: Config):
    """The recipe's optimiser, the auxiliary one (None without quantiles) and the LR schedule."""
    main, aux = split_parameters(model)
    optimizer = torch.optim.Adam(main, lr=config.lr, amsgrad=bool(config.amsgrad))
    aux_optimizer = torch.optim.Adam(aux, lr=config.aux_lr) if aux else None
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.lr_factor, patience=config.lr_patience, min_lr=config.min_lr
    )
    return optimizer, aux_optimizer, scheduler


def keep_entropy_models_fp32(model: torch.nn.Module) -> None:
    """Run entropy models in float32 under autocast: bf16 likelihoods lose the rate (log p) entirely."""
    from compressai.entropy_models import EntropyModel

    def fp32(forward):
        @functools.wraps(forward)
        def wrapped(*args, **kwargs):
            tensors = [a for a in args if torch.is_tensor(a)]
            device_type = tensors[0].device.type if tensors else "cpu"
            cast = [a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args]
            with torch.autocast(device_type=device_type, enabled=False):
                return forward(*cast, **kwargs)

        return wrapped

    for module in model.modules():
        if isinstance(module, EntropyModel):
            if not getattr(module.forward, "_ndic_fp32", False):
                module.forward = fp32(module.forward)
                module.forward._ndic_fp32 = True

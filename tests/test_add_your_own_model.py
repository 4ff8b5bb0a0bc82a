"""Adding a model: one class in one file (this one), registered, then trained, evaluated on real
bitstreams and compared in RD/BD tables by the package's own code. The book's "Add your own model"
section shows this file's :class:`TinyHyperprior`.
"""

import math

import pandas as pd
import pytest
import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import GDN
from compressai.models.utils import conv, deconv
from torch import nn

from ndic import models, plot, results
from ndic.codecs import get as get_codec
from ndic.codecs import runner
from ndic.config import load_config
from ndic.evaluate import evaluate_config
from ndic.models.base import ImageCodec, crop_padding, pad_to_multiple
from ndic.train import Trainer


# --8<-- [start:model]
class TinyHyperprior(ImageCodec):
    """A small scale-hyperprior codec (Ballé et al. 2018), written as a new user would add one.

    .. code-block:: none

        x ── pad ── g_a ── y ── Q ── GC(0, sigma) ── y_hat ── g_s ── crop ── x_hat
                           └─ |y| ── h_a ── z ── Q ── EB ── z_hat ── h_s ── sigma
    """

    stride = 16  # g_a down-samples by 4, h_a by 4 more
    recipe = "stf"  # CompressAI's example trainer, as STF trains (see ndic.recipes)
    paper = "Ballé et al., ICLR 2018"
    paper_distortion = "MSE"
    paper_lambdas = {"MSE": {"*": [0.0018, 0.0067, 0.0250, 0.0483]}}
    quick_config = {"N": 8, "M": 12}

    def __init__(self, N: int = 128, M: int = 192):
        super().__init__()
        self.config = {"N": N, "M": M}
        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, M))
        self.g_s = nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, 3))
        self.h_a = nn.Sequential(conv(M, N, 3, 2), nn.ReLU(), conv(N, N, 3, 2))
        self.h_s = nn.Sequential(deconv(N, N, 3, 2), nn.ReLU(), deconv(N, M, 3, 2), nn.ReLU())
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

    def forward(self, x):
        padded, padding = pad_to_multiple(x, self.stride)
        y = self.g_a(padded)
        z_hat, z_likelihoods = self.entropy_bottleneck(self.h_a(torch.abs(y)))
        y_hat, y_likelihoods = self.gaussian_conditional(y, self.h_s(z_hat))
        x_hat = crop_padding(self.g_s(y_hat), padding)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def compress(self, x):
        y = self.g_a(pad_to_multiple(x, self.stride)[0])
        z = self.h_a(torch.abs(y))
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        indexes = self.gaussian_conditional.build_indexes(self.h_s(z_hat))
        return {"strings": [self.gaussian_conditional.compress(y, indexes), z_strings], "shape": tuple(x.shape[-2:])}

    def decompress(self, strings, shape):
        height, width = shape
        z_size = (math.ceil(height / self.stride), math.ceil(width / self.stride))
        z_hat = self.entropy_bottleneck.decompress(strings[1], z_size)
        indexes = self.gaussian_conditional.build_indexes(self.h_s(z_hat))
        y_hat = self.gaussian_conditional.decompress(strings[0], indexes, z_hat.dtype)
        x_hat = self.g_s(y_hat).clamp(0, 1)
        top, left = (x_hat.shape[-2] - height) // 2, (x_hat.shape[-1] - width) // 2
        return {"x_hat": x_hat[..., top : top + height, left : left + width]}


# --8<-- [end:model]


@pytest.fixture
def registered():
    models.register("tiny_hyperprior")(TinyHyperprior)
    yield "tiny_hyperprior"
    models.unregister("tiny_hyperprior")


def test_a_model_defined_here_trains_evaluates_and_enters_the_bd_table(registered, tmp_path):
    assert registered in models.names() and models.get(registered).lambdas() == [0.0018, 0.0067, 0.0250, 0.0483]
    rows = []
    for lmbda in (0.0067, 0.0483):
        settings = dict(model=registered, profile="quick", lmbda=lmbda, steps=3, train_batch_size=2, crop=64,
                        val_split="none", progress=False, out_dir=str(tmp_path / f"run_{lmbda}"))  # fmt: skip
        trainer = Trainer(load_config(None, **settings))
        assert trainer.config.recipe == "stf" and trainer.model.config == {"N": 8, "M": 12}  # its own quick widths
        trainer.fit()
        assert (tmp_path / f"run_{lmbda}" / "checkpoint.pt").is_file()
        frame = evaluate_config(trainer.config, checkpoint=tmp_path / f"run_{lmbda}" / "checkpoint.pt",
                                out=tmp_path / "results" / f"tiny_{lmbda}.csv", limit=2)  # fmt: skip
        # a real bitstream: bytes counted, and its rate tracks the likelihood estimate
        assert (frame["bytes"] > 0).all() and (frame["bpp"] / frame["bpp_estimated"] - 1).abs().max() < 0.5
        rows.append(frame)

    # the same two images through JPEG, then one result folder, one figure and one BD table
    images = runner.load_images("default", limit=2)
    jpeg = runner.sweep(get_codec("jpeg"), images, [5, 20, 50, 90], "default", workers=1, cache=None, progress=False)
    results.write_rows(jpeg, tmp_path / "results" / "jpeg.csv", meta={"command": "test"})
    frame = results.load_results(tmp_path / "results")
    assert set(frame["method"]) == {registered, "jpeg"}
    figure = plot.rd_figure(frame, "default")
    assert registered in {line.get_label() for ax in figure.axes for line in ax.lines}
    table = plot.bd_tables(frame, "default", reference=get_codec("jpeg").label)
    assert registered in set(table["curve"])
    assert isinstance(pd.concat([table]), pd.DataFrame)


def test_a_class_that_lacks_part_of_the_contract_is_refused_at_registration():
    class Incomplete(ImageCodec):
        stride = 16

        def forward(self, x):
            return {"x_hat": x, "likelihoods": {}}

    with pytest.raises(models.ModelContractError) as error:
        models.register("incomplete")(Incomplete)
    message = str(error.value)
    for missing in ("compress()", "decompress()", "recipe", "paper_lambdas"):
        assert missing in message
    assert "incomplete" not in models.names()


def test_a_distributed_model_must_take_the_side_image():
    class NoSide(TinyHyperprior):
        distributed = True

    with pytest.raises(models.ModelContractError, match=r"decompress\(strings, shape, side=...\)"):
        models.register("no_side")(NoSide)


def test_a_model_without_config_fails_when_built(registered):
    class Forgetful(TinyHyperprior):
        def __init__(self):
            super().__init__(N=8, M=12)
            del self.config

    models.register("forgetful")(Forgetful)
    try:
        with pytest.raises(TypeError, match="sets no self.config"):
            models.build("forgetful")
    finally:
        models.unregister("forgetful")


def test_every_shipped_model_declares_its_paper_protocol():
    for name in models.names():
        cls = models.get(name)
        assert cls.recipe in ("ndic_cam", "stf") and cls.paper and cls.lambdas(dataset="kitti_stereo")
    assert models.get("cross_attention").lambdas("cityscape")[-1] == 0.00062
    assert models.get("stf").lambdas(distortion="MS-SSIM") == [2.40, 4.58, 8.73, 16.64, 31.73, 60.50]

"""ndic.data: decoding, NDIC-CAM's preprocessing against torchvision, the loaders, the embedded default."""

import shutil

import imagecodecs
import numpy as np
import pytest
import torch
from PIL import Image

import ndic.data as data
from ndic.data import embedded, stats, transforms
from ndic.data.decode import ImageReadError, read_rgb

TF = pytest.importorskip("torchvision.transforms.functional")  # the original's own transforms, as the reference


def reference_pair(path, size=(128, 256), crop=(370, 740)):
    """NDIC-CAM's PairKitti test transform, written with the torchvision calls the original makes."""
    image = Image.open(path)
    if crop is not None:
        image = TF.center_crop(image, crop)
    return TF.to_tensor(TF.resize(image, size))


def write_png(path, array):
    path.write_bytes(imagecodecs.png_encode(array))
    return path


# ---------------------------------------------------------------------------------------- decoding


def test_decode_converts_gray_alpha_and_16_bit_explicitly(tmp_path):
    gray16 = np.array([[0, 257, 65535], [32896, 128, 65280]], dtype=np.uint16)
    expected8 = np.array([[0, 1, 255], [128, 0, 254]], dtype=np.uint8)  # round(v / 257)
    rgb16 = np.stack([gray16, gray16[::-1], 65535 - gray16], axis=-1)
    rgba8 = np.random.default_rng(0).integers(0, 256, (2, 3, 4), dtype=np.uint8)

    assert np.array_equal(read_rgb(write_png(tmp_path / "g16.png", gray16)), np.repeat(expected8[..., None], 3, 2))
    got = read_rgb(write_png(tmp_path / "rgb16.png", rgb16))
    assert np.array_equal(got[..., 1], expected8[::-1]) and np.array_equal(got[..., 2], 255 - expected8)
    assert np.array_equal(read_rgb(write_png(tmp_path / "rgba.png", rgba8)), rgba8[..., :3])
    gray_alpha = np.stack([expected8, 255 - expected8], -1)
    assert np.array_equal(read_rgb(write_png(tmp_path / "la.png", gray_alpha)), np.repeat(expected8[..., None], 3, 2))
    # a palette PNG is expanded to its colours; a BMP goes through Pillow
    Image.fromarray(rgba8[..., :3]).convert("P").save(tmp_path / "p.png")
    assert np.array_equal(read_rgb(tmp_path / "p.png"), np.asarray(Image.open(tmp_path / "p.png").convert("RGB")))
    Image.fromarray(expected8).save(tmp_path / "g.bmp")
    assert np.array_equal(read_rgb(tmp_path / "g.bmp"), np.repeat(expected8[..., None], 3, 2))


def test_corrupt_images_raise_with_their_path(tmp_path):
    good = write_png(tmp_path / "good.png", np.zeros((64, 64, 3), np.uint8))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    for path in (truncated, garbage):
        with pytest.raises(ImageReadError, match=path.name):
            read_rgb(path)
    with pytest.raises(FileNotFoundError):
        read_rgb(tmp_path / "absent.png")


# ---------------------------------------------------------------------------------- preprocessing


def test_centre_crop_offset_rounds_half_to_even_like_torchvision():
    assert transforms.center_crop_offset(375, 370) == 2  # 2.5 -> 2
    assert transforms.center_crop_offset(1241, 740) == 250  # 250.5 -> 250
    assert transforms.center_crop_offset(377, 370) == 4  # 3.5 -> 4
    assert transforms.center_crop_offset(365, 370) == -2  # zero padding of 2 before
    for height, width in [(375, 1242), (367, 735), (380, 741), (5, 7)]:
        image = Image.fromarray(np.random.default_rng(height).integers(1, 256, (height, width, 3), dtype=np.uint8))
        ours = np.asarray(transforms.center_crop(image, (370, 740)))
        assert np.array_equal(ours, np.asarray(TF.center_crop(image, [370, 740]))), (height, width)


def test_kitti_preprocessing_equals_ndic_cam(shared_data):
    color = shared_data / "kitti_samples" / "color"
    dataset = data.load("kitti_stereo", "test", root=color)
    assert len(dataset) == 4 and dataset.stereo
    for i, (x_path, y_path) in enumerate(dataset.sources):
        x, y = dataset[i]
        assert x.dtype == torch.float32 and x.shape == y.shape == (3, 128, 256)
        assert torch.equal(x, reference_pair(x_path)) and torch.equal(y, reference_pair(y_path))
    other = data.load("kitti_stereo", "test", root=color, size=(64, 160))
    assert torch.equal(other[0][0], reference_pair(other.sources[0][0], size=(64, 160)))


def test_gray_kitti_pairs_become_rgb(shared_data):
    dataset = data.load("kitti_stereo", "val", root=shared_data / "kitti_samples" / "gray", both_directions=True)
    assert len(dataset) == 6 and dataset.ids[0].endswith(":image_0>image_1")
    for i in range(len(dataset)):
        x, y = dataset[i]
        assert x.shape == (3, 128, 256) and torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
        gray = TF.to_tensor(TF.resize(TF.center_crop(Image.open(dataset.sources[i][0]), [370, 740]), [128, 256]))
        assert torch.equal(x[:1], gray)


def test_training_flips_both_views_together(shared_data):
    root = shared_data / "kitti_samples" / "color"
    plain = data.load("kitti_stereo", "train", root=root, augment=False)
    augmented = data.load("kitti_stereo", "train", root=root)
    x0, y0 = plain[0]
    flips = []
    for _ in range(24):
        x, y = augmented[0]
        flipped = torch.equal(x, x0.flip(-1))
        assert flipped or torch.equal(x, x0)
        assert torch.equal(y, y0.flip(-1) if flipped else y0)
        flips.append(flipped)
    assert 3 < sum(flips) < 21  # p = 0.5


def test_cityscape_is_resized_straight(tmp_path):
    rng = np.random.default_rng(1)
    for split, city, frame in [("train", "aachen", "aachen_000000_000019"), ("train", "bonn", "bonn_000001_000019")]:
        for side in ("left", "right"):
            folder = tmp_path / f"{side}Img8bit" / split / city
            folder.mkdir(parents=True, exist_ok=True)
            write_png(folder / f"{frame}_{side}Img8bit.png", rng.integers(0, 256, (256, 512, 3), dtype=np.uint8))
    dataset = data.load("cityscape", "train", root=tmp_path, augment=False)
    assert dataset.ids == ["aachen/aachen_000000_000019", "bonn/bonn_000001_000019"]
    x, y = dataset[1]
    assert "_leftImg8bit" in dataset.sources[1][0].name and "_rightImg8bit" in dataset.sources[1][1].name
    assert torch.equal(x, reference_pair(dataset.sources[1][0], crop=None))
    assert torch.equal(y, reference_pair(dataset.sources[1][1], crop=None))
    (tmp_path / "rightImg8bit" / "train" / "bonn" / "bonn_000001_000019_rightImg8bit.png").unlink()
    with pytest.raises(data.DatasetNotFoundError, match="bonn_000001_000019_rightImg8bit.png"):
        data.load("cityscape", "train", root=tmp_path)
    with pytest.raises(data.DatasetNotFoundError, match="data_prep.cityscape"):
        data.load("cityscape", "val", root=tmp_path)


# ----------------------------------------------------------------------------- loaders on real data


def test_kodak_full_images(shared_data):
    dataset = data.load("kodak", "test", root=shared_data / "kodak")
    assert not dataset.stereo and len(dataset) == 24 and dataset.ids[0] == "kodim01"
    for i in (0, 3):  # kodim04 is portrait
        image = dataset[i]
        reference = torch.from_numpy(np.array(Image.open(dataset.sources[i]).convert("RGB"))).permute(2, 0, 1)
        assert torch.equal(image, reference.float() / 255)
    assert dataset[3].shape == (3, 768, 512)
    with pytest.raises(ValueError, match="only split is 'test'"):
        data.load("kodak", "train", root=shared_data / "kodak")


def test_middlebury_scenes(shared_data):
    dataset = data.load("middlebury", "test", root=shared_data / "middlebury")
    assert dataset.ids == [
        "trainingH/Motorcycle:im0>im1",
        "trainingH/PlaytableP:im0>im1",
        "trainingQ/Motorcycle:im0>im1",
    ]
    x, y = dataset[2]  # 741x497 -> 1:2 crop of 370x740 -> 128x256
    assert torch.equal(x, reference_pair(dataset.sources[2][0]))
    assert 0 <= float(x.min()) and float(x.max()) <= 1


def kitti_tree(root, sample, names):
    """A KITTI root whose images are copies of one real sample pair."""
    for relative in names:
        archive, part, camera, name = relative.split("/")
        target = root / archive / part / camera / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample[camera in ("image_3", "colored_1")], target)


def test_kitti_split_lists_and_missing_data(shared_data, tmp_path):
    color = shared_data / "kitti_samples" / "color"
    sample = (color / "image_2" / "kitti_openstereo_deploy.png", color / "image_3" / "kitti_openstereo_deploy.png")
    kitti_tree(
        tmp_path,
        sample,
        [
            "data_scene_flow_multiview/testing/image_2/000000_10.png",
            "data_scene_flow_multiview/testing/image_3/000000_10.png",
            "data_stereo_flow_multiview/testing/colored_0/000000_10.png",  # KITTI 2012's own camera names
            "data_stereo_flow_multiview/testing/colored_1/000000_10.png",
        ],
    )
    with pytest.raises(data.DatasetNotFoundError, match="data_prep.splits --root"):
        data.load("kitti_stereo", "test", root=tmp_path)
    with pytest.raises(data.DatasetNotFoundError, match=r"KITTI_general_train\.txt not found.*fetches the published"):
        data.load("kitti_general", "train", root=tmp_path)
    lines = [
        "data_scene_flow_multiview/testing/image_2/000000_10.png",
        "data_scene_flow_multiview/testing/image_3/000000_10.png",
        "data_stereo_flow_multiview/testing/image_3/000000_10.png",
        "data_stereo_flow_multiview/testing/image_2/000000_10.png",
    ]
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "KITTI_stereo_test.txt").write_text("".join(f"{line}\n" for line in lines))
    dataset = data.load("kitti_stereo", "test", root=tmp_path, lists=lists)
    assert dataset.ids[1] == "data_stereo_flow_multiview/testing/image_3/000000_10|" + lines[3][:-4]
    assert dataset.sources[1][0].parent.name == "colored_1"
    x, y = dataset[1]  # right -> left
    assert torch.equal(x, reference_pair(sample[1])) and torch.equal(y, reference_pair(sample[0]))

    (tmp_path / lines[0]).unlink()
    with pytest.raises(data.DatasetNotFoundError, match=r"000000_10\.png not found.*data_prep\.kitti"):
        data.load("kitti_stereo", "test", root=tmp_path, lists=lists)
    with pytest.raises(data.DatasetNotFoundError, match=r"data_scene_flow_multiview not found.*data_prep\.kitti"):
        data.load("kitti_stereo", "test", root=tmp_path / "nowhere")


def test_image_folder_crops_and_reports_corrupt_files(tmp_path):
    rng = np.random.default_rng(2)
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    write_png(tmp_path / "train" / "a.png", rng.integers(0, 256, (300, 320, 3), dtype=np.uint8))
    write_png(tmp_path / "train" / "b.png", rng.integers(0, 65536, (280, 400), dtype=np.uint16))  # 16-bit gray
    write_png(tmp_path / "test" / "c.png", rng.integers(0, 256, (90, 120, 4), dtype=np.uint8))  # RGBA
    (tmp_path / "train" / "notes.txt").write_text("not an image: not part of the dataset")
    train = data.load("images", "train", root=tmp_path)
    assert train.ids == ["a", "b"] and all(train[i].shape == (3, 256, 256) for i in range(2))
    torch.manual_seed(5)
    first = train[0]
    torch.manual_seed(5)
    assert torch.equal(first, train[0])  # the crop follows torch's RNG
    full = data.load("images", "train", root=tmp_path, augment=False)[0]
    assert any(torch.equal(first, full[:, i : i + 256, j : j + 256]) for i in range(45) for j in range(65))
    test = data.load("images", "test", root=tmp_path)
    assert test[0].shape == (3, 90, 120)
    with pytest.raises(ValueError, match="smaller than the 256x256 training crop"):
        data.load("images", "test", root=tmp_path, augment=True)[0]
    (tmp_path / "train" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ImageReadError, match="b.png"):
        train[1]
    with pytest.raises(data.DatasetNotFoundError, match="data_prep.images --from"):
        data.load("images", "val", root=tmp_path)


def test_load_rejects_bad_requests():
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("imagenet", "test")
    with pytest.raises(TypeError, match="options"):
        data.load("kodak", "test", stereo=True)
    with pytest.raises(ValueError, match="split must be"):
        data.load("kitti_stereo", "training")
    with pytest.raises(ValueError, match="root=None"):
        data.load("default", "test", root="somewhere")
    assert set(data.names()) >= {"kitti_stereo", "kitti_general", "cityscape", "kodak", "images", "default"}


@pytest.mark.parametrize("name", ["kodak", "clic_professional", "tecnick"])
def test_evaluation_image_sets_load_full_images_or_say_how_to_get_them(name, tmp_path):
    root = tmp_path / name
    with pytest.raises(data.DatasetNotFoundError, match=rf"{name} not found.*python -m data_prep\.{name} --root"):
        data.load(name, "test", root=root)
    assert data.default_root(name).name == name
    root.mkdir()
    image = np.random.default_rng(3).integers(0, 256, (36, 52, 3), dtype=np.uint8)
    write_png(root / "b.png", image)
    write_png(root / "a.png", image[::-1])
    dataset = data.load(name, "test", root=root)
    assert dataset.ids == ["a", "b"] and not dataset.stereo
    assert torch.equal(dataset[1], torch.from_numpy(image).permute(2, 0, 1).float() / 255)  # full size, unscaled
    assert data.load(name, "test", root=root, crop=32)[0].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="only split is 'test'"):
        data.load(name, "train", root=root)


# --------------------------------------------------------------------------------- embedded default


def test_default_splits_are_disjoint_and_deterministic():
    photos = [set(embedded.SPLITS[s]) for s in ("train", "val", "test")]
    assert not (photos[0] & photos[1] or photos[0] & photos[2] or photos[1] & photos[2])
    test = data.load("default", "test")
    assert test.stereo and test.ids[:2] == ["motorcycle:left>right", "motorcycle:right>left"]
    again, other = data.load("default", "test"), data.load("default", "test", seed=1)
    x, y = test[2]
    assert x.shape == y.shape == (3, 128, 256) and x.dtype == torch.float32
    assert torch.equal(x, again[2][0]) and not torch.equal(x, other[2][0])
    # the real pair in both directions, cropped 500x741 -> 370x740 like KITTI
    left, right, _ = embedded.motorcycle()
    reference = TF.to_tensor(TF.resize(TF.center_crop(Image.fromarray(left), [370, 740]), [128, 256]))
    assert torch.equal(test[0][0], reference) and torch.equal(test[1][1], reference)
    single = data.load("default", "train", stereo=False)
    assert not single.stereo and single[0].shape == (3, 256, 256)
    assert data.load("default", "val", stereo=False)[0].shape == (3, 427, 640)  # full photograph


def test_synthetic_pairs_have_the_disparity_they_claim():
    dataset = data.load("default", "train", augment=False, size=(64, 128), pairs_per_photo=2)
    assert len(dataset) == 2 * len(embedded.SPLITS["train"])
    for i in (0, 5):
        x, y = dataset[i]
        rows = dataset.disparity(i)[:, 0].astype(int)
        assert 0 < rows[0] <= rows[-1] <= 24  # slanted plane, scaled to width 128
        for r, d in enumerate(rows):  # y(r, c) = x(r, c + d): rectified stereo
            assert torch.equal(y[:, r, : 128 - d], x[:, r, d:])


def test_stats_recover_known_disparity_and_overlap():
    dataset = data.load("default", "test")
    x, y = dataset[2]
    truth = dataset.disparity(2)[:, 0]
    rows = stats.row_disparity(stats.disparity_map(x, y))
    assert np.mean(np.abs(rows - truth) <= 0.5) > 0.95
    assert stats.overlap(rows, 256) == pytest.approx(stats.overlap(truth, 256), abs=0.005)
    result = stats.pair_stats(x, y)
    assert result["psnr_aligned_db"] > result["psnr_views_db"] + 10
    # the real Middlebury pair against its ground truth, and its reverse direction
    x, y = dataset[0]
    truth = dataset.disparity(0)[:, 64:-64]  # NaN where Middlebury has no ground truth
    error = np.abs(stats.disparity_map(x, y)[:, 64:-64] - truth)[~np.isnan(truth)]
    assert np.mean(error <= 2) > 0.75
    real = stats.pair_stats(x, y)
    assert real["disparity_median"] == pytest.approx(np.nanmedian(np.nanmedian(truth, axis=1)), abs=1)
    assert stats.pair_stats(*dataset[1])["disparity_median"] == pytest.approx(-real["disparity_median"], abs=1.5)
    frame = stats.summarize(dataset, indices=[0, 2])
    assert list(frame["id"]) == [dataset.ids[0], dataset.ids[2]] and (frame["overlap"] > 0.8).all()


# ------------------------------------------------------------------------------------------ loader


def test_make_loader_is_reproducible():
    dataset = data.load("default", "train", size=(32, 64), pairs_per_photo=2)

    def run(seed, workers):
        loader = data.make_loader(dataset, batch_size=4, shuffle=True, workers=workers, seed=seed)
        return [torch.cat(batch) for batch in loader]

    first, second = run(0, 1), run(0, 1)
    assert len(first) == 3 and first[0].shape == (8, 3, 32, 64)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, run(1, 1), strict=True))
    with pytest.raises(ValueError, match="batch_size"):
        data.make_loader(dataset, batch_size=0, shuffle=False)


def test_make_loader_shards_across_processes(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        dataset = data.load("default", "val", size=(32, 64))
        loader = data.make_loader(dataset, batch_size=2, shuffle=True, distributed=True, seed=3)
        assert isinstance(loader.sampler, torch.utils.data.DistributedSampler)
        assert sum(len(x) for x, _ in loader) == len(dataset)
    finally:
        dist.destroy_process_group()

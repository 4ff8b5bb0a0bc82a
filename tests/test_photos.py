"""Real photographs for training: rcc reader, preparation, split, datasets, and no test image among them."""

import base64
import csv
import hashlib
import io
import json
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data_prep import debian, photos, rcc, stereodemo
from ndic import data
from ndic.data import embedded, stats, transforms
from ndic.data import photos as photo_data

# ----------------------------------------------------------------------------------- a Qt rcc writer


def write_rcc(files: dict[str, bytes], compressed: set[str] = frozenset(), version: int = 3) -> bytes:
    """A Qt binary resource holding ``files`` (``"dir/name": bytes``), written from the format description.

    Layout as Qt's rcc writes it: header, data, names, tree; the tree lists each directory's
    children contiguously, breadth first. Entries in ``compressed`` are stored in qCompress form.
    """
    tree: dict = {}
    for path in files:
        *dirs, name = path.split("/")
        node = tree
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = path
    nodes = [("", tree)]  # (name, subtree or file path); index = position
    links = {}  # node index -> (child count, first child index)
    i = 0
    while i < len(nodes):
        name, item = nodes[i]
        if isinstance(item, dict):
            links[i] = (len(item), len(nodes))
            nodes.extend(sorted(item.items()))
        i += 1
    header_size = 24 if version >= 3 else 20
    data_blob, data_offsets = b"", {}
    for path, content in files.items():
        stored = struct.pack(">I", len(content)) + zlib.compress(content) if path in compressed else content
        data_offsets[path] = len(data_blob)
        data_blob += struct.pack(">I", len(stored)) + stored
    names_blob, name_offsets = b"", {}
    for name, _ in nodes[1:]:
        if name not in name_offsets:
            name_offsets[name] = len(names_blob)
            encoded = name.encode("utf-16-be")
            names_blob += struct.pack(">HI", len(name), 0x1234) + encoded
    tree_blob = b""
    for index, (name, item) in enumerate(nodes):
        name_offset = name_offsets.get(name, 0)
        if isinstance(item, dict):
            entry = struct.pack(">IHII", name_offset, rcc.DIRECTORY, *links[index])
        else:
            flags = rcc.ZLIB if item in compressed else 0
            entry = struct.pack(">IHHHI", name_offset, flags, 0, 0, data_offsets[item])
        tree_blob += entry + (struct.pack(">Q", 1700000000000) if version >= 2 else b"")
    data_at = header_size
    names_at = data_at + len(data_blob)
    tree_at = names_at + len(names_blob)
    header = b"qres" + struct.pack(">IIII", version, tree_at, data_at, names_at)
    if version >= 3:
        header += struct.pack(">I", 0)
    return header + data_blob + names_blob + tree_blob


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_reader_reads_plain_and_zlib_entries(version):
    rng = np.random.default_rng(0)
    files = {
        "gcompris/src/erase/resource/photo.webp": rng.bytes(3000),
        "gcompris/src/erase/resource/notes.txt": b"hello " * 200,
        "gcompris/src/other/émoji.png": rng.bytes(10),
        "top.qml": b"Item {}",
    }
    blob = write_rcc(files, compressed={"gcompris/src/erase/resource/notes.txt"}, version=version)
    entries = {e.path: e for e in rcc.RccReader(blob).entries()}
    assert set(entries) == set(files)
    assert {p: e.read() for p, e in entries.items()} == files
    assert entries["gcompris/src/erase/resource/notes.txt"].compression == "zlib"
    assert len(entries["gcompris/src/erase/resource/notes.txt"].stored) < 1200 / 2  # really stored compressed
    assert entries["top.qml"].compression == "none"


def test_rcc_reader_refuses_damaged_files(tmp_path):
    blob = write_rcc({"a/b.jpg": b"x" * 100})
    with pytest.raises(rcc.RccError, match="not a Qt resource"):
        rcc.RccReader(b"PK\x03\x04" + blob[4:])
    with pytest.raises(rcc.RccError):
        list(rcc.RccReader(blob[:-10]).entries())  # the tree is cut
    with pytest.raises(rcc.RccError, match="version 9"):
        rcc.RccReader(b"qres" + struct.pack(">IIII", 9, 0, 0, 0) + b"\0" * 8)
    zstd = rcc.RccEntry("a.png", rcc.ZSTD, b"\x28\xb5\x2f\xfd")
    try:
        import zstandard  # noqa: F401
    except ImportError:
        with pytest.raises(rcc.RccError, match="zstandard"):
            zstd.read()
    bad = rcc.RccEntry("b.png", rcc.ZLIB, struct.pack(">I", 5) + zlib.compress(b"abc"))
    with pytest.raises(rcc.RccError, match="inflated to 3 bytes"):
        bad.read()


# --------------------------------------------------------------------------- copyright files (DEP-5)

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: test

Files: *
Copyright: 2020 Program Authors
License: GPL-2+

Files: nature/Leaf.jpg
 nature/Sky*.jpg
Copyright: 2019, Ann Photographer <ann@example.org>
License: CC-BY-4.0
 the full text follows

License: GPL-2+
 text
"""


def test_copyright_lookup_takes_the_last_matching_stanza():
    cr = debian.Copyright(COPYRIGHT)
    assert cr.machine_readable
    leaf = cr.lookup(debian.tails("usr/share/backgrounds/mate/nature/Leaf.jpg"))
    assert (leaf.licence, leaf.copyright) == ("CC-BY-4.0", "2019, Ann Photographer <ann@example.org>")
    assert cr.lookup(debian.tails("usr/x/nature/Sky2.jpg")).licence == "CC-BY-4.0"
    assert cr.lookup(debian.tails("usr/x/nature/Other.jpg")).patterns == ("*",)
    info = photos._licence(cr, "usr/share/backgrounds/mate/nature/Other.jpg")
    assert info["licence"] == "GPL-2+" and info["author"] == ""  # the catch-all names programmers, not photographers
    assert photos._licence(cr, "x/nature/Leaf.webp")["licence"] == "CC-BY-4.0"  # shipped converted


# ------------------------------------------------------------------------------------ split, dedupe


def _jpeg(array: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _smooth_image(seed: int, shape=(300, 400)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize(shape[::-1], Image.Resampling.BICUBIC))


def test_split_is_by_photograph_deterministic_and_stable():
    keys = [("pkg", f"usr/share/p/{i}.jpg") for i in range(400)]
    first = [photos.split_of(0, p, k, 0.1) for p, k in keys]
    assert first == [photos.split_of(0, p, k, 0.1) for p, k in keys]
    assert 20 <= first.count("val") <= 60  # about a tenth
    assert first != [photos.split_of(1, p, k, 0.1) for p, k in keys]  # the seed matters
    # a photograph's split does not depend on which others are there
    assert [photos.split_of(0, p, k, 0.1) for p, k in keys[::3]] == first[::3]
    assert {photos.split_of(0, p, k, 0.0) for p, k in keys} == {"train"}


def test_copies_of_one_photograph_are_taken_once():
    picture, other = _smooth_image(1), _smooth_image(2)
    half = np.asarray(Image.fromarray(picture).resize((200, 150), Image.Resampling.BILINEAR))
    rows = []
    for name, blob in (("a.jpg", _jpeg(picture)), ("b.jpg", _jpeg(half, 60)), ("c.jpg", _jpeg(other)),
                       ("d.jpg", _jpeg(picture))):  # fmt: skip
        width, height = photos.image_size(blob)
        sha = hashlib.sha256(blob).hexdigest()
        rows.append({"file": name, "sha256": sha, "width": width, "height": height,
                     "signature": photos.signature(blob).tolist()})  # fmt: skip
    kept, dropped = photos.deduplicate(rows)
    assert [r["file"] for r in kept] == ["a.jpg", "c.jpg"]
    assert [(r["file"], t["file"]) for r, t in dropped] == [("b.jpg", "a.jpg"), ("d.jpg", "a.jpg")]


def test_scikit_image_photographs_keep_the_default_split():
    rows = [{"package": photos.SKIMAGE, "source_path": f"skimage/data/{f}"} for f in photos.SKIMAGE_PHOTOS]
    photos.assign_splits(rows, seed=0, val_fraction=0.5)
    names = {photos.SKIMAGE_PHOTOS[r["source_path"].rsplit("/", 1)[1]][0]: r["split"] for r in rows}
    for split in ("train", "val"):
        assert all(names[n] == split for n in embedded.SPLITS[split] if n in names)
    assert not set(embedded.SPLITS["test"]) & set(names)  # chelsea and Motorcycle stay out


# ------------------------------------------------------------- end to end with a local Debian package


def _fake_deb(folder: Path, package: str, files: dict[str, bytes], version: str = "1.0-1") -> Path:
    tree = folder / "build" / package
    for path, blob in files.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(blob)
    (tree / "DEBIAN").mkdir(parents=True)
    control = f"Package: {package}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@t>\nDescription: test\n"
    (tree / "DEBIAN/control").write_text(control)
    deb = folder / f"{package}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)], check=True, capture_output=True)
    return deb


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian-based system)")
def test_prepare_from_local_debs_is_resumable_and_lists_every_file(tmp_path, capsys):
    debs = tmp_path / "debs"
    debs.mkdir()
    nature = "usr/share/backgrounds/mate/nature"
    files = {
        f"{nature}/Leaf.jpg": _jpeg(_smooth_image(3)),
        f"{nature}/Sky1.jpg": _jpeg(_smooth_image(4)),
        f"{nature}/Tiny.jpg": _jpeg(_smooth_image(5, (100, 120))),  # below the 256 px crop: left out
        "usr/share/backgrounds/mate/abstract/Render.jpg": _jpeg(_smooth_image(6)),  # not globbed
        "usr/share/doc/mate-backgrounds/copyright": COPYRIGHT.encode(),
    }
    _fake_deb(debs, "mate-backgrounds", files)
    root = tmp_path / "photos"
    argv = ["--root", str(root), "--from", str(debs), "--packages", "mate-backgrounds", "--no-stereodemo"]
    assert photos.main(argv) == 0
    with open(root / "manifest.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    mate = {k: v for k, v in rows.items() if v["package"] == "mate-backgrounds"}
    assert set(mate) == {"mate-backgrounds/Leaf.jpg", "mate-backgrounds/Sky1.jpg"}
    leaf = mate["mate-backgrounds/Leaf.jpg"]
    assert (leaf["version"], leaf["source_path"], leaf["licence"]) == ("1.0-1", f"{nature}/Leaf.jpg", "CC-BY-4.0")
    assert leaf["author"].startswith("2019, Ann Photographer")
    assert (root / leaf["file"]).read_bytes() == files[f"{nature}/Leaf.jpg"]  # byte for byte
    assert sum(r["package"] == photos.SKIMAGE for r in rows.values()) == len(photos.SKIMAGE_PHOTOS)
    _check_manifest_lists_every_file(root)
    assert not (root / ".cache").exists()  # the .deb and its tree are gone
    first = (root / "manifest.csv").read_text()
    capsys.readouterr()
    assert photos.main(argv) == 0  # nothing to do the second time
    assert "mate-backgrounds: 2 photographs already there" in capsys.readouterr().out
    assert (root / "manifest.csv").read_text() == first
    (root / "mate-backgrounds/Sky1.jpg").unlink()  # an interrupted or damaged folder is redone
    assert photos.main(argv) == 0 and (root / "manifest.csv").read_text() == first
    # another package later: the manifest keeps listing the first one; LXQt's own licence file is read
    licence = b"Licensed under https://creativecommons.org/licenses/by-sa/3.0/\n\nCredits:\nAnn\nbeam,fog;\n"
    wallpapers = "usr/share/lxqt/wallpapers"
    lxqt = {
        f"{wallpapers}/fog.jpg": _jpeg(_smooth_image(7)),
        f"{wallpapers}/triangles.png": b"",
        f"{wallpapers}/License": licence,
    }
    _fake_deb(debs, "lxqt-themes", lxqt)
    assert photos.main([*argv[:4], "--packages", "lxqt-themes", "--no-stereodemo"]) == 0
    rows = {r["file"]: r for r in _check_manifest_lists_every_file(root)}
    assert {"mate-backgrounds/Leaf.jpg", "lxqt-themes/fog.jpg"} <= set(rows) and len(rows) == len(mate) + 11
    assert (rows["lxqt-themes/fog.jpg"]["licence"], rows["lxqt-themes/fog.jpg"]["author"]) == ("CC-BY-SA-3.0", "Ann")


def test_prepare_without_apt_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(debian, "installed_version", lambda package: None)
    monkeypatch.setattr(debian, "has_apt", lambda: False)
    argv = ["--root", str(tmp_path), "--packages", "kphotoalbum", "--no-stereodemo"]
    assert photos.main(argv) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["error: kphotoalbum is needed but apt-get/dpkg-deb are not available (not a Debian-based system)"]
    assert photos.main(["--root", str(tmp_path), "--packages", "no-such-package"]) == 2


def _check_manifest_lists_every_file(root: Path) -> list[dict]:
    with open(root / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(photo_data.MANIFEST_FIELDS)
    on_disk = {
        p.relative_to(root).as_posix() for p in root.glob("*/*") if p.is_file() and not p.parts[-2].startswith(".")
    }
    assert {r["file"] for r in rows} == on_disk
    for r in rows:
        blob = (root / r["file"]).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == r["sha256"] and len(blob) == int(r["bytes"])
        assert r["split"] in ("train", "val") and r["package"] and r["version"] and r["source_path"]
    return rows


# -------------------------------------------------------------------------------------- stereodemo


def _fake_wheel(path: Path, members: dict[str, bytes], tamper: str | None = None) -> Path:
    record = []
    for name, blob in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(blob).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(blob)}")
    record.append("stereodemo-0.7.dist-info/RECORD,,")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob + (b"!" if name == tamper else b""))
        archive.writestr("stereodemo-0.7.dist-info/RECORD", "\n".join(record))
    return path


def test_stereodemo_takes_only_checked_data_files(tmp_path, monkeypatch, capsys):
    png = io.BytesIO()
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(png, "PNG")
    members = {
        "stereodemo/datasets/oak-d/desk_left.png": png.getvalue(),
        "stereodemo/datasets/oak-d/desk_right.png": png.getvalue(),
        "stereodemo/datasets/oak-d/stereodemo_calibration.json": b'{"width": 64, "height": 48}',
        "stereodemo/methods.py": b"print('code is not taken')",
    }
    wheel = _fake_wheel(tmp_path / stereodemo.WHEEL, members)
    root = tmp_path / "sd"
    assert stereodemo.main(["--root", str(root), "--from", str(wheel)]) == 2  # not the published wheel
    assert "sha256" in capsys.readouterr().out
    monkeypatch.setattr(stereodemo, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    assert stereodemo.main(["--root", str(root), "--from", str(tmp_path)]) == 0
    taken = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert taken == ["calibration.json", "left/desk.png", "manifest.csv", "right/desk.png"]
    tampered = _fake_wheel(tmp_path / "t" / stereodemo.WHEEL, members, tamper="stereodemo/datasets/oak-d/desk_left.png")
    monkeypatch.setattr(stereodemo, "WHEEL_SHA256", hashlib.sha256(tampered.read_bytes()).hexdigest())
    assert stereodemo.main(["--root", str(tmp_path / "sd2"), "--from", str(tampered)]) == 2
    assert "RECORD" in capsys.readouterr().out


# ------------------------------------------------------------------------------------ the datasets


@pytest.fixture
def small_photos(tmp_path) -> Path:
    """A photos folder of scikit-image's photographs (2 train, 1 val) and a fake stereodemo pair."""
    root = tmp_path / "photos"
    rows = []
    for name, split in (("astronaut", "train"), ("coffee", "train"), ("rocket", "val")):
        path = root / "skimage" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(embedded.PHOTOS[name]()).save(path)
        rows.append({"file": f"skimage/{name}.png", "split": split})
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=photo_data.MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    demo = tmp_path / "stereodemo"
    left, right, _ = embedded.motorcycle()
    for side, image in (("left", left), ("right", right)):
        (demo / side).mkdir(parents=True)
        Image.fromarray(image[:, :, 0]).save(demo / side / "bike.png")  # grayscale, as stereodemo's
    calibration = {"width": 741, "height": 500, "left_image_rect_normalized": [0, 0.1, 0.9, 1]}
    (demo / photo_data.STEREODEMO_CALIBRATION).write_text(json.dumps(calibration))
    return tmp_path


def test_photos_dataset_gives_training_crops_and_whole_val_images(small_photos):
    train = data.load("photos", "train", root=small_photos / "photos")
    assert train.ids == ["skimage/astronaut", "skimage/coffee"] and train[0].shape == (3, 256, 256)
    val = data.load("photos", "val", root=small_photos / "photos")
    assert val.ids == ["skimage/rocket"] and val[0].shape == (3, 427, 640)
    with pytest.raises(ValueError, match="test on Kodak"):
        data.load("photos", "test", root=small_photos / "photos")
    with pytest.raises(data.DatasetNotFoundError, match="python -m data_prep.photos"):
        data.load("photos", "train", root=small_photos / "nowhere")


def test_synthetic_pairs_have_the_disparity_shift_and_gain_they_claim(small_photos):
    dataset = data.load(
        "stereo_train", "train", root=small_photos / "photos", stereodemo=small_photos / "stereodemo",
        pairs_per_photo=6, augment=False,
    )  # fmt: skip
    assert len(dataset) == 2 * 6 + 2 and dataset.ids[-2:] == [
        "stereodemo/bike:left>right",
        "stereodemo/bike:right>left",
    ]
    shifts = set()
    for i in range(12):
        path, k = dataset._truth[i]
        x, y, truth = photo_data.synthetic_pair(path, k, 0, (128, 256))
        d, s, g = truth["disparity"], truth["shift"], truth["gain"]
        shifts.add(s)
        assert 0.95 <= g <= 1.05 and 1 <= d[0] <= d[-1] <= 48
        for r in range(max(0, -s), min(128, 128 - s)):  # left (r, c) is right (r + s, c - d[r])
            expected = np.clip(np.rint(x[r, d[r] :].astype(np.float32) * g), 0, 255)
            assert np.array_equal(y[r + s, : 256 - d[r]], expected)
        xt, yt = dataset[i]
        assert torch.equal(xt, transforms.to_tensor(x))
        assert np.array_equal(dataset.disparity(i)[:, 7], d) and dataset.vertical_shift(i) == s
    assert shifts == {-1, 0, 1}
    # block matching finds the slanted plane despite the shift and the gain
    x, y = dataset[3]
    found = stats.row_disparity(stats.disparity_map(x, y))
    truth = dataset.disparity(3)[:, 0]
    assert np.nanmedian(np.abs(found - truth)[20:-20]) <= 1
    # stereodemo: grayscale to RGB, its valid region (rows 50.., columns ..667) cut to 1:2, 128x256; no truth
    x, y = dataset[12]
    gray = np.asarray(Image.open(small_photos / "stereodemo/left/bike.png"))[50:500, :667]
    expected = transforms.to_tensor(
        transforms.resize(transforms.aspect_crop(Image.fromarray(np.stack([gray] * 3, -1)), (128, 256)), (128, 256))
    )
    assert torch.equal(x, expected) and dataset.disparity(12) is None and dataset.truth(12) is None
    assert torch.equal(dataset[13][0], y) and torch.equal(dataset[13][1], x)
    photo_data.synthetic_pair.cache_clear()  # the same pairs when drawn again
    again = data.load(
        "stereo_train", "train", root=small_photos / "photos", stereodemo=False, pairs_per_photo=6, augment=False
    )
    assert len(again) == 12 and torch.equal(again[5][1], dataset[5][1])
    val = data.load("stereo_train", "val", root=small_photos / "photos", stereodemo=small_photos / "stereodemo")
    assert val.ids == [f"skimage/rocket:synthetic{k}" for k in range(4)]  # real pairs train only


# ---------------------------------------------------- the installed data: no test image in training


def _installed_root() -> Path:
    root = data.default_root("photos")
    if not (root / photo_data.MANIFEST).is_file():
        pytest.skip(f"no photographs at {root}; run 'python -m data_prep.photos' (make photos) to check them")
    return root


def _thumbnail(path_or_array, side: int = 24) -> np.ndarray:
    """Zero-mean unit-norm 24x24 luminance thumbnail (independent of data_prep's signature)."""
    if isinstance(path_or_array, np.ndarray):
        image = Image.fromarray(path_or_array)
    else:
        image = Image.open(path_or_array)
        image.draft("RGB", (8 * side, 8 * side))
    gray = np.asarray(image.convert("L").resize((side, side), Image.Resampling.BILINEAR), dtype=np.float64)
    gray -= gray.mean()
    return gray.ravel() / (np.linalg.norm(gray) or 1.0)


def _test_images(shared: Path) -> dict[str, Path | np.ndarray]:
    images = {}
    for pattern in ("kodak/*.png", "kitti_samples/**/*.png", "middlebury/**/im[01].png"):
        images.update({p.relative_to(shared).as_posix(): p for p in sorted(shared.glob(pattern))})
    left, right, _ = embedded.motorcycle()
    images.update({"skimage motorcycle left": left, "skimage motorcycle right": right})
    images["skimage chelsea"] = embedded.photo("chelsea")
    return images


def _aspect(item) -> float:
    if isinstance(item, np.ndarray):
        return item.shape[1] / item.shape[0]
    with Image.open(item) as image:
        return image.width / image.height


def _look_alikes(candidates: dict, tests: dict, threshold: float = 0.9) -> list[tuple[str, str, float]]:
    """Pairs (candidate, test image) whose thumbnails correlate above ``threshold`` at a similar aspect.

    ``candidates``: name -> file, array or (thumbnail, aspect).
    """
    test_thumbs = {n: (_thumbnail(p), _aspect(p)) for n, p in tests.items()}
    found = []
    for name, item in candidates.items():
        thumb, aspect = item if isinstance(item, tuple) else (_thumbnail(item), _aspect(item))
        for test_name, (test_thumb, test_aspect) in test_thumbs.items():
            if abs(aspect / test_aspect - 1) < 0.1 and float(thumb @ test_thumb) > threshold:
                found.append((name, test_name, float(thumb @ test_thumb)))
    return found


def test_look_alike_check_catches_a_reencoded_downscaled_copy(shared_data):
    kodim = np.asarray(Image.open(shared_data / "kodak/kodim05.png").convert("RGB"))
    copy = np.asarray(Image.open(io.BytesIO(_jpeg(kodim[::2, ::2], 50))))
    tests = {"kodim05": shared_data / "kodak/kodim05.png", "kodim06": shared_data / "kodak/kodim06.png"}
    assert [(a, b) for a, b, _ in _look_alikes({"copy": copy}, tests)] == [("copy", "kodim05")]


def test_no_test_image_is_in_the_installed_training_data(shared_data):
    root = _installed_root()
    rows = _check_manifest_lists_every_file(root)
    files = {r["file"]: root / r["file"] for r in rows}
    demo = data.data_home() / photo_data.STEREODEMO_FOLDER
    files.update({p.relative_to(demo).as_posix(): p for p in sorted(demo.glob("*/*.png"))})
    tests = _test_images(shared_data)
    assert len(tests) >= 24 + 14 + 3
    test_hashes = {}  # of the files and of their decoded pixels
    for name, item in tests.items():
        if isinstance(item, Path):
            test_hashes[hashlib.sha256(item.read_bytes()).hexdigest()] = name
            item = np.asarray(Image.open(item))
        test_hashes[hashlib.sha256(item.tobytes()).hexdigest()] = name
    same_bytes = [
        (f, test_hashes[h])
        for f, p in files.items()
        if (h := hashlib.sha256(p.read_bytes()).hexdigest()) in test_hashes
    ]
    assert same_bytes == []
    # the same pixels in another file format: only files of a test image's size can hold them
    test_sizes = {np.asarray(Image.open(p) if isinstance(p, Path) else p).shape[:2] for p in tests.values()}
    same_pixels = []
    for f, p in files.items():
        with Image.open(p) as image:
            if (image.height, image.width) in test_sizes:
                h = hashlib.sha256(np.asarray(image).tobytes()).hexdigest()
                same_pixels += [(f, test_hashes[h])] if h in test_hashes else []
    assert same_pixels == []
    thumbs = {f: (_thumbnail(p), _aspect(p)) for f, p in files.items()}
    assert _look_alikes(thumbs, tests) == []
    # and no photograph is in both splits (the same picture in two packages is taken once)
    for val in (r["file"] for r in rows if r["split"] == "val"):
        close = [
            r["file"] for r in rows if r["split"] == "train" and float(thumbs[val][0] @ thumbs[r["file"]][0]) > 0.95
        ]
        assert close == [], f"{val} looks like {close}"
    assert len(rows) >= 150 and len({r["sha256"] for r in rows}) == len(rows)

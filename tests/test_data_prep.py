"""data_prep and ndic.data.splits: NDIC-CAM's lists regenerated, resumable downloads, the import commands."""

import dataclasses
import hashlib
import http.server
import io
import shutil
import subprocess
import sys
import threading
import zipfile

import imagecodecs
import numpy as np
import pytest
import torch

import ndic.data as data
from conftest import ROOT
from data_prep import _image_set, cityscape, clic_professional, images, kitti, kodak, middlebury, tecnick
from data_prep import splits as splits_command
from data_prep.download import ChecksumError, download, extract_zip, git_blob_id
from ndic.data import splits as rules

SPLIT_FILES = [rules.list_name("stereo", s) for s in ("train", "val", "test")] + [
    rules.list_name("general", s) for s in ("val", "test")
]


@pytest.fixture(scope="module")
def fake_kitti(shared_data, tmp_path_factory):
    """A KITTI tree of empty files: every image the published lists name, plus frames they do not use.

    KITTI 2012 is laid out with its own camera names (colored_0/1), as its archive unpacks.
    """
    root = tmp_path_factory.mktemp("kitti")
    names = {line for f in SPLIT_FILES for line in (shared_data / "splits" / f).read_text().split()}
    distractors = {f"{n[:-6]}{frame}.png" for n in names for frame in ("00", "09", "12", "20")}
    for name in names | distractors:
        archive, part, camera, file = name.split("/")
        if archive == "data_stereo_flow_multiview":
            camera = rules.CAMERA_ALIASES[camera]
        folder = root / archive / part / camera
        folder.mkdir(parents=True, exist_ok=True)
        (folder / file).touch()
    (root / "data_stereo_flow_multiview" / "training" / "image_0").mkdir()  # gray cameras are not used
    (root / "data_stereo_flow_multiview" / "training" / "image_0" / "000000_10.png").touch()
    return root


# ------------------------------------------------------------------------------------- split lists


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_kitti_stereo_lists_are_reproduced_line_for_line(fake_kitti, shared_data, split):
    published = (shared_data / "splits" / rules.list_name("stereo", split)).read_text()
    generated = rules.format_list(rules.kitti_stereo_list(fake_kitti, split))
    assert generated.splitlines() == published.splitlines()
    assert generated == published  # byte for byte, final newline included
    assert hashlib.sha256(generated.encode()).hexdigest() == rules.PUBLISHED_LISTS[f"KITTI_stereo_{split}.txt"].sha256


def test_kitti_general_lists_are_draws_from_the_rule(fake_kitti, shared_data):
    val = rules.read_list(shared_data / "splits" / "KITTI_general_val.txt")
    test = rules.read_list(shared_data / "splits" / "KITTI_general_test.txt")
    candidates = set(rules.kitti_general_candidates(fake_kitti))
    frames_apart = 2 * sum(21 - gap for gap in range(1, 4))  # ordered frame pairs 1..3 apart among 21 frames
    assert len(candidates) == 20 * 2 * frames_apart  # 20 scenes, two camera orders
    assert set(val) <= candidates and set(test) <= candidates and not set(val) & set(test)
    assert len(val) == len(candidates) // 5  # val is 20 % of the candidates
    assert rules.check_kitti_general(val) == [] and rules.check_kitti_general(test) == []
    bad = [val[0], val[0], (val[1][0], val[1][0].replace("_1", "_0"))]
    problems = rules.check_kitti_general(bad)
    assert any("repeats" in p for p in problems) and any("two cameras" in p for p in problems)
    for name in ("KITTI_general_val.txt", "KITTI_general_test.txt"):
        digest = hashlib.sha256((shared_data / "splits" / name).read_bytes()).hexdigest()
        assert digest == rules.PUBLISHED_LISTS[name].sha256


def test_kitti_stereo_rule_on_a_small_tree(tmp_path):
    for archive, cameras, scenes in [
        ("data_scene_flow_multiview", ("image_2", "image_3"), 2),
        ("data_stereo_flow_multiview", ("colored_0", "colored_1"), 1),
    ]:
        for camera in cameras:
            for part in ("training", "testing"):
                folder = tmp_path / archive / part / camera
                folder.mkdir(parents=True)
                for scene in range(scenes):
                    for frame in (9, 10, 11):
                        (folder / f"{scene:06d}_{frame:02d}.png").touch()
    (tmp_path / "data_scene_flow_multiview/testing/image_3/000001_10.png").unlink()  # no pair without its twin
    scene, stereo = "data_scene_flow_multiview/testing", "data_stereo_flow_multiview/testing"
    assert rules.kitti_stereo_list(tmp_path, "test") == [
        (f"{scene}/image_2/000000_10.png", f"{scene}/image_3/000000_10.png"),
        (f"{scene}/image_3/000000_10.png", f"{scene}/image_2/000000_10.png"),
        (f"{stereo}/image_2/000000_10.png", f"{stereo}/image_3/000000_10.png"),
        (f"{stereo}/image_3/000000_10.png", f"{stereo}/image_2/000000_10.png"),
    ]
    train = [x.split("/")[-1] for x, _ in rules.kitti_stereo_list(tmp_path, "train")]
    assert train[:4] == ["000000_10.png", "000000_11.png", "000001_10.png", "000001_11.png"]
    assert len(train) == 2 * (2 * 2 + 2)
    with pytest.raises(ValueError, match="splits are"):
        rules.kitti_stereo_list(tmp_path, "dev")


def test_kitti_general_substitute_train_list(fake_kitti):
    first, again = rules.kitti_general_sample(fake_kitti, seed=0), rules.kitti_general_sample(fake_kitti, seed=0)
    assert first == again and first != rules.kitti_general_sample(fake_kitti, seed=1)
    assert rules.check_kitti_general(first) == []
    assert all("/training/" in x for x, _ in first)
    assert len({x for x, _ in first}) == len(first)  # each image compressed once


def _git_blob(data: bytes) -> str:
    """git's object id of a file with this content, computed here independently of data_prep."""
    return hashlib.sha1(b"blob " + str(len(data)).encode() + b"\0" + data).hexdigest()


def _stand_in_train_list(fake_kitti) -> bytes:
    """Bytes standing in for the published KITTI General train list (the real one is not in ../shared)."""
    return rules.format_list(rules.kitti_general_sample(fake_kitti, seed=7)).encode()


def test_the_published_train_list_is_pinned_by_its_git_blob():
    train = rules.PUBLISHED_LISTS["KITTI_general_train.txt"]
    assert train.git_blob == "23ef51dbb6e10ed93ed545609f7a47e59416fc1c"
    assert "/ipc-lab/NDIC-CAM/7aafef46bdd26acf28b434344c54a4a38dd2585b/dataset/data_paths/" in train.url


def test_splits_command_copies_lists_and_labels_the_substitute(fake_kitti, shared_data, tmp_path, capsys):
    out, lists = tmp_path / "lists", ["--lists-from", str(shared_data / "splits")]
    # ../shared holds the val/test lists only: the train list is reported missing, the others are written
    assert splits_command.main(["--root", str(fake_kitti), "--out", str(out), *lists]) == 2
    report = capsys.readouterr().out
    assert "has no KITTI_general_train.txt" in report and "--general-train-substitute" in report
    assert not (out / "KITTI_general_train.txt").exists()
    for name in SPLIT_FILES:
        assert (out / name).read_bytes() == (shared_data / "splits" / name).read_bytes(), name
    assert report.count("identical to the published list") == 3

    code = splits_command.main(["--root", str(fake_kitti), "--out", str(out), *lists, "--general-train-substitute"])
    assert code == 0
    assert "SUBSTITUTE drawn by this project (seed 0)" in capsys.readouterr().out
    assert "is NOT the published list" in (out / "KITTI_general_train.README").read_text()
    assert rules.check_kitti_general(rules.read_list(out / "KITTI_general_train.txt")) == []
    train = data.load("kitti_general", "train", root=fake_kitti, lists=out)
    assert (
        train.info["substitute"]
        and not data.load("kitti_general", "val", root=fake_kitti, lists=out).info["substitute"]
    )


def test_splits_command_fetches_the_published_train_list(
    fake_kitti, shared_data, tmp_path, monkeypatch, capsys, server
):
    server.payload = _stand_in_train_list(fake_kitti)
    published = {
        name: rules.PublishedList((shared_data / "splits" / name).as_uri(), entry.sha256, entry.pairs)
        for name, entry in rules.PUBLISHED_LISTS.items()
    }
    published["KITTI_general_train.txt"] = rules.PublishedList(_url(server), None, None, _git_blob(server.payload))
    monkeypatch.setattr(rules, "PUBLISHED_LISTS", published)
    out = tmp_path / "fetched"
    assert splits_command.main(["--root", str(fake_kitti), "--out", str(out), "--quiet"]) == 0  # the default
    assert (out / "KITTI_general_train.txt").read_bytes() == server.payload
    assert (out / "KITTI_general_test.txt").read_bytes() == (shared_data / "splits/KITTI_general_test.txt").read_bytes()
    assert "KITTI_general_train.txt: " + str(len(server.payload.splitlines()) // 2) in capsys.readouterr().out
    assert not (out / "KITTI_general_train.README").exists()

    # a substitute written earlier is replaced by the published list, and stays if the fetch fails
    substitute = tmp_path / "substitute"
    args = ["--root", str(fake_kitti), "--out", str(substitute), "--quiet"]
    assert splits_command.main([*args, "--general-train-substitute"]) == 0
    drawn = (substitute / "KITTI_general_train.txt").read_bytes()
    assert drawn != server.payload
    wrong = dict(published)
    wrong["KITTI_general_train.txt"] = rules.PublishedList(_url(server), None, None, "0" * 40)
    monkeypatch.setattr(rules, "PUBLISHED_LISTS", wrong)
    capsys.readouterr()
    assert splits_command.main(args) == 2
    report = capsys.readouterr().out
    assert "git blob id is " + _git_blob(server.payload) in report and "0" * 40 in report
    assert (substitute / "KITTI_general_train.txt").read_bytes() == drawn
    assert (substitute / "KITTI_general_train.README").is_file()
    monkeypatch.setattr(rules, "PUBLISHED_LISTS", published)
    assert splits_command.main(args) == 0
    assert "replaces this project's substitute" in capsys.readouterr().out
    assert (substitute / "KITTI_general_train.txt").read_bytes() == server.payload
    assert not (substitute / "KITTI_general_train.README").exists()
    assert not data.load("kitti_general", "train", root=fake_kitti, lists=substitute).info["substitute"]


def test_splits_command_refuses_lists_that_fail_their_checksums(fake_kitti, shared_data, tmp_path, monkeypatch, capsys):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("KITTI_general_val.txt", "KITTI_general_test.txt"):
        (source / name).write_bytes((shared_data / "splits" / name).read_bytes())
    (source / "KITTI_general_train.txt").write_bytes(_stand_in_train_list(fake_kitti))
    published = {
        name: rules.PublishedList((source / name).as_uri(), entry.sha256, entry.pairs, entry.git_blob)
        for name, entry in rules.PUBLISHED_LISTS.items()
        if "general" in name
    }
    train = _git_blob((source / "KITTI_general_train.txt").read_bytes())
    published["KITTI_general_train.txt"] = rules.PublishedList(
        (source / "KITTI_general_train.txt").as_uri(), None, None, train
    )
    published["KITTI_general_val.txt"] = rules.PublishedList(published["KITTI_general_val.txt"].url, "0" * 64, 912)
    monkeypatch.setattr(rules, "PUBLISHED_LISTS", {**rules.PUBLISHED_LISTS, **published})
    for extra in ([], ["--lists-from", str(source)]):
        out = tmp_path / f"bad{len(extra)}"
        assert splits_command.main(["--root", str(fake_kitti), "--out", str(out), "--quiet", *extra]) == 2
        assert "sha256" in capsys.readouterr().out
        assert not (out / "KITTI_general_val.txt").exists()
        assert (out / "KITTI_general_train.txt").is_file() and (out / "KITTI_general_test.txt").is_file()
    assert splits_command.main(["--root", str(tmp_path / "empty")]) == 2


# ---------------------------------------------------------------------------------------- download


class _Server(http.server.ThreadingHTTPServer):
    payload = b""
    honour_range = True
    drop_after: int | None = None  # first response only: close the connection after this many bytes
    ranges: list


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        server = self.server
        if self.path != "/file.bin":
            self.send_error(404)
            return
        requested = self.headers.get("Range")
        server.ranges.append(requested)
        start = int(requested.split("=")[1].rstrip("-")) if requested and server.honour_range else 0
        body = server.payload[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.drop_after is not None:
            body, server.drop_after = body[: server.drop_after], None
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.payload = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    httpd.ranges = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server):
    return f"http://127.0.0.1:{server.server_address[1]}/file.bin"


def test_download_resumes_a_partial_file_over_http(server, tmp_path):
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(server.payload[:12_345])
    sha = hashlib.sha256(server.payload).hexdigest()
    assert download(_url(server), dest, sha256=sha, progress=False).read_bytes() == server.payload
    assert server.ranges == ["bytes=12345-"] and not (tmp_path / "file.bin.part").exists()
    download(_url(server), dest, sha256=sha, progress=False)  # complete: nothing is fetched again
    assert len(server.ranges) == 1


def test_download_resumes_after_a_dropped_connection(server, tmp_path):
    server.drop_after = 20_000
    dest = download(_url(server), tmp_path / "file.bin", progress=False, retry_wait=0)
    assert dest.read_bytes() == server.payload
    assert server.ranges == [None, "bytes=20000-"]


def test_download_restarts_when_the_server_ignores_ranges(server, tmp_path):
    server.honour_range = False
    (tmp_path / "file.bin.part").write_bytes(b"stale bytes that must not stay in front")
    assert download(_url(server), tmp_path / "file.bin", progress=False).read_bytes() == server.payload


def test_download_rejects_bad_checksums_and_missing_files(server, tmp_path):
    with pytest.raises(ChecksumError, match="corrupt and was deleted"):
        download(_url(server), tmp_path / "file.bin", md5="0" * 32, progress=False)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="HTTP 404"):
        download(_url(server).replace("file.bin", "absent.bin"), tmp_path / "absent.bin", progress=False)


def test_git_blob_id_matches_git_and_checks_downloads(server, tmp_path):
    dest = download(_url(server), tmp_path / "file.bin", git_blob=_git_blob(server.payload), progress=False)
    assert git_blob_id(dest) == _git_blob(server.payload)
    git = shutil.which("git")
    if git is not None:  # git itself as the reference
        result = subprocess.run([git, "hash-object", str(dest)], capture_output=True, text=True, check=True)
        assert git_blob_id(dest) == result.stdout.strip()
    with pytest.raises(ChecksumError, match="git blob id is"):
        download(_url(server), tmp_path / "other.bin", git_blob="f" * 40, progress=False)
    assert not (tmp_path / "other.bin").exists() and not (tmp_path / "other.bin.part").exists()


def test_download_resumes_file_urls(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(bytes(range(256)) * 100)
    (tmp_path / "copy.bin.part").write_bytes(source.read_bytes()[:1000])
    copy = download(source.as_uri(), tmp_path / "copy.bin", md5=hashlib.md5(source.read_bytes()).hexdigest())
    assert copy.read_bytes() == source.read_bytes()


def test_extract_zip_selects_members_and_refuses_escapes(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("top/keep/1.txt", "one")
        zf.writestr("top/skip/2.txt", "two")
    written = extract_zip(archive, tmp_path / "out", lambda n: n.split("/", 1)[1] if "/keep/" in n else None, False)
    assert written == [(tmp_path / "out" / "keep" / "1.txt").resolve()] and written[0].read_text() == "one"
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("../../evil.txt", "no")
    with pytest.raises(ValueError, match="outside"):
        extract_zip(tmp_path / "evil.zip", tmp_path / "out", progress=False)


# ------------------------------------------------------------------------------ import commands


def _png(seed, shape=(40, 80, 3)):
    return imagecodecs.png_encode(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))


def test_kitti_command_imports_the_archives(tmp_path):
    source, root = tmp_path / "downloads", tmp_path / "kitti"
    source.mkdir()
    for archive, cameras in [
        ("data_scene_flow_multiview", ("image_2", "image_3")),
        ("data_stereo_flow_multiview", ("colored_0", "colored_1")),
    ]:
        with zipfile.ZipFile(source / f"{archive}.zip", "w") as zf:
            for part in ("training", "testing"):
                for camera in (*cameras, "image_0"):
                    for frame in ("10", "11", "12"):
                        zf.writestr(f"{part}/{camera}/000000_{frame}.png", _png(len(zf.filelist)))
    code = kitti.main(["--root", str(root), "--from", str(source), "--no-general", "--quiet"])
    assert code == 0 and not (root / "data_stereo_flow_multiview" / "training" / "image_0").exists()
    train = data.load("kitti_stereo", "train", root=root)
    assert len(train) == 2 * 2 * 2 and train[0][0].shape == (3, 128, 256)
    assert len(data.load("kitti_stereo", "test", root=root)) == 4
    linked = tmp_path / "linked"
    assert kitti.main(["--root", str(linked), "--from", str(root), "--no-general", "--quiet"]) == 0
    assert (linked / "data_scene_flow_multiview").is_symlink() and (linked / "KITTI_stereo_val.txt").is_file()
    with pytest.raises(FileNotFoundError, match="data_scene_flow_multiview.zip"):
        kitti.main(["--root", str(tmp_path / "x"), "--from", str(tmp_path / "empty"), "--quiet"])


def test_kodak_command_imports_and_checks(shared_data, tmp_path):
    assert kodak.main(["--root", str(tmp_path / "kodak"), "--from", str(shared_data / "kodak"), "--quiet"]) == 0
    assert len(data.load("kodak", "test", root=tmp_path / "kodak")) == 24
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "kodim01.png").write_bytes(_png(0, (512, 768, 3)))
    assert kodak.main(["--root", str(tmp_path / "k2"), "--from", str(partial), "--quiet"]) == 2
    small = tmp_path / "small.png"
    small.write_bytes(_png(1))
    with pytest.raises(ValueError, match="not a Kodak image size"):
        kodak.check(small)


def test_middlebury_command_links_scenes(shared_data, tmp_path):
    assert middlebury.main(["--root", str(tmp_path / "mb"), "--from", str(shared_data / "middlebury")]) == 0
    assert len(data.load("middlebury", "test", root=tmp_path / "mb")) == 3
    assert middlebury.main(["--root", str(tmp_path / "mb2"), "--from", str(tmp_path / "nothing")]) == 2


def test_cityscape_command_extracts_the_zips(tmp_path):
    source = tmp_path / "zips"
    source.mkdir()
    for side in ("left", "right"):
        with zipfile.ZipFile(source / f"{side}Img8bit_trainvaltest.zip", "w") as zf:
            zf.writestr("README", "readme")
            zf.writestr(f"{side}Img8bit/val/lindau/lindau_000000_000019_{side}Img8bit.png", _png(3))
    assert cityscape.main(["--root", str(tmp_path / "cs"), "--from", str(source), "--quiet"]) == 0
    pairs = data.load("cityscape", "val", root=tmp_path / "cs")
    assert pairs.ids == ["lindau/lindau_000000_000019"] and pairs[0][1].shape == (3, 128, 256)
    (source / "leftImg8bit_trainvaltest.zip").write_text("<html>please log in</html>")
    with pytest.raises(ValueError, match="not a zip archive"):
        cityscape.main(["--root", str(tmp_path / "cs2"), "--from", str(source), "--quiet"])


def test_images_command_splits_a_folder(tmp_path):
    source = tmp_path / "photos"
    (source / "holiday").mkdir(parents=True)
    for i in range(10):
        (source / "holiday" / f"{i}.png").write_bytes(_png(i, (64, 64, 3)))
    args = ["--from", str(source), "--test-fraction", "0.2", "--seed", "1"]
    assert images.main(["--root", str(tmp_path / "a"), *args]) == 0
    assert images.main(["--root", str(tmp_path / "b"), *args]) == 0
    test = data.load("images", "test", root=tmp_path / "a")
    assert len(test) == 2 and test.ids == data.load("images", "test", root=tmp_path / "b").ids
    assert len(data.load("images", "train", root=tmp_path / "a", crop=32)) == 8
    assert images.main(["--root", str(tmp_path / "c")]) == 2


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def test_tecnick_command_downloads_the_rgb_originals(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tecnick, "TECNICK", dataclasses.replace(tecnick.TECNICK, count=3, size=(24, 16)))
    members = {f"testimages/RGB/RGB_OR_1200x1200/RGB_OR_1200x1200_{i:03d}.png": _png(i, (24, 16, 3)) for i in (1, 2, 3)}
    members["testimages/RGB/RGB_R02_0600x0600/RGB_R02_0600x0600_001.png"] = _png(9, (12, 8, 3))  # downsampled: skipped
    members["testimages/GRAY/GRAY_OR_1200x1200/GRAY_OR_1200x1200_001.png"] = _png(8, (24, 16))
    members["__MACOSX/testimages/RGB/RGB_OR_1200x1200/._RGB_OR_1200x1200_001.png"] = b"resource fork"
    server.payload = _zip_bytes(members)
    root = tmp_path / "tecnick"
    assert tecnick.main(["--root", str(root), "--url", _url(server), "--quiet"]) == 0
    assert sorted(p.name for p in root.iterdir()) == [f"RGB_OR_1200x1200_00{i}.png" for i in (1, 2, 3)]  # zip removed
    images = data.load("tecnick", "test", root=root)
    assert images.ids == [f"RGB_OR_1200x1200_00{i}" for i in (1, 2, 3)]
    assert images[1].shape == (3, 24, 16)  # full size, as Kodak
    expected = torch.from_numpy(imagecodecs.png_decode(members[next(iter(members))])).permute(2, 0, 1) / 255
    assert torch.equal(images[0], expected)
    assert tecnick.main(["--root", str(root), "--url", _url(server), "--quiet"]) == 0
    assert "already present" in capsys.readouterr().out and len(server.ranges) == 1  # nothing fetched again

    wrong = tmp_path / "wrong"  # a folder of images of another size is refused with a line naming the size
    wrong.mkdir()
    for i in range(3):
        (wrong / f"{i}.png").write_bytes(_png(i, (16, 16, 3)))
    capsys.readouterr()
    assert tecnick.main(["--root", str(tmp_path / "t2"), "--from", str(wrong)]) == 2
    assert "16x16 is not a Tecnick SAMPLING RGB image size (24x16)" in capsys.readouterr().out


def test_clic_command_imports_a_zip_or_a_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        clic_professional, "CLIC_PROFESSIONAL", dataclasses.replace(clic_professional.CLIC_PROFESSIONAL, count=2)
    )
    source = tmp_path / "downloads"
    source.mkdir()
    members = {"valid/alberto-montalesi-176097.png": _png(0, (20, 30, 3)), "valid/ales-krivec-4.png": _png(1)}
    (source / "professional_valid_2020.zip").write_bytes(_zip_bytes({**members, "valid/._ales-krivec-4.png": b"x"}))
    root = tmp_path / "clic"
    assert clic_professional.main(["--root", str(root), "--from", str(source), "--quiet"]) == 0
    assert (source / "professional_valid_2020.zip").is_file()  # a zip given with --from is kept
    images = data.load("clic_professional", "test", root=root)
    assert images.ids == ["alberto-montalesi-176097", "ales-krivec-4"] and images[1].shape == (3, 40, 80)
    with pytest.raises(ValueError, match="only split is 'test'"):
        data.load("clic_professional", "val", root=root)
    linked = tmp_path / "linked"
    assert clic_professional.main(["--root", str(linked), "--from", str(root)]) == 0
    assert all(p.is_symlink() for p in linked.iterdir())
    capsys.readouterr()
    (source / "professional_valid_2020.zip").write_bytes(_zip_bytes({"valid/only-one.png": _png(2)}))
    assert clic_professional.main(["--root", str(tmp_path / "c3"), "--from", str(source), "--quiet"]) == 2
    assert "1 images found, 2 expected" in capsys.readouterr().out
    (source / "professional_valid_2020.zip").write_bytes(_zip_bytes({"../../escape.png": _png(3)}))
    with pytest.raises(ValueError, match="outside"):
        # the select keeps only file names, so extraction itself must refuse an escaping path
        _image_set.prepare(
            dataclasses.replace(clic_professional.CLIC_PROFESSIONAL, select=lambda name: name),
            _image_set.parser(clic_professional.CLIC_PROFESSIONAL, "").parse_args(
                ["--root", str(tmp_path / "c4"), "--from", str(source), "--quiet"]
            ),
        )
    assert not (tmp_path / "escape.png").exists()


def test_commands_run_as_files():
    result = subprocess.run([sys.executable, "data_prep/kitti.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and "--lists-from" in result.stdout

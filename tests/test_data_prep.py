"""data_prep and ndic.data.splits: NDIC-CAM's lists regenerated, resumable downloads, the import commands."""

import hashlib
import http.server
import subprocess
import sys
import threading
import zipfile

import imagecodecs
import numpy as np
import pytest

import ndic.data as data
from conftest import ROOT
from data_prep import cityscape, images, kitti, kodak, middlebury
from data_prep import splits as splits_command
from data_prep.download import ChecksumError, download, extract_zip
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


def test_splits_command_writes_the_published_lists(fake_kitti, shared_data, tmp_path, capsys):
    out = tmp_path / "lists"
    code = splits_command.main(
        ["--root", str(fake_kitti), "--out", str(out), "--lists-from", str(shared_data / "splits"), "--general-train"]
    )
    assert code == 0
    for name in SPLIT_FILES:
        assert (out / name).read_bytes() == (shared_data / "splits" / name).read_bytes(), name
    assert capsys.readouterr().out.count("identical to the published list") == 3
    assert "never published" in (out / "KITTI_general_train.README").read_text()
    assert rules.check_kitti_general(rules.read_list(out / "KITTI_general_train.txt")) == []


def test_splits_command_downloads_and_checks_general_lists(fake_kitti, shared_data, tmp_path, monkeypatch, capsys):
    published = {
        name: rules.PublishedList((shared_data / "splits" / name).as_uri(), entry.sha256, entry.pairs)
        for name, entry in rules.PUBLISHED_LISTS.items()
    }
    monkeypatch.setattr(rules, "PUBLISHED_LISTS", published)
    out = tmp_path / "fetched"
    assert splits_command.main(["--root", str(fake_kitti), "--out", str(out), "--quiet"]) == 0
    assert (out / "KITTI_general_test.txt").read_bytes() == (shared_data / "splits/KITTI_general_test.txt").read_bytes()
    wrong = dict(published)
    wrong["KITTI_general_val.txt"] = rules.PublishedList(published["KITTI_general_val.txt"].url, "0" * 64, 912)
    monkeypatch.setattr(rules, "PUBLISHED_LISTS", wrong)
    assert splits_command.main(["--root", str(fake_kitti), "--out", str(tmp_path / "bad"), "--quiet"]) == 1
    assert "sha256" in capsys.readouterr().out
    assert not (tmp_path / "bad" / "KITTI_general_val.txt").exists()
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


def test_commands_run_as_files():
    result = subprocess.run([sys.executable, "data_prep/kitti.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and "--lists-from" in result.stdout

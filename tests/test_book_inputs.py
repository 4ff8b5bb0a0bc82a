"""The book's execution cache and saved pages are dropped when the files its pages read change, and kept
otherwise."""

from ndic.book_inputs import CACHE, DOCTREES, FINGERPRINT, drop_stale_cache, fingerprint


def _checkout(tmp_path):
    (tmp_path / "results" / "kodak").mkdir(parents=True)
    (tmp_path / "results" / "kodak" / "bpg.csv").write_text("bpp,psnr\n0.5,30\n")
    (tmp_path / CACHE).mkdir(parents=True)
    (tmp_path / CACHE / "global.db").write_text("cached runs")
    return tmp_path


def test_an_unrecorded_cache_is_dropped_then_kept_while_the_inputs_stay(tmp_path):
    root = _checkout(tmp_path)
    assert drop_stale_cache(root)  # nobody recorded what filled it: it may be stale
    assert not (root / CACHE).exists()
    (root / CACHE).mkdir()  # the build fills it again
    assert not drop_stale_cache(root)
    assert (root / CACHE).is_dir()
    assert (root / FINGERPRINT).read_text().strip() == fingerprint(root)


def test_a_changed_added_or_removed_input_drops_the_cache(tmp_path):
    root = _checkout(tmp_path)
    drop_stale_cache(root)
    for change in (
        lambda: (root / "results" / "kodak" / "bpg.csv").write_text("bpp,psnr\n0.5,31\n"),  # same size, new value
        lambda: (root / "checkpoints").mkdir() or (root / "checkpoints" / "m.pt").write_bytes(b"\x00"),
        lambda: (root / "results" / "kodak" / "bpg.csv").unlink(),
    ):
        (root / CACHE).mkdir(exist_ok=True)
        before = fingerprint(root)
        change()
        assert fingerprint(root) != before
        assert drop_stale_cache(root) and not (root / CACHE).exists()


def test_saved_pages_are_dropped_with_the_cache_even_where_the_cache_is_gone(tmp_path):
    root = _checkout(tmp_path)
    drop_stale_cache(root)
    (root / DOCTREES).mkdir(parents=True)  # Sphinx would serve these pages again without reading them
    assert not drop_stale_cache(root) and (root / DOCTREES).is_dir()
    (root / "ndic").mkdir()
    (root / "ndic" / "published_rd.csv").write_text("method,bpp\nvtm,0.1\n")  # the package counts as input
    assert drop_stale_cache(root) and not (root / DOCTREES).exists()
    (root / "ndic" / "__pycache__").mkdir()
    (root / "ndic" / "__pycache__" / "x.pyc").write_bytes(b"\x00")  # but not its byte code
    (root / DOCTREES).mkdir()
    assert not drop_stale_cache(root) and (root / DOCTREES).is_dir()


def test_files_outside_the_inputs_leave_the_cache_alone(tmp_path):
    root = _checkout(tmp_path)
    drop_stale_cache(root)
    (root / CACHE).mkdir()
    (root / "runs").mkdir()
    (root / "runs" / "log.csv").write_text("step\n1\n")
    assert not drop_stale_cache(root) and (root / CACHE).is_dir()

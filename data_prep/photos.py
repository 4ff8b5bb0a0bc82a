"""Real photographs for training, taken from Debian packages and scikit-image, with a manifest.

``python -m data_prep.photos [--root data/photos] [--packages PKG ...] [--from DEBS] [--seed 0]``

Takes the photographs (only photographs: no drawings, renders or icons; chosen by looking at
every candidate, see :mod:`data_prep.photo_sources`) out of Debian packages, plus scikit-image's bundled
photographs, into ``ROOT/<package>/``, splits them into train/val by photograph, and writes
``ROOT/manifest.csv`` (one row per file: package, version, path inside the package, licence and
author as the package states them, split, sha256, bytes, width, height). Then it fetches the real
stereo pairs of stereodemo (:mod:`data_prep.stereodemo`) unless ``--no-stereodemo``.

- Packages are unpacked, never installed (:mod:`data_prep.debian`): an installed package is read
  from ``/``, others are fetched with ``apt-get download`` into ``ROOT/.cache`` (or taken from
  ``--from DEBS``, a folder of ``.deb`` files) and unpacked there; the cache is deleted once a
  package is done (``--keep-cache`` keeps it). GCompris keeps its pictures in Qt resource files,
  read with :mod:`data_prep.rcc`.
- Files are copied byte for byte (JPEG, WebP or PNG as shipped): re-encoding to PNG would add
  bytes but no information, and the sha256 in the manifest stays that of the file in the package.
- Photographs whose pixels repeat one already taken (same sha256, or the same picture re-encoded
  or rescaled in another package) are taken once.
- Split: a photograph is in val when ``sha256("<seed>:<package>:<path>")`` falls below
  ``--val-fraction`` (default 0.1), so adding a package never moves another photograph. The
  scikit-image photographs keep the split of the embedded default dataset and its test images
  (chelsea, and Motorcycle, which is Middlebury's) are left out.
- Idempotent and resumable: each package finished is recorded in ``ROOT/.state/<package>.json``;
  a rerun skips recorded packages whose files are all present and rewrites the manifest, which
  lists every package in the folder (also those of earlier runs not named in ``--packages``).

Exit status 2 with one line when a package is needed and apt-get is not available.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image

from data_prep import debian
from data_prep.photo_sources import DEBIAN_PACKAGES, GCOMPRIS_RCC, SKIMAGE, SKIMAGE_PHOTOS, SOURCES, Source
from data_prep.rcc import RccReader
from ndic.data import default_root
from ndic.data.photos import MANIFEST, MANIFEST_FIELDS
from ndic.io import atomic_write_bytes, atomic_write_text

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MIN_SIDE = 256  # STF/WACNN's training crop must fit


@dataclass(frozen=True)
class Candidate:
    """One photograph inside a package: its path there, a reader of its bytes, and what the package says of it."""

    path: str
    name: str  # file name under ROOT/<package>/
    read: Callable[[], bytes]
    licence: str = ""
    author: str = ""
    licence_source: str = ""


class PrepError(RuntimeError):
    """A problem the user must fix (the message says how); reported in one line with exit status 2."""


def _matches(path: str, globs: tuple[str, ...]) -> bool:
    return any(PurePosixPath(path).match(g) for g in globs)


def _licence(copyright: debian.Copyright, path: str) -> dict[str, str]:
    """Licence and author of ``path`` (installed path or path inside an rcc) from the copyright file."""
    stem = str(PurePosixPath(path).with_suffix(""))
    # the copyright file names sources (.jpg, .svg) that the package may ship converted (.webp)
    candidates = [
        t for s in (".jpg", ".jpeg", ".png", ".webp", PurePosixPath(path).suffix) for t in debian.tails(stem + s)
    ]
    stanza = copyright.lookup(candidates)
    if stanza is None:
        text = copyright.text
        if not copyright.machine_readable and "General Public License" in text:
            version = "3" if "version 3 of the License" in text else "2"
            plus = "+" if "any later version" in text else ""
            return {
                "licence": f"GPL-{version}{plus}",
                "author": "",
                "licence_source": "copyright (free-form, package-wide)",
            }
        return {"licence": "", "author": "", "licence_source": "copyright (no statement)"}
    catch_all = stanza.patterns == ("*",)
    return {
        "licence": stanza.licence,
        # the catch-all stanza names the program's authors, not the photographer
        "author": "" if catch_all else stanza.copyright,
        "licence_source": "copyright: Files: * (package default; file not listed)" if catch_all else "copyright",
    }


def debian_candidates(source: Source, tree: Path) -> Iterator[Candidate]:
    """The photographs of ``source`` in the unpacked ``tree``, with licence and author."""
    copyright = debian.Copyright.of(tree, source.package)
    for pattern in source.globs:
        for file in sorted(tree.glob(pattern)):
            name = file.name
            if not file.is_file() or file.suffix.lower() not in IMAGE_SUFFIXES or name in source.exclude:
                continue
            if source.include and name not in source.include:
                continue
            path = file.relative_to(tree).as_posix()
            upstream = path
            if source.source_dir and path.startswith(source.source_dir[0]):
                upstream = source.source_dir[1] + path[len(source.source_dir[0]) :]
            info = _licence(copyright, upstream)
            extra = source.metadata(tree, path) if source.metadata else {}
            info.update({k: v for k, v in extra.items() if v})
            yield Candidate(path, name, file.read_bytes, **info)
    for rcc_name, inner_globs in source.rcc.items():
        rcc_path = tree / GCOMPRIS_RCC / rcc_name
        if not rcc_path.is_file():
            raise PrepError(f"{source.package}: {rcc_path} is missing (a newer package layout?)")
        for entry in RccReader.open(rcc_path).entries():
            inner = entry.path
            if PurePosixPath(inner).suffix.lower() not in IMAGE_SUFFIXES or not _matches(inner, inner_globs):
                continue
            info = _licence(copyright, inner)
            name = f"{PurePosixPath(rcc_name).stem}__{PurePosixPath(inner).name}"
            yield Candidate(f"{GCOMPRIS_RCC}/{rcc_name}:{inner}", name, entry.read, **info)


def skimage_candidates() -> Iterator[Candidate]:
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    for file, (_, licence, author) in SKIMAGE_PHOTOS.items():
        yield Candidate(
            f"skimage/data/{file}", file, (folder / file).read_bytes, licence, author, "skimage.data docstring"
        )


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def signature(data: bytes, side: int = 16) -> np.ndarray:
    """A tiny normalised grayscale thumbnail: equal for re-encoded or rescaled copies of one picture."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("L", (4 * side, 4 * side))  # JPEG: decode at a reduced scale, much faster
        thumb = np.asarray(image.convert("L").resize((side, side), Image.Resampling.BOX), dtype=np.float64)
    thumb = thumb - thumb.mean()
    return thumb.ravel() / (np.linalg.norm(thumb) or 1.0)


def split_of(seed: int, package: str, path: str, val_fraction: float) -> str:
    digest = hashlib.sha256(f"{seed}:{package}:{path}".encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else "train"


def collect(source_name: str, candidates: Iterator[Candidate], version: str, root: Path) -> list[dict]:
    """Copy the photographs of one package under ``root/<package>/``; their manifest rows (without split)."""
    rows, names = [], set()
    for c in candidates:
        data = c.read()
        width, height = image_size(data)
        if max(width, height) < SOURCES.get(source_name, Source(source_name)).min_long_side:
            continue
        if min(width, height) < MIN_SIDE:
            print(f"  leaving out {c.path}: {width}x{height} is smaller than the {MIN_SIDE} px training crop")
            continue
        if c.name in names:
            raise PrepError(f"{source_name}: two photographs would be written to {c.name}")
        names.add(c.name)
        target = root / source_name / c.name
        if not (target.is_file() and target.stat().st_size == len(data)):
            atomic_write_bytes(target, data)
        rows.append(
            {
                "file": f"{source_name}/{c.name}",
                "package": source_name,
                "version": version,
                "source_path": c.path,
                "licence": c.licence,
                "licence_source": c.licence_source,
                "author": c.author,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "width": width,
                "height": height,
                "signature": signature(data).round(5).tolist(),
            }
        )
    return rows


def _state_file(root: Path, package: str) -> Path:
    return root / ".state" / f"{package}.json"


def _complete(root: Path, package: str) -> list[dict] | None:
    """The recorded rows of ``package`` if its files are all present, else None."""
    state = _state_file(root, package)
    if not state.is_file():
        return None
    rows = json.loads(state.read_text())
    ok = all((root / r["file"]).is_file() and (root / r["file"]).stat().st_size == r["bytes"] for r in rows)
    return rows if ok else None


def prepare_package(
    package: str, root: Path, source: Path | None, keep_cache: bool = False, quiet: bool = False, refresh: bool = False
) -> list[dict]:
    rows = None if refresh else _complete(root, package)
    if rows is not None:
        print(f"{package}: {len(rows)} photographs already there")
        return rows
    cache = root / ".cache"
    if package == SKIMAGE:
        import skimage

        rows = collect(package, skimage_candidates(), skimage.__version__, root)
    else:
        try:
            tree, version, how = debian.unpack(package, cache, source)
        except debian.AptError as error:
            raise PrepError(str(error)) from None
        if not quiet:
            print(f"{package} {version}: {how}")
        rows = collect(package, debian_candidates(SOURCES[package], tree), version, root)
        if not keep_cache:
            shutil.rmtree(cache / "trees" / package, ignore_errors=True)
            for deb in (cache / "debs").glob(f"{package}_*.deb"):
                deb.unlink()
    atomic_write_text(_state_file(root, package), json.dumps(rows))
    print(f"{package}: {len(rows)} photographs")
    return rows


def deduplicate(rows: list[dict], threshold: float = 0.97) -> tuple[list[dict], list[tuple[dict, dict]]]:
    """Keep the first of rows showing the same picture (sha256, or thumbnails correlating above ``threshold``)."""
    kept, dropped, seen = [], [], {}
    for row in rows:
        twin = seen.get(row["sha256"])
        if twin is None:
            aspect = row["width"] / row["height"]
            vector = np.asarray(row["signature"])
            for other in kept:
                if abs(other["width"] / other["height"] / aspect - 1) < 0.05:
                    if float(vector @ np.asarray(other["signature"])) > threshold:
                        twin = other
                        break
        if twin is not None:
            dropped.append((row, twin))
            continue
        seen[row["sha256"]] = row
        kept.append(row)
    return kept, dropped


def assign_splits(rows: list[dict], seed: int, val_fraction: float) -> None:
    from ndic.data import embedded

    pinned = {}
    for split, names in embedded.SPLITS.items():
        for name in names:
            pinned[name] = split
    by_file = {file: pinned[name] for file, (name, _, _) in SKIMAGE_PHOTOS.items() if name in pinned}
    for row in rows:
        if row["package"] == SKIMAGE and row["source_path"].rsplit("/", 1)[1] in by_file:
            row["split"] = by_file[row["source_path"].rsplit("/", 1)[1]]
        else:
            row["split"] = split_of(seed, row["package"], row["source_path"], val_fraction)


def write_manifest(root: Path, rows: list[dict]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r["file"]))
    return atomic_write_text(root / MANIFEST, buffer.getvalue())


def disk_usage(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and ".cache" not in p.parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data_prep.photos", description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=default_root("photos"), help="destination (default: %(default)s)")
    p.add_argument(
        "--packages",
        nargs="+",
        default=list(DEBIAN_PACKAGES),
        metavar="PKG",
        help=f"Debian packages to take photographs from (default: all of {', '.join(DEBIAN_PACKAGES)})",
    )
    p.add_argument(
        "--from", dest="source", type=Path, default=None, help="a folder of .deb files to use instead of apt"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the train/val split (default 0)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of photographs in val (default 0.1)")
    p.add_argument("--keep-cache", action="store_true", help="keep the downloaded .deb files and unpacked trees")
    p.add_argument("--refresh", action="store_true", help="take every package again, even those already done")
    p.add_argument("--no-stereodemo", action="store_true", help="do not fetch the stereodemo pairs")
    p.add_argument("--quiet", action="store_true", help="less output")
    args = p.parse_args(argv)
    unknown = [pkg for pkg in args.packages if pkg not in SOURCES]
    if unknown:
        print(f"error: no recipe for {unknown}; the packages with photographs are {list(DEBIAN_PACKAGES)}")
        return 2
    if not 0 <= args.val_fraction < 1:
        print(f"error: --val-fraction must be in [0, 1), not {args.val_fraction}")
        return 2
    rows = []
    try:
        for package in [*args.packages, SKIMAGE]:
            rows += prepare_package(package, args.root, args.source, args.keep_cache, args.quiet, args.refresh)
    except PrepError as error:
        print(f"error: {error}")
        return 2
    for package in sorted(set(SOURCES) - set(args.packages)):  # done by an earlier run: still in the folder
        rows += _complete(args.root, package) or []
    if not args.keep_cache:
        shutil.rmtree(args.root / ".cache", ignore_errors=True)
    rows, dropped = deduplicate(rows)
    for row, twin in dropped:
        print(f"  {row['file']} shows the same picture as {twin['file']}: taken once")
    assign_splits(rows, args.seed, args.val_fraction)
    manifest = write_manifest(args.root, rows)
    counts = {s: sum(r["split"] == s for r in rows) for s in ("train", "val")}
    print(
        f"{manifest}: {len(rows)} photographs ({counts['train']} train, {counts['val']} val), "
        f"{disk_usage(args.root) / 2**20:.1f} MiB"
    )
    if not args.no_stereodemo:
        from data_prep import stereodemo

        return stereodemo.main(["--quiet"] if args.quiet else [])
    return 0


if __name__ == "__main__":
    from data_prep._common import run_command

    sys.exit(run_command(main, "photos"))

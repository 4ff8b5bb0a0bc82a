"""Which files of which packages are photographs: the catalogue of :mod:`data_prep.photos`.

Every candidate file of these packages was looked at (contact sheets of all images of 800 px and
more); the comments say what was left out and why. Licence and author come from the package's
copyright file (:mod:`data_prep.debian`) unless the package describes its images itself
(Palapeli's ``.desktop`` files, LXQt's ``wallpapers/License``), which ``metadata`` then reads.
"""

from __future__ import annotations

import configparser
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

SKIMAGE = "scikit-image"


@dataclass(frozen=True)
class Source:
    """Where a package keeps its photographs: globs under the installed tree, or inside its .rcc files."""

    package: str
    globs: tuple[str, ...] = ()
    rcc: dict[str, tuple[str, ...]] = field(default_factory=dict)  # rcc file -> globs inside it
    exclude: tuple[str, ...] = ()  # file names that are not photographs
    include: tuple[str, ...] = ()  # if given: only these file names
    min_long_side: int = 0  # drops icons and thumbnails among the globbed files
    # (installed folder, folder in the upstream source) where the copyright file names files by the latter
    source_dir: tuple[str, str] | None = None
    metadata: Callable[[Path, str], dict[str, str]] | None = None


def _palapeli_metadata(tree: Path, path: str) -> dict[str, str]:
    """Palapeli's puzzle descriptions (``<name>.desktop`` beside the image) name author and licence."""
    desktop = tree / Path(path).with_suffix(".desktop")
    if not desktop.is_file():
        return {}
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(desktop.read_text(encoding="utf-8", errors="replace"))
    section = parser[parser.sections()[0]] if parser.sections() else {}
    author = section.get("X-KDE-PluginInfo-Author", "")
    website = section.get("X-KDE-PluginInfo-Website", "")
    return {
        "licence": section.get("X-KDE-PluginInfo-License", ""),
        "author": f"{author} ({website})" if website else author,
        "licence_source": desktop.name,
    }


def _lxqt_metadata(tree: Path, path: str) -> dict[str, str]:
    """LXQt's ``wallpapers/License``: a licence URL for all wallpapers and credit lines "person" / "names;"."""
    licence_file = tree / "usr/share/lxqt/wallpapers/License"
    if not licence_file.is_file():
        return {}
    lines = [line.strip() for line in licence_file.read_text(encoding="utf-8", errors="replace").splitlines()]
    licence = next((line.split("/licenses/")[1].strip("/") for line in lines if "/licenses/" in line), "")
    licence = f"CC-{licence.upper().replace('/', '-')}" if licence else ""
    stem = PurePosixPath(path).stem.lower()
    author = ""
    for person, names in zip(lines, lines[1:], strict=False):
        if names.endswith(";") and person and not person.endswith(";"):
            for credited in names.rstrip(";").lower().split(","):
                credited = credited.strip()
                if credited and (credited == stem or stem in credited or stem.endswith("-" + credited)):
                    author = person
    return {"licence": licence, "author": author, "licence_source": "usr/share/lxqt/wallpapers/License"}


GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc"
# Every candidate was looked at; the comments say what was left out and why.
SOURCES: dict[str, Source] = {
    s.package: s
    for s in (
        Source(
            "gcompris-qt-data",
            rcc={
                "clickgame.rcc": ("*/clickgame/resource/sea*",),  # underwater photographs
                "erase.rcc": ("*/erase/resource/*",),  # animal photographs
                "explore_farm_animals.rcc": ("*/resource/animals/*",),
                "explore_monuments.rcc": ("*/explore_monuments/resource/*/*",),
                "explore_world_animals.rcc": ("*/resource/animals/*",),
                "explore_world_music.rcc": ("*/resource/music/*",),
            },
            min_long_side=1000,  # the same folders hold small drawings and icons
        ),
        # analogpattern (an abstract pattern) and umang (a render) are not photographs
        Source(
            "lomiri-wallpapers-16.04",
            globs=("usr/share/backgrounds/*.jpg",),
            exclude=("analogpattern_by_Peter_Nerlich.jpg", "umang_by_Abhishek_Mudgal.jpg"),
            source_dir=("usr/share/backgrounds/", "16.04/"),
        ),
        # the demo album; CategoryImages/ holds 128 px thumbnails of the same photographs
        Source("kphotoalbum", globs=("usr/share/kphotoalbum/demo/*.jpg",)),
        # collection/ are photographs; backgrounds/ are drawn textures
        Source("palapeli-data", globs=("usr/share/palapeli/collection/*.jpg",), metadata=_palapeli_metadata),
        Source("puzzle-jigsaw", globs=("usr/share/puzzle-jigsaw/samples/*",)),
        # the other wallpapers are renders, logos and drawings
        Source(
            "lxqt-themes",
            globs=("usr/share/lxqt/wallpapers/*",),
            include=(
                "Butterfly-Kenneth-Wimer.jpg",
                "Valendas.png",
                "after-the-rain.jpg",
                "appleflower.png",
                "beam.png",
                "butterfly.png",
                "cloud.png",
                "drop.png",
                "flowers.png",
                "fog.jpg",
                "this-is-not-windows.jpg",
            ),
            metadata=_lxqt_metadata,
        ),
        # nature/ are photographs; abstract/ and desktop/ are renders
        Source("mate-backgrounds", globs=("usr/share/backgrounds/mate/nature/*.jpg",)),
    )
}
DEBIAN_PACKAGES = tuple(SOURCES)

# scikit-image's bundled photographs (skimage/data), licence and author as their docstrings state.
# Left out: chelsea and motorcycle (test images of the embedded default; Motorcycle is Middlebury's),
# brick/grass/gravel (processed texture scans), moon (no licence stated), page/text/microaneurysms
# (too small for a 256 px crop), and the drawings and synthetic images.
SKIMAGE_PHOTOS = {
    "astronaut.png": ("astronaut", "public-domain", "NASA (Eileen Collins)"),
    "coffee.png": ("coffee", "CC0-1.0", "Rachel Michetti"),
    "rocket.jpg": ("rocket", "public-domain", "SpaceX"),
    "hubble_deep_field.jpg": ("hubble_deep_field", "public-domain", "NASA"),
    "ihc.png": ("immunohistochemistry", "no known copyright restrictions", ""),
    "retina.jpg": ("retina", "CC0-1.0", "Mikael Häggström"),
    "camera.png": ("camera", "CC0-1.0", "Lav Varshney"),
    "cell.png": ("cell", "CC0-1.0", ""),
    "coins.png": ("coins", "no known copyright restrictions", "Brooklyn Museum"),
    "clock_motion.png": ("clock", "public-domain", "Stefan van der Walt"),
}

"""Cityscapes stereo for NDIC-CAM: ``leftImg8bit_trainvaltest.zip`` + ``rightImg8bit_trainvaltest.zip``.

Cityscapes needs an account (https://www.cityscapes-dataset.com/register/) and its terms forbid
redistribution, so this project never ships its images. Either

- ``python -m data_prep.cityscape --from DIR``: DIR holds the two zips (downloaded by hand) or the
  unpacked ``leftImg8bit/`` and ``rightImg8bit/`` folders; or
- ``CITYSCAPES_USERNAME=... CITYSCAPES_PASSWORD=... python -m data_prep.cityscape``: logs in and
  downloads the two packages (11 GB each; the site publishes no checksums), resumable.

The result is NDIC-CAM's ``cityscape_dataset`` layout: ``<root>/leftImg8bit/{train,val,test}/<city>/``
and the same under ``rightImg8bit``.
"""

from __future__ import annotations

import getpass
import http.cookiejar
import os
import sys
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_prep import _common
from data_prep.download import download, extract_zip

LOGIN_URL = "https://www.cityscapes-dataset.com/login/"
PACKAGE_URL = "https://www.cityscapes-dataset.com/file-handling/?packageID={}"
PACKAGES = {"leftImg8bit": ("leftImg8bit_trainvaltest.zip", 3), "rightImg8bit": ("rightImg8bit_trainvaltest.zip", 5)}


def login(username: str, password: str) -> urllib.request.OpenerDirector:
    """An opener holding the session cookie of a Cityscapes login."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"username": username, "password": password, "submit": "Login"}).encode()
    with opener.open(urllib.request.Request(LOGIN_URL, data=form), timeout=60):
        pass  # a wrong password is only noticed later: the package URL then returns a web page, not a zip
    return opener


def credentials() -> tuple[str, str]:
    username, password = os.environ.get("CITYSCAPES_USERNAME"), os.environ.get("CITYSCAPES_PASSWORD")
    if username and password:
        return username, password
    if not sys.stdin.isatty():
        raise SystemExit(
            "error: set CITYSCAPES_USERNAME and CITYSCAPES_PASSWORD, or download the two zips by hand and "
            "run python -m data_prep.cityscape --from DIR"
        )
    return input("Cityscapes username: "), getpass.getpass("Cityscapes password: ")


def extract(zip_path: Path, root: Path, folder: str, progress: bool) -> None:
    if not zipfile.is_zipfile(zip_path):
        raise ValueError(f"{zip_path} is not a zip archive (a failed login returns a web page instead)")
    extract_zip(zip_path, root, lambda name: name if name.startswith(f"{folder}/") else None, progress)


def main(argv: list[str] | None = None) -> int:
    p = _common.parser("cityscape", "cityscape", __doc__.splitlines()[0])
    p.add_argument("--keep-archives", action="store_true", help="keep the downloaded zips in <root>/downloads")
    args = p.parse_args(argv)
    opener = None
    for folder, (zip_name, package) in PACKAGES.items():
        target = args.root / folder
        if target.is_dir():
            print(f"{target}: already present")
            continue
        if args.source is not None:
            if (args.source / folder).is_dir():
                _common.place(args.source / folder, target, args.copy)
            elif (args.source / zip_name).is_file():
                extract(args.source / zip_name, args.root, folder, not args.quiet)
            else:
                print(f"error: --from {args.source} holds neither {zip_name} nor {folder}/")
                return 2
        else:
            opener = opener or login(*credentials())
            zip_path = download(PACKAGE_URL.format(package), args.root / "downloads" / zip_name, opener=opener)
            try:
                extract(zip_path, args.root, folder, not args.quiet)
            except ValueError:
                zip_path.unlink()  # a web page saved under the zip's name: do not keep it as "downloaded"
                raise
            if not args.keep_archives:
                zip_path.unlink()
        print(f"{target}: ready")
    return 0


if __name__ == "__main__":
    sys.exit(_common.run_command(main, "cityscape"))

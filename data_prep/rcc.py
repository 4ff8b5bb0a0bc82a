"""A reader of Qt's binary resource files (``.rcc``, written by ``rcc --binary``), standard library only.

Layout (big-endian throughout; Qt's ``qresource.cpp`` reads the same):

- header: ``b"qres"``, format version (u32), then the offsets of the tree, the data and the names
  (u32 each) and, from version 3 on, the overall flags (u32);
- tree: fixed-size nodes, node 0 the root: name offset (u32), flags (u16), then for a directory the
  child count and the index of its first child (u32 each), for a file its territory and language
  (u16 each) and its data offset (u32); from version 2 on a last-modified time (u64) follows, so a
  node is 14 bytes in version 1 and 22 after;
- names: length in UTF-16 units (u16), hash (u32), the UTF-16BE characters;
- data: length (u32) and the bytes. Flag 0x1 marks zlib data in ``qCompress`` form (the inflated
  length as u32, then a zlib stream), flag 0x4 a zstd frame (Qt 5.13+; needs the ``zstandard``
  package, which Qt 5's Debian builds do not use), flag 0x2 a directory.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"qres"
ZLIB, DIRECTORY, ZSTD = 0x1, 0x2, 0x4


class RccError(ValueError):
    """The file is not a Qt resource file, or it is damaged."""


@dataclass(frozen=True)
class RccEntry:
    """One file of a resource: its path inside the resource (``"a/b.jpg"``), flags and stored bytes."""

    path: str
    flags: int
    stored: bytes

    @property
    def compression(self) -> str:
        return "zstd" if self.flags & ZSTD else "zlib" if self.flags & ZLIB else "none"

    def read(self) -> bytes:
        """The file's bytes, decompressed."""
        if self.flags & ZLIB:
            if len(self.stored) < 4:
                raise RccError(f"{self.path}: zlib entry of {len(self.stored)} bytes has no length prefix")
            expected = struct.unpack_from(">I", self.stored)[0]
            data = zlib.decompress(self.stored[4:])
            if len(data) != expected:
                raise RccError(f"{self.path}: inflated to {len(data)} bytes, the entry says {expected}")
            return data
        if self.flags & ZSTD:
            try:
                import zstandard
            except ImportError:
                raise RccError(
                    f"{self.path} is zstd-compressed; install the zstandard package (pip install zstandard)"
                ) from None
            return zstandard.ZstdDecompressor().decompress(self.stored, max_output_size=1 << 31)
        return self.stored


class RccReader:
    """The files of one ``.rcc`` image held in memory: ``RccReader(data).entries()``."""

    def __init__(self, data: bytes, name: str = "<rcc>"):
        self.data, self.name = data, name
        if data[:4] != MAGIC:
            raise RccError(f"{name}: not a Qt resource file (no 'qres' header)")
        self.version, self.tree, self.payload, self.names = self._u32s(4, 4)
        if self.version not in (1, 2, 3):
            raise RccError(f"{name}: rcc format version {self.version} is not supported (1-3 are)")
        self.overall_flags = self._u32s(20, 1)[0] if self.version >= 3 else 0
        self.node_size = 14 if self.version == 1 else 22

    @classmethod
    def open(cls, path: str | Path) -> RccReader:
        return cls(Path(path).read_bytes(), str(path))

    def _u32s(self, offset: int, count: int) -> tuple[int, ...]:
        try:
            return struct.unpack_from(f">{count}I", self.data, offset)
        except struct.error:
            raise RccError(f"{self.name}: truncated at byte {offset}") from None

    def _name(self, offset: int) -> str:
        start = self.names + offset
        try:
            (length,) = struct.unpack_from(">H", self.data, start)
        except struct.error:
            raise RccError(f"{self.name}: name offset {offset} is outside the file") from None
        raw = self.data[start + 6 : start + 6 + 2 * length]
        if len(raw) != 2 * length:
            raise RccError(f"{self.name}: name at offset {offset} is truncated")
        return raw.decode("utf-16-be")

    def _node(self, index: int) -> tuple[int, int, int, int]:
        """(name offset, flags, a, b): a, b = child count, first child for directories; 0, data offset for files."""
        start = self.tree + index * self.node_size
        if start + 14 > len(self.data):
            raise RccError(f"{self.name}: tree node {index} is outside the file")
        name, flags = struct.unpack_from(">IH", self.data, start)
        if flags & DIRECTORY:
            count, first = struct.unpack_from(">II", self.data, start + 6)
            return name, flags, count, first
        return name, flags, 0, struct.unpack_from(">I", self.data, start + 10)[0]

    def _stored(self, offset: int) -> bytes:
        (length,) = self._u32s(self.payload + offset, 1)
        start = self.payload + offset + 4
        if start + length > len(self.data):
            raise RccError(f"{self.name}: data at offset {offset} ({length} bytes) runs past the end")
        return self.data[start : start + length]

    def entries(self) -> Iterator[RccEntry]:
        """Every file, depth first in tree order (Qt sorts siblings by name hash)."""
        pending, seen = [(0, "")], set()
        while pending:
            index, prefix = pending.pop()
            if index in seen:  # a damaged tree could loop
                raise RccError(f"{self.name}: tree node {index} is reached twice")
            seen.add(index)
            name_offset, flags, a, b = self._node(index)
            path = prefix if index == 0 else f"{prefix}{self._name(name_offset)}"
            if flags & DIRECTORY:
                children = [(b + i, f"{path}/" if path else "") for i in range(a)]
                pending.extend(reversed(children))
            else:
                yield RccEntry(path, flags, self._stored(b))


def read_rcc(path: str | Path) -> dict[str, RccEntry]:
    """``{path inside the resource: entry}`` of the ``.rcc`` file ``path``."""
    return {entry.path: entry for entry in RccReader.open(path).entries()}

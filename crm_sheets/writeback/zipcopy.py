"""A small zip writer that copies untouched members byte for byte.

`zipfile` can only write a member by compressing it again; the patcher wants every
part it does not change to come out exactly as it went in (same compressed bytes,
same CRC), and to stream big parts without holding two copies. This writer emits
plain (non-zip64) archives: local headers with sizes known up front (no data
descriptors), a central directory and the end record. Archives over 4 GiB or with
more than 65,535 members are refused (no workbook the engine writes comes close).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import BinaryIO
from zipfile import ZIP_DEFLATED, ZIP_STORED, ZipFile, ZipInfo

from ..errors import CrmError

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_LIMIT = 0xFFFFFFFF
_UTF8_FLAG = 0x800


def _dos(dt: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    year = max(1980, dt[0])
    return (dt[3] << 11 | dt[4] << 5 | dt[5] // 2), ((year - 1980) << 9 | dt[1] << 5 | dt[2])


class ZipWriter:
    """Write members one after another to `fp`, then `close()` writes the directory."""

    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp
        self.entries: list[tuple[bytes, int, int, int, int, int, int, int, int, int, int]] = []
        self.offset = 0

    def _write(self, data: bytes | memoryview) -> None:
        self.fp.write(data)
        self.offset += len(data)

    def _entry(self, name: str, date_time: tuple, method: int, crc: int, csize: int,
               usize: int, external_attr: int) -> None:
        if csize > _LIMIT or usize > _LIMIT or self.offset > _LIMIT:
            raise CrmError(f"zip member {name} is too large to write (over 4 GiB)")
        raw_name = name.encode("utf-8")
        flags = 0 if name.isascii() else _UTF8_FLAG
        dtime, ddate = _dos(date_time)
        header_offset = self.offset
        self._write(_LOCAL.pack(b"PK\x03\x04", 20, flags, method, dtime, ddate, crc, csize, usize,
                                len(raw_name), 0) + raw_name)
        self.entries.append((raw_name, flags, method, dtime, ddate, crc, csize, usize,
                             external_attr, header_offset, 0))

    def copy_raw(self, src: ZipFile, info: ZipInfo) -> None:
        """Copy one member's compressed bytes unchanged from `src`."""
        if info.flag_bits & 0x1:
            raise CrmError(f"zip member {info.filename} is encrypted")
        if info.compress_type not in (ZIP_STORED, ZIP_DEFLATED):
            raise CrmError(f"zip member {info.filename} uses an unsupported compression")
        fp = src.fp
        assert fp is not None
        fp.seek(info.header_offset)
        head = fp.read(30)
        if len(head) != 30 or head[:4] != b"PK\x03\x04":
            raise CrmError(f"zip member {info.filename} has a broken local header")
        name_len, extra_len = struct.unpack("<2H", head[26:30])
        fp.seek(info.header_offset + 30 + name_len + extra_len)
        self._entry(info.filename, info.date_time, info.compress_type, info.CRC,
                    info.compress_size, info.file_size, info.external_attr)
        left = info.compress_size
        while left:
            chunk = fp.read(min(left, 1 << 20))
            if not chunk:
                raise CrmError(f"zip member {info.filename} is truncated")
            self._write(chunk)
            left -= len(chunk)

    def write_member(self, name: str, chunks: Iterable[bytes | memoryview], *,
                     date_time: tuple = (1980, 1, 1, 0, 0, 0), level: int = 2,
                     external_attr: int = 0) -> int:
        """Deflate `chunks` into a new member (sizes are patched into the header after).

        Returns the member's CRC-32."""
        header_pos = self.fp.tell()
        start_offset = self.offset
        self._entry(name, date_time, ZIP_DEFLATED, 0, 0, 0, external_attr)
        comp = zlib.compressobj(level, zlib.DEFLATED, -15)
        crc = usize = csize = 0
        for chunk in chunks:
            if not chunk:
                continue
            crc = zlib.crc32(chunk, crc)
            usize += len(chunk)
            out = comp.compress(chunk)
            if out:
                csize += len(out)
                self._write(out)
        out = comp.flush()
        csize += len(out)
        self._write(out)
        if csize > _LIMIT or usize > _LIMIT:
            raise CrmError(f"zip member {name} is too large to write (over 4 GiB)")
        end = self.fp.tell()
        self.fp.seek(header_pos + 14)
        self.fp.write(struct.pack("<3L", crc, csize, usize))
        self.fp.seek(end)
        e = self.entries[-1]
        self.entries[-1] = (e[0], e[1], e[2], e[3], e[4], crc, csize, usize, e[8], start_offset,
                            0)
        return crc

    def close(self) -> None:
        if len(self.entries) > 0xFFFF:
            raise CrmError("too many zip members to write")
        cd_start = self.offset
        for (raw_name, flags, method, dtime, ddate, crc, csize, usize, ext_attr, offset,
             _) in self.entries:
            self._write(_CENTRAL.pack(b"PK\x01\x02", 20, 20, flags, method, dtime, ddate, crc,
                                      csize, usize, len(raw_name), 0, 0, 0, 0, ext_attr,
                                      offset) + raw_name)
        cd_size = self.offset - cd_start
        n = len(self.entries)
        self._write(_END.pack(b"PK\x05\x06", 0, 0, n, n, cd_size, cd_start, 0))

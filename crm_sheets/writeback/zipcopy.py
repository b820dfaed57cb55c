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
from dataclasses import dataclass
from typing import BinaryIO
from zipfile import ZIP_DEFLATED, ZIP_STORED, ZipFile, ZipInfo

from ..errors import CrmError
from ..i18n import t

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_LIMIT = 0xFFFFFFFF
_UTF8_FLAG = 0x800


def _dos(dt: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    year = max(1980, dt[0])
    return (dt[3] << 11 | dt[4] << 5 | dt[5] // 2), ((year - 1980) << 9 | dt[1] << 5 | dt[2])


@dataclass(slots=True)
class Deflated:
    """A member's raw-deflate stream with its CRC-32 and sizes."""

    blocks: list[bytes]
    crc: int
    csize: int
    usize: int


def deflate(chunks: Iterable[bytes | memoryview], level: int = 2) -> Deflated:
    """Compress `chunks` into memory. zlib releases the GIL, so sheets compress in
    parallel on threads while the writer keeps the member order."""
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    blocks: list[bytes] = []
    crc = usize = csize = 0
    for chunk in chunks:
        if not chunk:
            continue
        crc = zlib.crc32(chunk, crc)
        usize += len(chunk)
        out = comp.compress(chunk)
        if out:
            blocks.append(out)
            csize += len(out)
    out = comp.flush()
    blocks.append(out)
    csize += len(out)
    return Deflated(blocks, crc, csize, usize)


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
            raise CrmError(t(f"文件内部件 {name} 过大（超过 4 GiB），无法写入", f"zip member {name} is too large to write (over 4 GiB)"))
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
            raise CrmError(t(f"文件内部件 {info.filename} 已加密", f"zip member {info.filename} is encrypted"))
        if info.compress_type not in (ZIP_STORED, ZIP_DEFLATED):
            raise CrmError(t(f"文件内部件 {info.filename} 的压缩方式不受支持", f"zip member {info.filename} uses an unsupported compression"))
        fp = src.fp
        assert fp is not None
        fp.seek(info.header_offset)
        head = fp.read(30)
        if len(head) != 30 or head[:4] != b"PK\x03\x04":
            raise CrmError(t(f"文件内部件 {info.filename} 已损坏（头部）", f"zip member {info.filename} has a broken local header"))
        name_len, extra_len = struct.unpack("<2H", head[26:30])
        fp.seek(info.header_offset + 30 + name_len + extra_len)
        self._entry(info.filename, info.date_time, info.compress_type, info.CRC,
                    info.compress_size, info.file_size, info.external_attr)
        left = info.compress_size
        while left:
            chunk = fp.read(min(left, 1 << 20))
            if not chunk:
                raise CrmError(t(f"文件内部件 {info.filename} 不完整", f"zip member {info.filename} is truncated"))
            self._write(chunk)
            left -= len(chunk)

    def write_deflated(self, name: str, deflated: Deflated, *,
                       date_time: tuple = (1980, 1, 1, 0, 0, 0), external_attr: int = 0) -> int:
        """Write a member compressed beforehand by `deflate` (on another thread). Returns
        its CRC-32."""
        if deflated.csize > _LIMIT or deflated.usize > _LIMIT:
            raise CrmError(t(f"文件内部件 {name} 过大（超过 4 GiB），无法写入", f"zip member {name} is too large to write (over 4 GiB)"))
        self._entry(name, date_time, ZIP_DEFLATED, deflated.crc, deflated.csize,
                    deflated.usize, external_attr)
        for block in deflated.blocks:
            self._write(block)
        return deflated.crc

    def close(self) -> None:
        if len(self.entries) > 0xFFFF:
            raise CrmError(t("文件内部件过多，无法写入", "too many zip members to write"))
        cd_start = self.offset
        for (raw_name, flags, method, dtime, ddate, crc, csize, usize, ext_attr, offset,
             _) in self.entries:
            self._write(_CENTRAL.pack(b"PK\x01\x02", 20, 20, flags, method, dtime, ddate, crc,
                                      csize, usize, len(raw_name), 0, 0, 0, 0, ext_attr,
                                      offset) + raw_name)
        cd_size = self.offset - cd_start
        n = len(self.entries)
        self._write(_END.pack(b"PK\x05\x06", 0, 0, n, n, cd_size, cd_start, 0))

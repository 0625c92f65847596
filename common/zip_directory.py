"""How many members a .zip (or .npz) lists, read from its end records before anything parses it.

`zipfile.ZipFile(path)` reads the whole central directory into one ZipInfo object per member when
it opens, so a 98 MB archive of a million empty members costs seconds and hundreds of MB before
any check on the member list can run. The end-of-central-directory record (the last 22 bytes plus
a comment; PKWARE APPNOTE.TXT 4.3.16), and for large archives the ZIP64 end record (4.3.14) that
precedes it, state the member count and the directory's size in bytes; `check_zip_directory`
refuses an archive over a member cap from those alone. ZipFile parses exactly the directory's
stated size, so bounding that bounds its work even when the stated count lies.
"""
from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

END = struct.Struct("<4s4H2LH")  # signature, disk, disk of the directory, entries here, entries, size, offset, comment
END_SIGNATURE = b"PK\x05\x06"
ZIP64_LOCATOR = struct.Struct("<4sLQL")  # signature, disk of the ZIP64 end record, its offset, disks
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
ZIP64_END = struct.Struct("<4sQ2H2L4Q")  # signature, record size, versions, disks, entries here, entries, size, offset
ZIP64_END_SIGNATURE = b"PK\x06\x06"
MAX_COMMENT = 0xFFFF
DIRECTORY_BYTES_PER_MEMBER = 1024  # a member's directory entry: 46 bytes, its name and extra fields


@dataclass(frozen=True)
class ZipDirectory:
    """What an archive's end records state: its member count and central directory size (bytes)."""

    members: int
    directory_bytes: int


def _zip64_end(file, end_at: int, locator_offset: int) -> tuple[int, int]:
    """(members, directory bytes) of the ZIP64 end record, looked for where zipfile looks (just
    before the locator) and where the locator points; the larger of what either states."""
    members = size = 0
    for at in {end_at - ZIP64_LOCATOR.size - ZIP64_END.size, locator_offset}:
        if at < 0:
            continue
        file.seek(at)
        data = file.read(ZIP64_END.size)
        if len(data) == ZIP64_END.size and data[:4] == ZIP64_END_SIGNATURE:
            fields = ZIP64_END.unpack(data)
            members, size = max(members, fields[7]), max(size, fields[8])
    return members, size


def read_zip_directory(path: str | Path) -> ZipDirectory:
    """The member count and directory size an archive's end records state (reading at most its
    last 64 kB and, for a ZIP64 archive, 56 bytes more). zipfile.BadZipFile, as ZipFile would
    raise, when it has no end record (not a zip archive)."""
    path = Path(path)
    with open(path, "rb") as file:
        file.seek(0, 2)
        length = file.tell()
        tail_at = max(0, length - END.size - MAX_COMMENT)
        file.seek(tail_at)
        tail = file.read()
        found = tail.rfind(END_SIGNATURE)
        if found < 0 or found + END.size > len(tail):
            raise zipfile.BadZipFile("no end of central directory record")
        fields = END.unpack(tail[found:found + END.size])
        members, size = fields[4], fields[5]
        end_at = tail_at + found
        if end_at >= ZIP64_LOCATOR.size:
            file.seek(end_at - ZIP64_LOCATOR.size)
            locator = file.read(ZIP64_LOCATOR.size)
            if locator[:4] == ZIP64_LOCATOR_SIGNATURE:
                members64, size64 = _zip64_end(file, end_at, ZIP64_LOCATOR.unpack(locator)[2])
                members, size = max(members, members64), max(size, size64)
    return ZipDirectory(int(members), int(size))


def check_zip_directory(path: str | Path, max_members: int, what: str = "files", kind: str = "a .zip") -> ZipDirectory:
    """The archive's ZipDirectory (zipfile.BadZipFile when it has none), or a ValueError naming the
    file when it lists more than
    `max_members` members, or has a central directory larger than `max_members` entries take
    (DIRECTORY_BYTES_PER_MEMBER each): "x.zip holds 1000000 files; a .zip may hold at most 2000"."""
    path = Path(path)
    directory = read_zip_directory(path)
    if directory.members > max_members:
        raise ValueError(f"{path.name} holds {directory.members} {what}; {kind} may hold at most {max_members}")
    if directory.directory_bytes > max_members * DIRECTORY_BYTES_PER_MEMBER:
        raise ValueError(f"{path.name}: its directory takes {directory.directory_bytes / 2**20:,.1f} MB, more than "
                         f"{max_members} {what} need; {kind} may hold at most {max_members}")
    return directory

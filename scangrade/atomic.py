"""Writing a file whole: into a temporary file beside it, then renamed into place, so a
reader (or a crash) never sees half a file and an earlier file stays until the new one is
complete. The file gets the permissions any file the process creates gets (the umask)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def replacing(path: Path, mode: str = "wb", fsync: bool = False, **open_args) -> Iterator[IO]:
    """`with replacing(path) as f: f.write(...)` writes `path` whole, or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, mode.replace("w", "x"), **open_args) as handle:
            yield handle
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_whole(path: Path, data: bytes, fsync: bool = False) -> None:
    with replacing(path, "wb", fsync=fsync) as handle:
        handle.write(data)

"""Players' files kept by the helpdesk itself (mail attachments), addressed by content.

The same bytes stored twice are one file with one reference, so a retried delivery never
leaves copies behind, and a reference can be checked for shape before any path is built
from it.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Protocol

PREFIX = "file:"
_REF = re.compile(r"^file:([0-9a-f]{64})$")


class FileStore(Protocol):
    def put(self, data: bytes) -> str:
        """Keep the bytes; return their reference."""
        ...

    def get(self, ref: str) -> bytes:
        """The bytes of a reference `put` returned; LookupError if there are none."""
        ...


def is_stored_file(ref: str) -> bool:
    return _REF.match(ref) is not None


class LocalFiles:
    """Files under one directory (`DATA_DIR/files` by default), fanned out by hash prefix."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, digest: str) -> Path:
        return self.directory / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)  # readers never see half a file
        return PREFIX + digest

    def get(self, ref: str) -> bytes:
        match = _REF.match(ref)
        if match is None:
            raise LookupError(f"not a stored file: {ref[:80]}")
        try:
            return self._path(match.group(1)).read_bytes()
        except FileNotFoundError:
            raise LookupError(f"no such file: {ref}") from None

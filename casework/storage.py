"""The document store: rendered letters, PDFs, delivery proofs, templates and batch zips.

Files live under DOCUMENT_STORE (default: <instance>/documents); the database keeps paths
relative to it, so the store can move. Writes are atomic (temporary file, then rename), so a
reader never sees half a letter and two workers writing the same deterministic file agree.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path, PurePosixPath

from flask import current_app

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def root() -> Path:
    """The store's directory (created on first use)."""
    configured = current_app.config.get("DOCUMENT_STORE")
    path = Path(configured) if configured else Path(current_app.instance_path) / "documents"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _relative(relpath: str) -> PurePosixPath:
    rel = PurePosixPath(relpath)
    if rel.is_absolute() or not rel.parts or any(p in ("..", ".", "") for p in rel.parts):
        raise ValueError(f"not a path inside the document store: {relpath!r}")
    return rel


def path_of(relpath: str) -> Path:
    """The absolute path of a stored file."""
    return root().joinpath(*_relative(relpath).parts)


def save(relpath: str, data: bytes) -> str:
    """Write bytes atomically under the store; returns the relative path."""
    target = path_of(relpath)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return str(_relative(relpath))


def read(relpath: str) -> bytes:
    return path_of(relpath).read_bytes()


def exists(relpath: str | None) -> bool:
    if not relpath:
        return False
    try:
        return path_of(relpath).is_file()
    except ValueError:
        return False


def safe_filename(name: str, default: str = "file") -> str:
    """A user-supplied file name reduced to one safe path component."""
    base = _UNSAFE.sub("_", os.path.basename(name.replace("\\", "/"))).strip(" .")
    return base[:120] or default

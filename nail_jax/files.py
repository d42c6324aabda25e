"""Atomic file writes: a reader (or a crash) never sees a half-written file.

Every file nail_jax writes (run configs, metrics, summaries, evaluations, datasets) goes
through :func:`write_atomic`: the content is written to a temporary file in the same
directory, which then replaces ``path`` in one ``os.replace``; on any failure the
temporary file is removed and ``path`` is left as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import tempfile
from collections.abc import Callable
from typing import IO, Any


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Calls ``write(f)`` on a binary temporary file next to ``path``, then renames it.

    The file gets the usual mode of a new file (``0o666`` less the umask), not the
    ``0o600`` of :func:`tempfile.mkstemp`. The parent directory must exist.
    """
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Writes ``data`` as indented JSON (with a final newline) to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def write_jsonl_atomic(path: str | os.PathLike, records: list[dict]) -> None:
    """Writes ``records`` as JSON lines (one object per line) to ``path`` atomically."""
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in records))


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes: the fingerprint datasets keep of the expert file they
    came from, and runs of the demonstration file they train on."""
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()

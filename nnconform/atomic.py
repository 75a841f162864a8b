"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The text goes to a temporary file in the destination's own directory (same file system, so
``os.replace`` is an atomic rename), is flushed and fsynced, then renamed over the target.
If anything fails before the rename, the temporary file is removed and the old file is untouched.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

__all__ = ["write_bytes_atomic", "write_json_atomic", "write_text_atomic", "json_safe"]


def write_bytes_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent directories are created). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:  # mkstemp makes 0600 files; give the result the usual permissions
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_text_atomic(path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically. Returns the path."""
    return write_bytes_atomic(path, text.encode(encoding))


def json_safe(obj):
    """A copy of ``obj`` that strict JSON can hold: NaN/inf floats become the strings
    ``"NaN"``, ``"Infinity"``, ``"-Infinity"``; tuples become lists; numpy scalars and arrays
    become Python numbers and lists; unknown objects become their ``str``."""
    if isinstance(obj, float):
        if math.isnan(obj):
            return "NaN"
        if math.isinf(obj):
            return "Infinity" if obj > 0 else "-Infinity"
        return obj
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in obj]
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        try:
            return json_safe(tolist())
        except Exception:
            pass
    return str(obj)


def write_json_atomic(path, obj, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as strict JSON (see :func:`json_safe`) to ``path`` atomically. Returns the path."""
    text = json.dumps(json_safe(obj), indent=indent, ensure_ascii=False, allow_nan=False)
    return write_text_atomic(path, text + "\n")

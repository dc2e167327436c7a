"""Writing files we own: the one atomic writer (a temporary file next to the target, chmod, rename),
used by the report views, the audit summary and the sysctl remediation alike."""

from __future__ import annotations

import os
import tempfile


def write_atomic(path, text, mode=0o644, make_dirs=False):
    """Write `text` to `path` so that a reader sees the old file or the new one, never half of one."""
    directory = os.path.dirname(path) or "."
    if make_dirs:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".nsv-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

"""Writing the report files on the controller: whole files replaced atomically, so that a reader
never sees half a report and an interrupted run leaves the previous one in place."""

from __future__ import annotations

from ansible.module_utils.nsverify import fileio


def read_text(path):
    """The file's text, or None when it cannot be read (not there yet)."""
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None


def write_atomic(path, text, mode):
    """Write text to a temporary file next to path, chmod it, and rename it over path."""
    fileio.write_atomic(path, text, mode)


def parse_mode(value):
    """A file mode from an octal string ('0644') or an int; ValueError names what was wrong."""
    try:
        return int(value, 8) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise ValueError("mode must be an octal string such as '0644', got %r" % (value,))

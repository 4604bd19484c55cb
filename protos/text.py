"""A caller's text as it may appear in an error message: short and printable.

Names, ids, versions and datatypes come from the wire; echoing them whole would let a caller
fill the status line (and the server log) with megabytes or control characters. The codec
and the server's messages use this one helper.
"""

from __future__ import annotations

ECHO_LIMIT = 64


def clipped(text: str, limit: int = ECHO_LIMIT) -> str:
    """At most `limit` characters of `text`, non-printable ones escaped, and how much was cut."""
    head = text[:limit]
    if not head.isprintable():
        head = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in head)
    cut = len(text) - limit
    return f"{head}... ({cut} more characters)" if cut > 0 else head

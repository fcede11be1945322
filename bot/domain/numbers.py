"""Reading numbers that people (or forged payloads) type: ASCII digits only.

`str.isdigit()` accepts characters such as "²" that `int()` then refuses.
"""

from __future__ import annotations


def is_number(text: str) -> bool:
    """One or more ASCII digits, nothing else."""
    return text.isascii() and text.isdigit()

"""Reading numbers that people (or forged payloads) type: ASCII digits only.

`str.isdigit()` accepts characters such as "²" that `int()` then refuses.
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+")


def is_number(text: str) -> bool:
    return bool(_DIGITS.fullmatch(text))

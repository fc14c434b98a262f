"""Redis URLs as they may be shown: passwords masked."""

from __future__ import annotations

import re
from urllib.parse import urlsplit


def mask(url: str) -> str:
    """The URL with its password, if any, replaced by ``***``; the rest as written."""
    netloc = urlsplit(url).netloc
    user, at, host = netloc.rpartition("@")
    if at and ":" in user:
        url = url.replace(netloc, f"{user.partition(':')[0]}:***@{host}", 1)
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", url)

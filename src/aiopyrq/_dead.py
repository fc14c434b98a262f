"""Dead letters that say why: the record kept for each item in the dead-letter list.

The dead-letter list ``NAME-dead`` holds the bare items, as the original library's did;
the hash ``NAME-dead-records`` keeps, per item, a JSON record of its last death, written
by the script that sends it there and deleted with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

REASON_LIMIT = 1000
"""Characters of a reason kept; a longer one is cut to this length, ending in ``CUT``."""

CUT = "…"
"""The mark that ends a reason that was cut."""

LEASE_EXPIRED = "lease expired"
"""The reason of items that died when their consumer's lease was recovered."""


@dataclass(frozen=True)
class DeadLetter:
    """A dead letter and why it died (``None`` where unknown: older dead letters).

    Attributes:
        item: The item, as ``get_dead_items`` returns it without details.
        reason: Why: the text given to the reject (``reason=``), the handler's exception
            (``ExceptionType: message``) for a Consumer, ``lease expired`` for a recovery.
            At most ``REASON_LIMIT`` characters.
        died_at: When it went to the dead letters: unix seconds, by the server's clock.
        deliveries: Its failed deliveries then (rejects and recoveries counted).
        consumer: The id of the consumer that gave it up (``Queue.client_id``).
    """

    item: Any
    reason: str | None = None
    died_at: float | None = None
    deliveries: int | None = None
    consumer: str | None = None


def bounded(reason: object) -> str:
    """A reason as kept: text, cut to ``REASON_LIMIT`` characters with the cut marked.

    Raises:
        TypeError: The reason is not a str.
    """
    if not isinstance(reason, str):
        msg = f"reason must be a str, not {type(reason).__name__}"
        raise TypeError(msg)
    if len(reason) <= REASON_LIMIT:
        return reason
    return reason[: REASON_LIMIT - len(CUT)] + CUT


def error_reason(error: BaseException) -> str:
    """The reason of an item whose handler raised: ``ExceptionType: message``, bounded."""
    message = str(error)
    return bounded(f"{type(error).__name__}: {message}" if message else type(error).__name__)


def dead_letter(
    item: Any,  # noqa: ANN401 - an item, as the client reads it
    record: bytes | str | None,
    encoding: str = "utf-8",
) -> DeadLetter:
    """The dead letter of ``item`` from its record as the scripts write it (or none).

    ``encoding``: that of the client that gave the reason (a reason is sent as text).
    """
    if record is None:
        return DeadLetter(item)
    raw = record.decode(encoding, "replace") if isinstance(record, bytes) else record
    fields: dict[str, Any] = json.loads(raw)
    died_ms = fields.get("died_at")
    deliveries = fields.get("deliveries")
    return DeadLetter(
        item,
        reason=fields.get("reason"),
        died_at=None if died_ms is None else died_ms / 1000,
        deliveries=None if deliveries is None else int(deliveries),
        consumer=fields.get("consumer"),
    )

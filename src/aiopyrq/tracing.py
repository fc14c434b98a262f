"""OpenTelemetry spans around a Consumer's gets, handler calls, acks and rejects.

Needs the extra ``otel`` (``pip install 'aio-py-rq[otel]'``)::

    from aiopyrq import Consumer
    from aiopyrq.tracing import opentelemetry_spans

    consumer = Consumer(queue, handler, spans=opentelemetry_spans())

Nothing imports OpenTelemetry until :func:`opentelemetry_spans` is called, and a Consumer
made without ``spans`` does no tracing work at all.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from typing import TYPE_CHECKING

from aiopyrq.errors import MissingDependencyError

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from opentelemetry.trace import TracerProvider

__all__ = ["opentelemetry_spans"]

# operation -> (span kind, messaging.operation.type of the OpenTelemetry conventions)
_OPERATIONS = {
    "get": ("CONSUMER", "receive"),
    "handle": ("CONSUMER", "process"),
    "ack": ("CLIENT", "settle"),
    "reject": ("CLIENT", "settle"),
}


def opentelemetry_spans(
    tracer_provider: TracerProvider | None = None,
) -> Callable[[str, str], AbstractContextManager[object]]:
    """Make the ``spans`` argument of a Consumer that traces with OpenTelemetry.

    Each get, handler call, ack and reject becomes a span named ``"<operation> <name>"``
    (e.g. ``"handle emails"``), current while it runs, so spans the handler starts are its
    children. A handler that raises marks its span as an error.

    Args:
        tracer_provider: The provider to trace with; default the global one.

    Returns:
        ``spans(operation, name)``, for ``Consumer(..., spans=...)``.

    Raises:
        MissingDependencyError: OpenTelemetry is not installed (the extra ``otel``).
    """
    try:
        trace = importlib.import_module("opentelemetry.trace")
    except ImportError as exc:
        msg = "aiopyrq.tracing needs OpenTelemetry: pip install 'aio-py-rq[otel]'"
        raise MissingDependencyError(msg) from exc
    tracer = trace.get_tracer("aiopyrq", version("aio-py-rq"), tracer_provider=tracer_provider)

    def spans(operation: str, name: str) -> AbstractContextManager[object]:
        kind, operation_type = _OPERATIONS.get(operation, ("INTERNAL", operation))
        attributes = {
            "messaging.system": "aiopyrq",
            "messaging.destination.name": name,
            "messaging.operation.name": operation,
            "messaging.operation.type": operation_type,
        }
        span: AbstractContextManager[object] = tracer.start_as_current_span(
            f"{operation} {name}", kind=getattr(trace.SpanKind, kind), attributes=attributes
        )
        return span

    return spans

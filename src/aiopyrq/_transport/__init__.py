"""How a script call reaches Redis: the one place that talks to redis-py's connections.

Two paths, the same behaviour (``tests/integration/test_connection.py`` holds both to
``execute_command``'s replies, errors, timeouts and retries):

- ``_fast``: a round trip's commands packed and written on a pool connection by this
  package, small calls of many tasks sharing round trips. A fraction of the client CPU of
  ``execute_command``, but it drives redis-py internals (``get_connection``,
  ``send_packed_command``, ``read_response``, ``pack_command``, ``PipelineCommand``).
- ``_plain``: redis-py's public API only (``execute_command``, ``client.pipeline()``,
  ``target_nodes`` on a cluster), so redis-py's retries, hooks and metrics apply.

A client takes the fast path when the installed redis-py is one of the versions CI's
matrix proves it on (``PROVEN_REDIS_PY``) and its connection class is one the suite uses
(``PROVEN_CONNECTIONS``); otherwise the plain one. The environment variable
``AIOPYRQ_TRANSPORT`` (read once, when the package is imported) forces a path:
``fast``, ``plain``, or ``auto`` (the default). Any other value fails the import with
``ValueError``.

``_runner`` calls scripts by SHA on the chosen path and loads a script again when Redis
has forgotten it; what follows a write (WAIT, WAITAOF) is a follow-up it is given, kept
in ``aiopyrq._durability``. ``aiopyrq._scripts`` only loads, expands and packs scripts.
"""

from __future__ import annotations

from aiopyrq._transport._choice import (
    FORCED,
    PROVEN_CONNECTIONS,
    PROVEN_REDIS_PY,
    VARIABLE,
    choose,
    path,
    proven,
)
from aiopyrq._transport._runner import FollowUp, run, run_all, send

__all__ = [
    "FORCED",
    "PROVEN_CONNECTIONS",
    "PROVEN_REDIS_PY",
    "VARIABLE",
    "FollowUp",
    "choose",
    "path",
    "proven",
    "run",
    "run_all",
    "send",
]

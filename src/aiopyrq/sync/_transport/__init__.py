"""How the sync twin's script calls reach Redis (see ``aiopyrq._transport``).

``_runner`` is generated from the asyncio twin's (``ci/unasync.py``): the same loading of
forgotten scripts, waits for moving slots and follow-ups (WAIT, WAITAOF); ``_plain`` sends
the calls on redis-py's sync client.
"""

from __future__ import annotations

from aiopyrq.sync._transport._runner import FollowUp, run, run_all, send

__all__ = ["FollowUp", "run", "run_all", "send"]

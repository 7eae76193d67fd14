"""Fault injection, to see the fault handling work: ``FEDJAVA_FAULTS`` in the environment.

A comma-separated list of ``WHO:WHAT@ROUND`` entries (``ROUND`` may be ``*`` for every round)::

    FEDJAVA_FAULTS="client0:raise@1,client1:nan@2,server:kill@1"

- ``clientK:raise@R``: client K raises in round R (as an out-of-memory error or a bad shard would);
- ``clientK:nan@R``: client K trains, then sends an update holding NaN values;
- ``clientK:stall@R``: client K never answers round R (it sleeps until killed), as a machine that hangs
  or is cut off mid-round; the round ends at ``round_timeout``;
- ``server:kill@R``: the server process kills itself (SIGKILL) right after round R's checkpoint,
  as a crash or ``kill -9`` between rounds would.

The simulation's client processes inherit the environment, so the variable reaches them; so do the
ClientApp processes of a ``fedjava client`` (set it where that command runs).
"""

from __future__ import annotations

import os
import re

ENV = "FEDJAVA_FAULTS"
_ENTRY = re.compile(r"^(server|client(\d+)):(raise|nan|stall|kill)@(\d+|\*)$")


class InjectedFault(RuntimeError):
    """A failure asked for through FEDJAVA_FAULTS."""


def parse(text: str | None) -> list[tuple[str, str, str]]:
    """``[(who, what, round), ...]``; ValueError names a malformed entry."""
    entries = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        match = _ENTRY.match(item)
        if not match or (match.group(1) == "server") != (match.group(3) == "kill"):
            raise ValueError(f"{ENV}: cannot read '{item}' (expected clientK:raise@R, clientK:nan@R, clientK:stall@R or server:kill@R)")
        entries.append((match.group(1), match.group(3), match.group(4)))
    return entries


def wanted(who: str, what: str, server_round: int, environ=os.environ) -> bool:
    """Whether ``who`` (``server`` or ``clientK``) must do ``what`` in ``server_round``."""
    return any(w == who and f == what and r in ("*", str(server_round)) for w, f, r in parse(environ.get(ENV)))

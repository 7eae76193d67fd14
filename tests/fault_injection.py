"""Fault injection for the tests, to see the fault handling work: ``FEDJAVA_FAULTS`` in the environment.

Test-only: the production server and client know nothing of it. :func:`install` wraps their entry points
(``client_app.local_train``, ``server_app.FederatedServer.evaluate``) in the process where it runs; the processes
a test starts (the simulation's Ray workers, a ``python -m fedjava.cli`` run, a SuperNode's ClientApp) get it
from ``tests/fault_hook/sitecustomize.py`` when the test puts that folder on their PYTHONPATH
(:func:`environment` does both).

A comma-separated list of ``WHO:WHAT@ROUND`` entries (``ROUND`` may be ``*`` for every round)::

    FEDJAVA_FAULTS="client0:raise@1,client1:nan@2,server:kill@1"

- ``clientK:raise@R``: client K raises in round R (as an out-of-memory error or a bad shard would);
- ``clientK:nan@R``: client K trains, then sends an update holding NaN values;
- ``clientK:scaled@R``: client K trains, then sends a random update (Gaussian noise, in place of its own
  update) scaled to :data:`SCALED_NORM_FACTOR` times the norm of its honest update, as a broken or malicious
  client would;
- ``clientK:flipped@R``: client K trains, then sends its honest update with the sign flipped and scaled by
  :data:`SCALED_NORM_FACTOR` (global - 50 x update), a directed attack: it pushes the average back up the
  loss it was trained to go down, where random noise mostly cancels out;
- ``clientK:stall@R``: client K never answers round R (it sleeps until killed), as a machine that hangs
  or is cut off mid-round; the round ends at ``round_timeout``;
- ``server:kill@R``: the server process kills itself (SIGKILL) right after round R's checkpoint,
  as a crash or ``kill -9`` between rounds would.
"""

from __future__ import annotations

import importlib.abc
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ENV = "FEDJAVA_FAULTS"
SCALED_NORM_FACTOR = 50.0
HOOK_DIR = Path(__file__).parent / "fault_hook"
_ENTRY = re.compile(r"^(server|client(\d+)):(raise|nan|scaled|flipped|stall|kill)@(\d+|\*)$")


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
            raise ValueError(
                f"{ENV}: cannot read '{item}' (expected clientK:raise@R, clientK:nan@R, clientK:scaled@R, clientK:flipped@R, clientK:stall@R or server:kill@R)"
            )
        entries.append((match.group(1), match.group(3), match.group(4)))
    return entries


def wanted(who: str, what: str, server_round: int, environ=os.environ) -> bool:
    """Whether ``who`` (``server`` or ``clientK``) must do ``what`` in ``server_round``."""
    return any(w == who and f == what and r in ("*", str(server_round)) for w, f, r in parse(environ.get(ENV)))


def environment(faults: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for a process (and its children) that injects ``faults``: the hook folder first on
    PYTHONPATH, so every Python process started with it installs the wrappers."""
    env = dict(os.environ if base is None else base)
    env[ENV] = faults
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOK_DIR), env.get("PYTHONPATH", "")) if p)
    return env


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)  # a SuperNode relays lines starting "Client K, round R"


def _wrap_client(module: ModuleType) -> None:
    """Wrap ``client_app.local_train``: stall or raise before training, poison the reply after it."""
    train = module.local_train

    def local_train(msg, context, fixed=None):
        cfg = module._config(context, fixed)
        client_id = module.client_identity(context, cfg)
        config = msg.content.config_records.get("config")
        server_round = int(config.get("server-round", 0)) if config is not None else 0
        who = f"client{client_id}"
        if wanted(who, "stall", server_round):
            _say(f"Client {client_id}, round {server_round}: stalls ({ENV}), never replies")
            while True:  # as a client that hangs or is cut off mid-round: the round's timeout must end it
                time.sleep(3600)
        if wanted(who, "raise", server_round):
            error = InjectedFault(f"injected failure ({ENV}) in round {server_round}")
            raise module.ClientTrainingError(f"client {client_id}: {type(error).__name__}: {error}") from error
        reply = train(msg, context, fixed)
        if wanted(who, "scaled", server_round):
            return _scaled_random(reply, msg, seed=server_round * 1000 + client_id)
        if wanted(who, "flipped", server_round):
            return _flipped(reply, msg)
        return _poisoned(reply, msg) if wanted(who, "nan", server_round) else reply

    module.local_train = local_train


def _poisoned(reply, msg):
    """``reply`` with a NaN in the first value of its first adapter tensor."""
    import numpy as np
    from flwr.app import Message, RecordDict

    from fedjava.federated.adapter_io import arrays_to_numpy, numpy_to_arrays

    values = arrays_to_numpy(reply.content.array_records["arrays"])
    first = next(iter(values))
    values[first] = values[first].copy()
    values[first].flat[0] = np.nan
    content = {name: record for name, record in reply.content.items()}
    content["arrays"] = numpy_to_arrays(values)
    return Message(RecordDict(content), reply_to=msg)


def _scaled_random(reply, msg, seed: int):
    """``reply`` with its update (reply - global) swapped for Gaussian noise of SCALED_NORM_FACTOR x its norm."""
    import numpy as np
    from flwr.app import Message, RecordDict

    from fedjava.federated.adapter_io import arrays_to_numpy, numpy_to_arrays

    sent = arrays_to_numpy(msg.content.array_records["arrays"])
    trained = arrays_to_numpy(reply.content.array_records["arrays"])
    honest = float(np.sqrt(sum(float(((trained[k] - sent[k]) ** 2).sum()) for k in sent))) or 1.0
    rng = np.random.default_rng(seed)
    noise = {k: rng.standard_normal(v.shape) for k, v in sent.items()}
    norm = float(np.sqrt(sum(float((n**2).sum()) for n in noise.values())))
    factor = SCALED_NORM_FACTOR * honest / norm
    values = {k: (sent[k] + factor * noise[k]).astype(sent[k].dtype) for k in sent}
    content = {name: record for name, record in reply.content.items()}
    content["arrays"] = numpy_to_arrays(values)
    return Message(RecordDict(content), reply_to=msg)


def _flipped(reply, msg):
    """``reply`` with its update (reply - global) swapped for -SCALED_NORM_FACTOR x that update."""
    from flwr.app import Message, RecordDict

    from fedjava.federated.adapter_io import arrays_to_numpy, numpy_to_arrays

    sent = arrays_to_numpy(msg.content.array_records["arrays"])
    trained = arrays_to_numpy(reply.content.array_records["arrays"])
    values = {k: (sent[k] - SCALED_NORM_FACTOR * (trained[k] - sent[k])).astype(sent[k].dtype) for k in sent}
    content = {name: record for name, record in reply.content.items()}
    content["arrays"] = numpy_to_arrays(values)
    return Message(RecordDict(content), reply_to=msg)


def _wrap_server(module: ModuleType) -> None:
    """Wrap ``FederatedServer.evaluate``: SIGKILL this process right after round R's checkpoint."""
    evaluate = module.FederatedServer.evaluate

    def evaluate_then_kill(self, flower_round, arrays):
        result = evaluate(self, flower_round, arrays)
        server_round = flower_round + self.offset
        if flower_round > 0 and wanted("server", "kill", server_round):
            _say(f"{ENV}: killing the server after round {server_round}")
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    module.FederatedServer.evaluate = evaluate_then_kill


WRAPPERS: dict[str, Callable[[ModuleType], None]] = {
    "fedjava.federated.client_app": _wrap_client,
    "fedjava.federated.server_app": _wrap_server,
}


def _wrap(name: str, module: ModuleType) -> None:
    """Apply the wrapper of ``name`` once."""
    if not getattr(module, "_fault_injection", False):
        WRAPPERS[name](module)
        module._fault_injection = True


class _WrapOnImport(importlib.abc.MetaPathFinder):
    """Applies :data:`WRAPPERS` to their modules as they are imported, so a process that never imports them
    (Ray's helpers, Flower's SuperLink) pays nothing."""

    def find_spec(self, name, path, target=None):
        if name not in WRAPPERS:
            return None
        for finder in sys.meta_path:
            spec = None if finder is self else getattr(finder, "find_spec", lambda *a: None)(name, path, target)
            if spec is not None and spec.loader is not None:
                run = spec.loader.exec_module

                def exec_module(module, run=run):
                    run(module)
                    _wrap(name, module)

                spec.loader.exec_module = exec_module
                return spec
        return None


def install() -> None:
    """Wrap the server and client of this process: those already imported now, the others when imported."""
    parse(os.environ.get(ENV))  # a malformed FEDJAVA_FAULTS fails here, at once
    for name in WRAPPERS:
        if name in sys.modules:
            _wrap(name, sys.modules[name])
    if not any(isinstance(f, _WrapOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _WrapOnImport())

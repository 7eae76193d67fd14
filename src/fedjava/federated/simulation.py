"""``fedjava federate``: the Flower app in Flower's simulation runtime, clients in parallel.

Each client is a virtual SuperNode; Ray runs as many at once as ``client_num_cpus`` and the GPU share
allow (see :mod:`fedjava.federated.devices`). The server runs in this process.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

from fedjava.config import Config
from fedjava.federated.checkpoints import prepare_output_dir
from fedjava.federated.client_app import make_client_app
from fedjava.federated.common import check_federated_data
from fedjava.federated.devices import client_gpu_share, visible_gpus
from fedjava.federated.flower_runtime import stop_descendants
from fedjava.federated.server_app import make_server_app

log = logging.getLogger("fedjava")


class _DropRunSimulationDeprecation(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "run_simulation" not in record.getMessage()


def backend_config(cfg: Config, cpus: int | None = None, gpus: int | None = None) -> dict[str, Any]:
    """Ray resources: the whole machine for the simulation, ``client_num_cpus``/GPU share per client."""

    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    gpus = gpus if gpus is not None else (cfg.num_gpus if cfg.num_gpus >= 0 else visible_gpus())
    share = client_gpu_share(cfg.num_clients, gpus, cfg.client_num_gpus)
    return {
        "client_resources": {"num_cpus": cfg.client_num_cpus, "num_gpus": share},
        # At least one client must fit, or Ray would wait forever.
        "init_args": {
            "num_cpus": max(float(cpus), cfg.client_num_cpus),
            "num_gpus": gpus,
            "logging_level": logging.ERROR,
        },
    }


def run_federated(
    cfg: Config,
    resume: bool = False,
    printer: Callable[[str], None] = print,
    verbose: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run ``cfg.num_rounds`` rounds of ``cfg.algorithm`` over ``cfg.num_clients`` simulated clients.

    Returns the run summary. Raises FederatedSetupError (missing shards, no or damaged checkpoint) or
    RunFolderError (an output folder holding another run without ``resume``/``overwrite``, a checkpoint of a
    run with other settings), before Ray starts.
    """
    check_federated_data(cfg)
    prepare_output_dir(cfg, resume, overwrite)
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    from flwr.simulation import run_simulation

    flwr_log = logging.getLogger("flwr")
    level = flwr_log.level
    quiet = _DropRunSimulationDeprecation()
    if not verbose:
        flwr_log.setLevel(logging.WARNING)
    flwr_log.addFilter(quiet)
    # The client processes start inside run_simulation and inherit the environment: keep library
    # deprecation chatter out of the round report unless asked for.
    saved_warnings = os.environ.get("PYTHONWARNINGS")
    if saved_warnings is None and not verbose:
        os.environ["PYTHONWARNINGS"] = "ignore::DeprecationWarning,ignore::FutureWarning"
    result: dict[str, Any] = {}
    previous = _interrupt_quietly()
    try:
        with warnings.catch_warnings():
            if not verbose:
                warnings.filterwarnings("ignore", message=".*RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO.*")
            run_simulation(
                server_app=make_server_app(cfg, resume=resume, printer=printer, result=result),
                client_app=make_client_app(cfg),
                num_supernodes=cfg.num_clients,
                backend_config=backend_config(cfg),
                verbose_logging=verbose,
            )
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        flwr_log.setLevel(level)
        flwr_log.removeFilter(quiet)
        if saved_warnings is None:
            os.environ.pop("PYTHONWARNINGS", None)
    if "summary" not in result:
        raise RuntimeError("the federated run ended without a result; see the messages above and training.log")
    return result["summary"]


def _interrupt_quietly():
    """Ctrl-C during the simulation: silence Flower's and Ray's loggers first, then raise KeyboardInterrupt.

    Ctrl-C reaches Ray's worker processes too (the terminal signals the whole process group); their actors die,
    and Flower's worker threads would log each ActorDiedError with its traceback while the main thread unwinds.
    Muting before raising keeps the interrupt to the one line the command prints. Returns the previous
    handler (None when not in the main thread, where no handler can be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupted(signum, frame):
        mute_flower()
        raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, interrupted)


def mute_flower() -> None:
    """No more log records from Flower or Ray in this process (they would only report the shutdown)."""
    for name in ("flwr", "ray"):
        logging.getLogger(name).disabled = True


def stop_process(code: int) -> None:
    """Leave at once (after Ctrl-C): the ServerApp runs in a non-daemon thread that would otherwise keep
    the process alive, waiting for clients that are gone. Ray is shut down and every process it started is
    ended before leaving (its agents otherwise linger). Round checkpoints already written stay."""

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break off the cleanup
    mute_flower()

    def shutdown_ray() -> None:
        try:
            import ray

            if ray.is_initialized():
                ray.shutdown()
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass

    closing = threading.Thread(target=shutdown_ray, daemon=True)
    closing.start()
    closing.join(timeout=15)  # Ray's own shutdown can hang when its workers died first
    stop_descendants(grace=3.0)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

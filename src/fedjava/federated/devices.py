"""Where clients run: the client -> GPU layout, the Ray resources per client, and pinning a process.

With ``num_gpus`` GPUs, clients are dealt to GPUs in contiguous blocks, as the training guide's
"Multi-GPU Training" describes: 4 clients on 2 GPUs put clients 0 and 1 on GPU 0 and clients 2 and 3
on GPU 1. In the simulation each client asks Ray for ``1 / (clients per GPU)`` of a GPU, so Ray packs
exactly that many clients on each GPU at a time.
"""

from __future__ import annotations

import math
import os


def gpu_for_client(client_id: int, num_clients: int, num_gpus: int) -> int | None:
    """The GPU of ``client_id`` (contiguous blocks), or None when there is no GPU."""
    if not 0 <= client_id < num_clients:
        raise ValueError(f"client_id {client_id} is not in 0..{num_clients - 1}")
    if num_gpus <= 0:
        return None
    return client_id * min(num_gpus, num_clients) // num_clients


def gpu_layout(num_clients: int, num_gpus: int) -> list[list[int]]:
    """The clients of each GPU: ``gpu_layout(4, 2) == [[0, 1], [2, 3]]``; ``[]`` without GPUs."""
    if num_gpus <= 0:
        return []
    layout: list[list[int]] = [[] for _ in range(min(num_gpus, num_clients))]
    for client in range(num_clients):
        layout[gpu_for_client(client, num_clients, num_gpus)].append(client)  # type: ignore[index]
    return layout


def client_gpu_share(num_clients: int, num_gpus: int, requested: float = 0.0) -> float:
    """The GPU share each client asks Ray for: ``requested`` when > 0, else 1 / (most clients on one GPU)."""
    if num_gpus <= 0:
        return 0.0
    if requested > 0:
        return requested
    return 1.0 / math.ceil(num_clients / min(num_gpus, num_clients))


def visible_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # pragma: no cover - no usable CUDA
        return 0


def pin_process_to_gpu(client_id: int, num_clients: int, num_gpus: int, environ=os.environ) -> str | None:
    """Outside Ray's placement (no CUDA_VISIBLE_DEVICES yet), show this process only its client's GPU.

    Must run before CUDA is initialized in the process; returns the value set, or None when nothing was
    changed (no GPUs, or the device list was already chosen by Ray or by the user).
    """
    gpu = gpu_for_client(client_id, num_clients, num_gpus)
    if gpu is None or "CUDA_VISIBLE_DEVICES" in environ:
        return None
    environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    return environ["CUDA_VISIBLE_DEVICES"]


def describe_device() -> str:
    """``cpu``, or ``cuda (GPU n)`` with the physical GPU(s) this process sees."""
    try:
        import torch

        if not torch.cuda.is_available():
            return "cpu"
    except Exception:  # pragma: no cover
        return "cpu"
    shown = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"cuda (GPU {shown})" if shown else "cuda"

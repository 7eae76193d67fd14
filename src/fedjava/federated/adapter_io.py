"""The trainable adapter of a model <-> Flower ``ArrayRecord``, and arrays <-> safetensors files.

Only parameters with ``requires_grad`` travel (the LoRA matrices); the base weights never do. Names
are the model's own parameter names. Tensors travel in their own dtype, except bfloat16, which numpy
lacks: it travels as float32 (exact) and is cast back when loaded, so a round trip is bit-exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from flwr.app import Array, ArrayRecord


class AdapterMismatchError(ValueError):
    """The arrays do not name exactly the model's trainable tensors, or their shapes differ."""


def trainable_parameters(model) -> dict[str, torch.nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy().copy()


def adapter_to_arrays(model) -> ArrayRecord:
    """The model's trainable tensors as an ArrayRecord (names kept, in the model's order)."""
    return ArrayRecord({name: Array(_to_numpy(p)) for name, p in trainable_parameters(model).items()})


def arrays_to_numpy(arrays: ArrayRecord) -> dict[str, np.ndarray]:
    return {name: array.numpy() for name, array in arrays.items()}


def numpy_to_arrays(values: dict[str, np.ndarray]) -> ArrayRecord:
    return ArrayRecord({name: Array(np.ascontiguousarray(v)) for name, v in values.items()})


@torch.no_grad()
def load_arrays_into(model, arrays: ArrayRecord | dict[str, np.ndarray]) -> None:
    """Copy ``arrays`` into the model's trainable tensors, cast to each tensor's own dtype.

    Raises AdapterMismatchError unless the names are exactly the trainable tensors' names and every
    shape matches.
    """
    values = arrays_to_numpy(arrays) if isinstance(arrays, ArrayRecord) else arrays
    params = trainable_parameters(model)
    missing = sorted(set(params) - set(values))
    extra = sorted(set(values) - set(params))
    if missing or extra:
        raise AdapterMismatchError(
            f"adapter arrays do not match the model's trainable tensors: {len(missing)} missing"
            + (f" (e.g. {missing[0]})" if missing else "")
            + f", {len(extra)} unexpected"
            + (f" (e.g. {extra[0]})" if extra else "")
            + "; were they made with other lora_r/lora_target_modules or another model?"
        )
    for name, param in params.items():
        value = values[name]
        if tuple(value.shape) != tuple(param.shape):
            raise AdapterMismatchError(f"{name}: shape {tuple(value.shape)} != model's {tuple(param.shape)}")
        param.copy_(torch.from_numpy(np.asarray(value)).to(device=param.device, dtype=param.dtype))


def arrays_nbytes(arrays: ArrayRecord) -> int:
    """Bytes of the serialized array payload (what travels for these arrays)."""
    return sum(len(array.data) for array in arrays.values())


def cast_like(arrays: ArrayRecord, reference: dict[str, str]) -> ArrayRecord:
    """``arrays`` with each entry cast to the numpy dtype named in ``reference`` (FedOpt returns float64)."""
    out = {}
    for name, array in arrays.items():
        value = array.numpy()
        want = reference.get(name)
        if want is not None and str(value.dtype) != want:
            value = value.astype(want)
        out[name] = Array(np.ascontiguousarray(value))
    return ArrayRecord(out)


def non_finite(arrays: ArrayRecord) -> list[str]:
    """Names of the arrays holding NaN or infinite values."""
    bad = []
    for name, array in arrays.items():
        value = array.numpy()
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            bad.append(name)
    return bad


def save_numpy(values: dict[str, np.ndarray], path: Path) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in values.items()}, str(path))


def load_numpy(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return dict(load_file(str(path)))

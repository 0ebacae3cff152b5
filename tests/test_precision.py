"""Precision chosen from the hardware: the decision on CPUs with and without native bf16 (the capability check mocked),
and the trl-maskft configs that apply it."""

import logging

import pytest
import torch
from tiny import MASK_SPECIAL

from trl_maskft import BaselineSFTConfig, DiffusionSFTConfig, MaskedSFTConfig
from trl_maskft.runtime import precision
from trl_maskft.runtime.precision import choose_precision, cpu_description, cpu_flags, model_dtype_warning

CONFIGS = {
    "masked_sft": (MaskedSFTConfig, {}),
    "diffusion_sft": (DiffusionSFTConfig, {"mask_token": MASK_SPECIAL}),
    "sft": (BaselineSFTConfig, {}),
}


@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "avx2-only"])
def test_cpu_default_is_fp32_and_explicit_bf16_is_honoured(native):
    default = choose_precision(None, False, on_cpu=True, native_bf16=native)
    assert not default.bf16 and default.warning is None
    assert "TRL's bf16 default is off on CPUs" in default.reason
    assert ("has native bf16" if native else "has no native bf16") in default.reason
    off = choose_precision(False, False, on_cpu=True, native_bf16=native)
    assert not off.bf16 and off.warning is None and "`bf16: false`" in off.reason
    asked = choose_precision(True, False, on_cpu=True, native_bf16=native)
    assert asked.bf16
    if native:
        assert asked.warning is None
    else:
        assert "9x slower" in asked.warning and "AVX2-only" in asked.warning and "`bf16: false`" in asked.warning


@pytest.mark.parametrize("native", [True, False])
def test_fp16_on_a_cpu_is_refused(native):
    with pytest.raises(ValueError, match=r"does nothing on a CPU.*Set `fp16: false`"):
        choose_precision(None, True, on_cpu=True, native_bf16=native)


def test_accelerator_runs_keep_trls_rule():
    assert choose_precision(None, False, on_cpu=False, native_bf16=False).bf16
    assert not choose_precision(None, True, on_cpu=False, native_bf16=False).bf16
    assert not choose_precision(False, False, on_cpu=False, native_bf16=False).bf16
    assert choose_precision(True, False, on_cpu=False, native_bf16=False).warning is None


@pytest.mark.parametrize("kind", CONFIGS)
@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "avx2-only"])
def test_configs_choose_from_the_hardware(kind, native, tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setattr(precision, "has_native_bf16", lambda: native)
    config_cls, keys = CONFIGS[kind]
    args = config_cls(str(tmp_path), use_cpu=True, report_to="none", **keys)
    assert args.bf16 is False and args.mixed_precision == "no"
    out = capsys.readouterr().err
    assert out.count("Precision: ") == 1 and "Precision: fp32 (no autocast): CPU run;" in out
    with caplog.at_level(logging.WARNING, logger=precision.__name__):
        args = config_cls(str(tmp_path), use_cpu=True, bf16=True, report_to="none", **keys)
    assert args.bf16 is True and args.mixed_precision == "bf16"
    assert "Precision: bf16 autocast: CPU run, `bf16: true`" in capsys.readouterr().err
    warnings = [record.getMessage() for record in caplog.records if record.name == precision.__name__]
    assert warnings == ([] if native else [choose_precision(True, False, True, False).warning])
    with pytest.raises(ValueError, match="fp16"):
        config_cls(str(tmp_path), use_cpu=True, fp16=True, report_to="none", **keys)


def test_the_launchers_mixed_precision_counts_as_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(precision, "has_native_bf16", lambda: True)
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    assert MaskedSFTConfig(str(tmp_path), use_cpu=True, report_to="none").mixed_precision == "bf16"
    explicit_off = MaskedSFTConfig(str(tmp_path), use_cpu=True, bf16=False, report_to="none")
    assert explicit_off.mixed_precision == "no"
    assert capsys.readouterr().err.splitlines()[-1].startswith("Precision: fp32 (no autocast): CPU run, `bf16: false`")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    with pytest.raises(ValueError, match="mixed_precision: fp16"):
        MaskedSFTConfig(str(tmp_path), use_cpu=True, report_to="none")


@pytest.mark.parametrize("dtype", ["float16", torch.float16, "half"])
def test_pure_fp16_weights_on_a_cpu_warn(dtype):
    warning = model_dtype_warning(dtype, on_cpu=True, native_bf16=True)
    assert "pure fp16" in warning and "`dtype: float32`" in warning
    assert model_dtype_warning(dtype, on_cpu=False, native_bf16=False) is None


def test_bf16_weights_warn_only_without_native_bf16():
    assert model_dtype_warning("bfloat16", on_cpu=True, native_bf16=True) is None
    assert "9x slower" in model_dtype_warning(torch.bfloat16, on_cpu=True, native_bf16=False)
    for dtype in ("float32", torch.float32, "auto", None):
        assert model_dtype_warning(dtype, on_cpu=True, native_bf16=False) is None


def test_float16_model_init_kwargs_warn_at_construction(tmp_path, monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger=precision.__name__):
        MaskedSFTConfig(str(tmp_path), use_cpu=True, report_to="none", model_init_kwargs={"dtype": "float16"})
    assert any("pure fp16" in record.getMessage() for record in caplog.records)


def test_cpu_flags_and_description(monkeypatch):
    capabilities = {"avx2": True, "avx512_f": True, "avx512_bf16": False, "amx_bf16": False}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert cpu_flags() == ("avx2", "avx512f")
    assert not precision.has_native_bf16()
    monkeypatch.setattr(precision, "cpu_model", lambda: "AMD EPYC 7B13")
    assert cpu_description() == "AMD EPYC 7B13 (+avx2 +avx512f -avx512_bf16 -amx_bf16)"
    monkeypatch.delattr(torch.cpu, "get_capabilities")
    monkeypatch.setattr(precision, "_proc_cpuinfo_flags", lambda: {"fpu", "avx2", "amx_bf16"})
    assert cpu_flags() == ("avx2", "amx_bf16") and precision.has_native_bf16()


def test_a_run_is_on_the_cpu_when_asked_or_without_an_accelerator(monkeypatch):
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    assert precision.runs_on_cpu(True) and not precision.runs_on_cpu(False)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")  # what `accelerate launch` sets for a `use_cpu: true` config
    assert precision.runs_on_cpu(False)
    monkeypatch.delenv("ACCELERATE_USE_CPU")
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    assert precision.runs_on_cpu(False)

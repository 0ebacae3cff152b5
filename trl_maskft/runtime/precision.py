"""Training precision chosen from the hardware.

TRL's configs resolve `bf16=None` to `True`, so a CPU run would autocast to bf16; on a CPU without native bf16 matmuls
(no AVX512-BF16, no AMX: e.g. an AVX2-only AMD EPYC) every bf16 matmul then runs PyTorch's reference kernel, about 9x
slower than fp32. Here, on a CPU, bf16 autocast is on only where it is asked for explicitly (`bf16: true`, or the
accelerate config's `mixed_precision: bf16`); an explicit request on a CPU without native bf16 is honoured with a
warning. fp16 autocast, which accelerate does not apply on CPUs, is refused there. Accelerator runs keep TRL's
behaviour. `PrecisionMixin` applies this to a `TrainingArguments` subclass and prints the precision it chose.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import torch

logger = logging.getLogger(__name__)

# The x86 flags that decide CPU matmul speed, as /proc/cpuinfo spells them; bf16 matmuls are native with the last two.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "sve_bf16")
_TORCH_FLAG_NAMES = {"avx512f": "avx512_f"}  # `torch.cpu.get_capabilities` spelling, where it differs
SLOWDOWN = "about 9x slower than fp32 (measured on an AVX2-only AMD EPYC)"
NO_NATIVE_BF16 = "this CPU has no native bf16 matmuls (no AVX512-BF16, no AMX)"
NATIVE_BF16 = "this CPU has native bf16 matmuls (AVX512-BF16/AMX)"
HALF_DTYPES = {"float16": "float16", "half": "float16", "bfloat16": "bfloat16"}  # `dtype` names, and what they load
AUTOCAST_NAMES = {"no": "fp32 (no autocast)", "bf16": "bf16 autocast", "fp16": "fp16 autocast", "fp8": "fp8"}
FP16_ON_CPU = (
    "fp16 mixed precision (`fp16: true`, or the accelerate config's `mixed_precision: fp16`) does nothing on a CPU: "
    "accelerate autocasts fp16 only on accelerators, so the run would train in fp32 while its config says fp16. Set "
    "`fp16: false` (fp32), or `bf16: true` for bf16 autocast where the CPU has native bf16 matmuls (AVX512-BF16/AMX)."
)


def _proc_cpuinfo_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return set()
    return {flag for line in re.findall(r"^(?:flags|Features)\s*:(.*)$", text, re.M) for flag in line.split()}


def cpu_flags(names: tuple[str, ...] = CPU_FLAGS) -> tuple[str, ...]:
    """Which of `names` (/proc/cpuinfo spelling) this CPU has: from `torch.cpu.get_capabilities()`, or from
    /proc/cpuinfo where torch does not tell."""
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if get_capabilities is not None:
        capabilities = get_capabilities()
        return tuple(name for name in names if capabilities.get(_TORCH_FLAG_NAMES.get(name, name)))
    present = _proc_cpuinfo_flags()
    return tuple(name for name in names if name in present)


def has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AVX512-BF16, AMX or Arm SVE-BF16)."""
    return bool(cpu_flags(NATIVE_BF16_FLAGS))


def cpu_model() -> str:
    """The CPU's model name, as `lscpu` gives it."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        lscpu = ""
    found = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    return found.group(1).strip() if found else (platform.processor() or platform.machine() or "unknown CPU")


def cpu_description() -> str:
    """The CPU and its matmul flags, for benchmark headers: e.g. `AMD EPYC 7B13 (+avx2 -avx512f -avx512_bf16
    -amx_bf16)`."""
    present = cpu_flags()
    return f"{cpu_model()} ({' '.join(('+' if flag in present else '-') + flag for flag in CPU_FLAGS)})"


def machine_header(mixed_precision: str | None = None) -> str:
    """One line for benchmark output: the CPU and its flags, torch and its threads, and the precision where given (a
    `TrainingArguments.mixed_precision` value: "no" is fp32)."""
    line = f"CPU: {cpu_description()}; torch {torch.__version__}, {torch.get_num_threads()} threads"
    return line if mixed_precision is None else f"{line}; precision: {autocast_name(mixed_precision)}"


def autocast_name(mixed_precision: str) -> str:
    """What a `TrainingArguments.mixed_precision` value trains in: "fp32 (no autocast)", "bf16 autocast"..."""
    return AUTOCAST_NAMES.get(mixed_precision, mixed_precision)


def precision_name(mixed_precision: str, dtype=None) -> str:
    """What a run trains in, for the precision line: its autocast (`autocast_name`), after the weights' dtype where
    `dtype` (a `torch.dtype`, its name, "auto" or None) loads them in half precision, e.g. "float16 weights
    (`dtype: float16`), no autocast"."""
    name = str(dtype).removeprefix("torch.")
    if name not in HALF_DTYPES:
        return autocast_name(mixed_precision)
    autocast = "no autocast" if mixed_precision == "no" else autocast_name(mixed_precision)
    return f"{HALF_DTYPES[name]} weights (`dtype: {name}`), {autocast}"


def cpu_asked(use_cpu: bool) -> bool:
    """Whether the run asks for the CPU: `use_cpu`, or `accelerate launch` with `use_cpu: true`."""
    return use_cpu or os.environ.get("ACCELERATE_USE_CPU", "false").lower() in ("1", "true", "yes")


def runs_on_cpu(use_cpu: bool) -> bool:
    """Whether training runs on the CPU: asked for (`cpu_asked`), or no accelerator."""
    return cpu_asked(use_cpu) or not torch.accelerator.is_available()


@dataclass(frozen=True)
class PrecisionChoice:
    """Whether to autocast to bf16, why (one line), and a warning where the choice is slow."""

    bf16: bool
    reason: str
    warning: str | None = None


def choose_precision(bf16: bool | None, fp16: bool, on_cpu: bool, native_bf16: bool) -> PrecisionChoice:
    """The bf16 setting of a run that asked for `bf16` (None: not asked) and `fp16`, on a CPU (`on_cpu`) with or
    without native bf16 matmuls. On a CPU, bf16 only when asked for (a warning without native bf16); fp16 refused.
    Elsewhere, TRL's rule: bf16 unless asked otherwise or fp16."""
    if not on_cpu:
        asked = "TRL's default" if bf16 is None else f"`bf16: {str(bf16).lower()}`"
        return PrecisionChoice(not fp16 if bf16 is None else bf16, f"accelerator run, {asked}")
    if fp16:
        raise ValueError(FP16_ON_CPU)
    hardware = NATIVE_BF16 if native_bf16 else NO_NATIVE_BF16
    if bf16 is None:
        hint = ", `bf16: true` would autocast" if native_bf16 else ""
        return PrecisionChoice(False, f"CPU run; TRL's bf16 default is off on CPUs; {hardware}{hint}")
    if not bf16:
        return PrecisionChoice(False, f"CPU run, `bf16: false`; {hardware}")
    if native_bf16:
        return PrecisionChoice(True, f"CPU run, `bf16: true`; {hardware}")
    warning = (
        "bf16 autocast was asked for on a CPU without native bf16 matmuls (no AVX512-BF16, no AMX): every matmul "
        f"runs PyTorch's reference bf16 kernel, {SLOWDOWN}. Set `bf16: false` to train in fp32."
    )
    return PrecisionChoice(True, f"CPU run, `bf16: true`, though {hardware}", warning)


def model_dtype_warning(dtype, on_cpu: bool, native_bf16: bool) -> str | None:
    """A warning for model weights of `dtype` (a `torch.dtype`, its name, "auto" or None) trained on a CPU: pure fp16
    is slow and unstable there, pure bf16 slow without native bf16 matmuls; None where the dtype is fine."""
    name = str(dtype).removeprefix("torch.")
    if not on_cpu or name not in HALF_DTYPES:
        return None
    if name == "bfloat16":
        if native_bf16:
            return None
        return (
            f"`dtype: bfloat16` on a CPU without native bf16 matmuls (no AVX512-BF16, no AMX): the model trains "
            f"in pure bf16 on PyTorch's reference kernel, {SLOWDOWN}. Use `dtype: float32`."
        )
    return (
        "`dtype: float16` on a CPU trains the weights in pure fp16: slow (CPUs have few native fp16 kernels) and "
        "numerically unstable (no loss scaling: fp16 mixed precision does not run on CPUs). Use `dtype: float32`, "
        "with `bf16: true` for bf16 autocast where the CPU has native bf16 matmuls."
    )


def warn_model_dtype(args, dtype) -> None:
    """Log `model_dtype_warning` for a run configured by `args` (main process only)."""
    warning = model_dtype_warning(dtype, runs_on_cpu(args.use_cpu), has_native_bf16())
    if warning and args.process_index == 0:
        logger.warning(warning)


class PrecisionMixin:
    """Mixed in before a `TrainingArguments` subclass (`class C(PrecisionMixin, SFTConfig)`): chooses `bf16` from the
    hardware with `choose_precision` before TRL's `__post_init__` replaces `bf16=None` by `True`, then prints one line
    (to stderr, beside the libraries' logs) on the main process naming the precision and why (`Precision: fp32 (no
    autocast): CPU run; ...`), with the weights' dtype where `model_init_kwargs` loads them in half precision. Inside
    `precision_line_deferred()` (a parser that learns the dtype from another argument class) the line waits for
    `print_precision(dtype)`."""

    _deferred: ClassVar[list | None] = None  # the configs whose line waits, inside `precision_line_deferred`

    def __post_init__(self):
        on_cpu = runs_on_cpu(self.use_cpu)
        # On a CPU, `accelerate launch`'s mixed_precision asks too (TrainingArguments reads it when bf16 is off)
        launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "no") if on_cpu else "no"
        asked = self.bf16 if self.bf16 is not None else (True if launcher == "bf16" else None)
        choice = choose_precision(asked, self.fp16 or launcher == "fp16", on_cpu, on_cpu and has_native_bf16())
        self.bf16 = choice.bf16
        super().__post_init__()
        if on_cpu and not self.bf16 and self.mixed_precision == "bf16":
            self.mixed_precision = "no"  # `bf16: false` wins over the launcher's bf16, as the line below says
        if self.process_index == 0 and choice.warning:
            logger.warning(choice.warning)
        self._precision_reason = choice.reason
        if PrecisionMixin._deferred is not None:
            PrecisionMixin._deferred.append(self)
        else:
            self.print_precision((self.model_init_kwargs or {}).get("dtype"))

    def print_precision(self, dtype=None) -> None:
        """Print the precision line for weights of `dtype` (`precision_name`), with `model_dtype_warning`."""
        if self.process_index == 0:
            print(
                f"Precision: {precision_name(self.mixed_precision, dtype)}: {self._precision_reason}", file=sys.stderr
            )
        warn_model_dtype(self, dtype)


@contextmanager
def precision_line_deferred() -> Iterator[list[PrecisionMixin]]:
    """Inside the block, configs built hold back their precision line; yields the list of them, each to be printed
    with `print_precision(dtype)` once the dtype is known."""
    PrecisionMixin._deferred = deferred = []
    try:
        yield deferred
    finally:
        PrecisionMixin._deferred = None

"""Record of the PyTorch backend (TorchScript, torch.export, nn.Module factories)."""

from __future__ import annotations

from parity.errors import ModelLoadError
from parity.formats import Probe
from parity.registry import BackendRecord, InputHabit


def _check(probe: Probe) -> None:
    """TorchScript and torch.export files are zip archives; a pickle or text is not one."""
    if probe.suffix != ".py" and not probe.is_zip:
        raise ModelLoadError(probe.path, "not a TorchScript or torch.export archive (expected "
                                         f"a zip{probe.resemblance()}); for a plain nn.Module "
                                         "use file.py:factory --weights state.pt")


RECORD = BackendRecord(
    name="pytorch",
    adapter="pytorch:TorchBackend",
    extra="torch",
    framework="torch",
    formats="TorchScript .pt/.ts, torch.export .pt2, file.py:factory or module:factory",
    suffixes=(".pt", ".pth", ".ts", ".torchscript", ".pt2"),
    sniff=lambda probe: probe.is_zip,
    check=_check,
    callables=True,
    habit=InputHabit(rgb=True, scale=1 / 255, note="torch habit: RGB 0-1"),
    advice={
        "set_eps": "build `{node}` with `eps={eps:g}` (e.g. nn.BatchNorm2d(..., eps={eps:g}))",
        "round_up": "build `{node}` with `ceil_mode=True` (nn.MaxPool2d(..., ceil_mode=True))",
        "round_down": "build `{node}` with `ceil_mode=False` "
                      "(nn.MaxPool2d(..., ceil_mode=False))",
        "reexport": "then torch.jit.trace / torch.export it again to rewrite {file}",
    },
    vocabulary="pytorch_vocabulary",
)

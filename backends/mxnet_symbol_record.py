"""Record of the MXNet backend (symbol JSON + .params)."""

from __future__ import annotations

import json

from parity.errors import ModelLoadError
from parity.formats import Probe
from parity.limits import check_depth
from parity.registry import BackendRecord, InputHabit


def _check(probe: Probe) -> None:
    """A ``.json`` must be an MXNet symbol: an object with ``nodes`` and ``heads``."""
    if probe.suffix != ".json":
        return
    try:
        text = probe.path.read_text(encoding="utf-8")
        check_depth(text, str(probe.path))
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(probe.path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "nodes" not in data or "heads" not in data:
        raise ModelLoadError(probe.path, "JSON is not an MXNet symbol (no 'nodes'/'heads')")


RECORD = BackendRecord(
    name="mxnet",
    adapter="mxnet_symbol:MXNetBackend",
    extra="mxnet",
    framework="mxnet",
    formats="prefix-symbol.json + prefix-NNNN.params",
    suffixes=(".json", ".params"),
    sniff=lambda probe: (probe.text or "").lstrip().startswith("{"),
    check=_check,
    habit=InputHabit(rgb=True, note="MXNet habit: RGB 0-255"),
    advice={
        "set_eps": "set `eps={eps:g}` on BatchNorm `{node}` in {file}",
        "round_up": "set `pooling_convention='full'` on Pooling `{node}` in {file}",
        "round_down": "set `pooling_convention='valid'` on Pooling `{node}` in {file}",
    },
    op_families={"SliceChannel": "split", "_split_v2": "split"},
    vocabulary="mxnet_symbol_vocabulary",
)

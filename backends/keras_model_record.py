"""Record of the Keras backend (.keras archives, Keras 2 .h5; Keras 3 on torch)."""

from __future__ import annotations

from parity.errors import ModelLoadError
from parity.formats import HDF5_MAGIC, Probe
from parity.registry import BackendRecord, InputHabit


def _check(probe: Probe) -> None:
    if probe.suffix in (".h5", ".hdf5") and not probe.head.startswith(HDF5_MAGIC):
        raise ModelLoadError(probe.path, f"named {probe.suffix} but is not an HDF5 file")
    if probe.suffix == ".keras" and not probe.is_zip:
        raise ModelLoadError(probe.path, "named .keras but is not a Keras archive "
                                         "(expected a zip)")


RECORD = BackendRecord(
    name="keras",
    adapter="keras_model:KerasBackend",
    extra="keras",
    framework="keras",
    formats=".keras archives and Keras 2 .h5 files (Keras 3 on its torch backend)",
    suffixes=(".keras", ".h5", ".hdf5"),
    sniff=lambda probe: probe.head.startswith(HDF5_MAGIC),
    check=_check,
    habit=InputHabit(rgb=True, layout="NHWC", note="Keras habit: RGB 0-255, NHWC"),
    advice={
        "set_eps": "set `epsilon={eps:g}` on BatchNormalization `{node}`",
        "round_up": "pad the input of `{node}` (Keras has no ceil_mode; use padding='same')",
        "round_down": "pad the input of `{node}` (Keras has no ceil_mode; use padding='same')",
    },
    vocabulary="keras_model_vocabulary",
)

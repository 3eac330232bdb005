"""Comparison streams: a pair's tensors are let go once nothing downstream can need them."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

from conftest import ROOT

torch = pytest.importorskip("torch", reason="parity[torch] not installed")

import parity  # noqa: E402
import parity.diff  # noqa: E402
from parity.align import Match  # noqa: E402
from parity.api import open_model  # noqa: E402
from parity.pairing import paired  # noqa: E402

CHAIN = f"{ROOT / 'tests' / 'models' / 'deep_chain.py'}:build"


def test_paired_hands_out_pairs_as_soon_as_both_sides_have_them():
    matches = [Match("a1", "b1", "x"), Match("a2", "b2", "x")]
    log = []

    def side(names):
        for name in names:
            log.append(name)
            yield name, np.zeros(1)

    out = [m.a for m, _, _ in paired(side(["a1", "a2"]), side(["b2", "b1"]), matches)]
    assert out == ["a1", "a2"]
    assert log == ["a1", "b2", "b1", "a2"]  # B is pulled while A waits, then A resumes


def test_compared_tensors_are_released_during_the_run(monkeypatch):
    torch.manual_seed(0)
    a, b = open_model(CHAIN), open_model(CHAIN)
    b._capture.graph_module.load_state_dict(a._capture.graph_module.state_dict())
    seen: list[weakref.ref] = []
    alive_counts = []
    original = parity.diff.diff_pair

    def spy(match, op, note, va, vb, judge):
        alive_counts.append(sum(ref() is not None for ref in seen))
        seen.extend([weakref.ref(va), weakref.ref(vb)])
        return original(match, op, note, va, vb, judge)

    monkeypatch.setattr(parity.diff, "diff_pair", spy)
    report = parity.compare(a, b, input_shape=(1, 3, 128, 128))
    assert report.ok and len(report.pairs) == 50
    # Keeping everything would leave 2 arrays per earlier pair alive (up to 98); streaming
    # keeps the input pair and the pair right upstream of the one being compared.
    print("max alive arrays:", max(alive_counts))
    assert max(alive_counts) <= 6, alive_counts

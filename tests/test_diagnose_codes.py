"""The hint codes documented in docs/reading-a-report.md are the registry's, word for word."""

from __future__ import annotations

import re

from conftest import ROOT
from parity.diagnose import codes

ROW = re.compile(r"^\| `([a-z_0-9]+)` \| (.+?) \|$", re.M)


def documented() -> dict[str, str]:
    return dict(ROW.findall((ROOT / "docs" / "reading-a-report.md").read_text(encoding="utf-8")))


def test_docs_table_is_the_registry():
    assert documented() == codes.MEANINGS


def test_codes_are_their_own_names():
    constants = {name: value for name, value in vars(codes).items() if name.isupper()
                 and isinstance(value, str)}
    assert all(value == name.lower() for name, value in constants.items())
    assert set(constants.values()) == set(codes.MEANINGS)

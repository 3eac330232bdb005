"""Alignment: which node of model A computes the same value as which node of model B.

``alignment``  the ``align()`` entry point, ``Match`` and ``Alignment``: strategies in order
``names``      exact and normalised names
``scopes``     module scopes read from exporter names, matched by scope + family + call order
``structure``  graph position (nearest matched ancestors, op class, shape)
``sequence``   LCS-style alignment of what is left between anchors
``folds``      chains one side computes as one op (BN folded in Conv, BN + Scale)
``outputs``    the models' outputs paired with each other, past steps one side appends
``mapping_file`` the user's ``--map`` TOML/JSON, resolved against both graphs
"""

from .alignment import Alignment, Match, align

__all__ = ["Alignment", "Match", "align"]

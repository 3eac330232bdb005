"""``parity sweep``: a matrix of model pairs (models × exporters × inputs) compared in
parallel processes or as Ray tasks, summarised in one table that names the worst pair.

Stages, one module each: :mod:`.spec` reads the sweep file into pairs, :mod:`.pair` runs
one pair (in a worker), :mod:`.engines` fans the pairs out (a process pool or Ray),
:mod:`.summary` ranks the outcomes and writes the summary and one saved run per pair.
"""

from .engines import run_pairs
from .spec import PairSpec, Sweep, read_sweep
from .summary import Summary

__all__ = ["PairSpec", "Summary", "Sweep", "read_sweep", "run_pairs"]

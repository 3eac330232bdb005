"""Input normalisation done inside a graph (MXNet's ``_minus_scalar``/``_mul_scalar``).

A converter usually drops these ops and expects the caller to normalise outside the
graph; parity needs to know so the other side is fed the same values and the two
"effective inputs" are compared with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from .graph import Graph

# y = x * gain + bias for each scalar op, given its scalar c.
_AFFINE = {
    "_minus_scalar": lambda c: (1.0, -c),
    "_plus_scalar": lambda c: (1.0, c),
    "_mul_scalar": lambda c: (c, 0.0),
    "_div_scalar": lambda c: (1.0 / c, 0.0),
}


@dataclass(frozen=True)
class InGraphAffine:
    """``output = (input - mean) * scale`` computed by ``nodes`` right after ``input``."""

    input: str
    nodes: tuple[str, ...]
    mean: float
    scale: float

    @property
    def output(self) -> str:
        return self.nodes[-1]


def leading_affine(graph: Graph, input_name: str) -> InGraphAffine | None:
    """The chain of scalar affine ops that alone consumes ``input_name``, if any."""
    consumers: dict[str, list[str]] = {}
    for node in graph.nodes:
        for source in node.inputs:
            consumers.setdefault(source, []).append(node.name)
    gain, bias, chain, current = 1.0, 0.0, [], input_name
    while len(consumers.get(current, [])) == 1:
        node = graph.node(consumers[current][0])
        step = _AFFINE.get(node.op)
        scalar = node.attrs.get("scalar")
        if step is None or scalar is None or node.inputs != (current,):
            break
        g, b = step(float(scalar))
        if g == 0.0:
            break
        gain, bias = gain * g, bias * g + b
        chain.append(node.name)
        current = node.name
    if not chain:
        return None
    return InGraphAffine(input_name, tuple(chain), mean=-bias / gain, scale=gain)


def effective_input(graph: Graph, input_name: str) -> str:
    """The node holding the model's input once in-graph normalisation is done."""
    affine = leading_affine(graph, input_name)
    return affine.output if affine else input_name

"""Input normalisation done inside a graph (MXNet ``_minus_scalar``/``_mul_scalar``, Keras
``Rescaling``).

A converter usually drops these ops and expects the caller to normalise outside the
graph; parity needs to know so the other side is fed the same values and the two
"effective inputs" are compared with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from .graph import Graph, Node

# y = x * gain + bias for each MXNet scalar op, given its scalar c.
_SCALAR_OPS = {
    "_minus_scalar": lambda c: (1.0, -c),
    "_plus_scalar": lambda c: (1.0, c),
    "_mul_scalar": lambda c: (c, 0.0),
    "_div_scalar": lambda c: (1.0 / c, 0.0),
}


def _affine(node: Node) -> tuple[float, float] | None:
    """``(gain, bias)`` of a scalar affine op (MXNet scalar ops, Keras ``Rescaling``)."""
    if node.op in _SCALAR_OPS and node.attrs.get("scalar") is not None:
        scalar = float(node.attrs["scalar"])
        return None if node.op == "_div_scalar" and scalar == 0 else _SCALAR_OPS[node.op](scalar)
    if node.op == "Rescaling" and isinstance(node.attrs.get("scale"), (int, float)):
        return float(node.attrs["scale"]), float(node.attrs.get("offset", 0.0))
    return None


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
    consumers = graph.consumers
    gain, bias, chain, current = 1.0, 0.0, [], input_name
    while len(consumers.get(current, [])) == 1:
        node = graph.node(consumers[current][0])
        step = _affine(node)
        if step is None or node.inputs != (current,) or step[0] == 0.0:
            break
        g, b = step
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

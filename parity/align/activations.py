"""What is worth comparing: the nodes that compute activations from the model's inputs.

Constants, the TorchScript exporter's ``Identity`` copies of weights, and shape arithmetic
(``Shape -> Gather -> Unsqueeze -> Concat`` feeding a Reshape, ``Range``, ``ConstantOfShape``)
hang from no graph input once the backends drop their Shape/Constant/size producers. Dead
code (a traced pooler whose value no output reads, which an exporter drops) reaches no
graph output. Neither is an activation of the result: never paired, and never counted
against coverage. What ``x.type_as(y)`` reads of ``y`` is its dtype, not its values: such
an op reads its first operand only (``ops.TEMPLATE_READS``).
"""

from __future__ import annotations

from dataclasses import replace

from ..graph import Graph, Node
from ..ops import TEMPLATE_READS, op_key


def activation_graph(graph: Graph) -> tuple[Graph, tuple[str, ...]]:
    """``graph`` restricted to the nodes reachable from its inputs and reaching one of its
    outputs (when it names them), reads of other nodes dropped; and the names of the nodes
    left out, in topological order."""
    live = set(graph.input_names)
    kept = []
    for node in graph.nodes:
        operands = node.inputs[:1] if op_key(node.op) in TEMPLATE_READS else node.inputs
        reads = tuple(name for name in operands if name in live)
        if reads:
            live.add(node.name)
            kept.append(node if reads == node.inputs else replace(node, inputs=reads))
    used = _reaching(kept, {name for name in graph.outputs if name in live})
    if used is not None:
        kept = [node for node in kept if node.name in used]
    if len(kept) == len(graph.nodes) and all(x is y for x, y in zip(kept, graph.nodes)):
        return graph, ()
    names = {node.name for node in kept}
    inert = tuple(node.name for node in graph.nodes if node.name not in names)
    outputs = tuple(name for name in graph.outputs if name in names or name in live)
    return Graph(tuple(kept), graph.inputs, outputs, graph.source), inert


def _reaching(nodes: list[Node], outputs: set[str]) -> set[str] | None:
    """Names of ``nodes`` some output is computed from; None when no output is known."""
    if not outputs:
        return None
    used = set(outputs)
    for node in reversed(nodes):
        if node.name in used:
            used.update(node.inputs)
    return used

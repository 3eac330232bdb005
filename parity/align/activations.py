"""What is worth comparing: the nodes that compute activations from the model's inputs.

Constants, the TorchScript exporter's ``Identity`` copies of weights, and shape arithmetic
(``Shape -> Gather -> Unsqueeze -> Concat`` feeding a Reshape, ``Range``, ``ConstantOfShape``)
hang from no graph input once the backends drop their Shape/Constant/size producers. They
are not activations: never paired, and never counted against coverage.
"""

from __future__ import annotations

from dataclasses import replace

from ..graph import Graph


def activation_graph(graph: Graph) -> tuple[Graph, tuple[str, ...]]:
    """``graph`` restricted to the nodes reachable from its inputs (reads of other nodes
    dropped), and the names of the nodes left out, in topological order."""
    live = set(graph.input_names)
    nodes, inert = [], []
    for node in graph.nodes:
        reads = tuple(name for name in node.inputs if name in live)
        if not reads:
            inert.append(node.name)
            continue
        live.add(node.name)
        nodes.append(node if reads == node.inputs else replace(node, inputs=reads))
    if not inert:
        return graph, ()
    outputs = tuple(name for name in graph.outputs if name in live)
    return Graph(tuple(nodes), graph.inputs, outputs, graph.source), tuple(inert)

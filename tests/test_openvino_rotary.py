"""CodeGen's interleaved rotary (``rotate_every_two``: ``x[..., ::2]``, ``x[..., 1::2]`` of
``x[..., :rotary_dim]``) against OpenVINO's IR, which orders the odd slice first (the
negated operand of the stack). A slice of a slice on one axis has the composed cut, so each
half pairs with the slice that cuts it, whatever the order (the real pair:
``codegen-pt-openvino`` in tests/test_real_corpus.py)."""

from parity.align import align
from parity.align.slices import ShortEnd, merge_repeated
from parity.graph import Graph, Node, TensorSpec

END = 9223372036854775807
SHAPE = (1, 16, 4, 8)


def _torch() -> Graph:
    nodes = [Node("view", "aten::view", ("x",), shape=SHAPE),
             Node("slice:3", "aten::slice", ("view",),
                  {"dim": 3, "start": 0, "end": 4, "step": 1}, (1, 16, 4, 4))]
    for name, start in (("slice:19", 0), ("slice:23", 1)):
        nodes.append(Node(name, "aten::slice", ("slice:3",),
                          {"dim": 3, "start": start, "end": END, "step": 2}, (1, 16, 4, 2)))
    nodes += [Node("neg", "aten::neg", ("slice:23",), shape=(1, 16, 4, 2)),
              Node("stack", "aten::stack", ("neg", "slice:19"), shape=(1, 16, 4, 2, 2))]
    return Graph(tuple(nodes), (TensorSpec("x", SHAPE),), ("stack",))


def _openvino() -> Graph:
    def cut(name: str, source: str, start: int, end: int, step: int, last: int) -> Node:
        return Node(name, "Slice", (source,), {"starts": (start,), "ends": (end,),
                                               "steps": (step,), "axes": (3,)},
                    (None, None, 4, last))

    nodes = [Node("Reshape", "Reshape", ("x",), shape=(None, None, 4, 8)),
             cut("Slice_25", "Reshape", 0, 4, 1, 4), cut("Slice_32", "Slice_25", 1, END, 2, 2),
             Node("Multiply_1", "Multiply", ("Slice_32",), shape=(None, None, 4, 2)),
             cut("Slice_36", "Slice_25", 0, END, 2, 2),
             Node("Concat_1", "Concat", ("Multiply_1", "Slice_36"), {"axis": -1})]
    return Graph(tuple(nodes), (TensorSpec("x", SHAPE),), ("Concat_1",))


def test_a_slice_of_a_slice_on_one_axis_has_the_composed_cut():
    graph, _ = merge_repeated(_torch())
    cuts = {n.name: dict(n.attrs["cut"]) for n in graph.nodes if "cut" in n.attrs}
    assert cuts["slice:19"] == {3: (0, 2, ShortEnd(4))}
    assert cuts["slice:23"] == {3: (1, 2, ShortEnd(4))}
    assert isinstance(cuts["slice:23"][3][2], ShortEnd)


def test_each_interleaved_half_pairs_with_the_slice_that_cuts_it():
    pairs = {m.a: m.b for m in align(_torch(), _openvino()).pairs}
    assert pairs["slice:19"] == "Slice_36" and pairs["slice:23"] == "Slice_32"

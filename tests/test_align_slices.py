"""Slices by what they cut (align/slices.py): Swin's patch merging, traced by torch as one
slice per axis (whole axes included, quarters repeating their row slice) and exported as
shared single-axis Slices."""

from parity.align import align
from parity.align.slices import COMPUTED, merge_repeated
from parity.graph import Graph, Node, TensorSpec

END = 9223372036854775807


def _torch_quarters() -> Graph:
    nodes = [Node("view", "aten::view", ("x",))]
    ends = []
    for k, (row, col) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
        last = "view"
        for axis, start, step in ((0, 0, 1), (1, row, 2), (2, col, 2), (3, 0, 1)):
            name = f"slice:{4 * k + axis}"
            nodes.append(Node(name, "aten::slice", (last,),
                              {"dim": axis, "start": start, "end": END, "step": step}))
            last = name
        ends.append(last)
    nodes.append(Node("cat", "aten::cat", tuple(ends)))
    return Graph(tuple(nodes), (TensorSpec("x", (1, 64, 16)),), ("cat",))


def _onnx_quarters() -> Graph:
    def cut(name, source, axis, start):
        return Node(name, "Slice", (source,), {"starts": (start,), "ends": (END,),
                                              "axes": (axis,), "steps": (2,)}, (1, 4, 4, 16))

    nodes = [Node("Reshape", "Reshape", ("x",), shape=(1, 8, 8, 16)),
             cut("Slice", "Reshape", 1, 0), cut("Slice_1", "Slice", 2, 0),
             cut("Slice_2", "Reshape", 1, 1), cut("Slice_3", "Slice_2", 2, 0),
             cut("Slice_4", "Slice", 2, 1), cut("Slice_5", "Slice_2", 2, 1),
             Node("Concat", "Concat", ("Slice_1", "Slice_3", "Slice_4", "Slice_5"))]
    return Graph(tuple(nodes), (TensorSpec("x", (1, 64, 16)),), ("Concat",))


def test_repeated_and_whole_axis_slices_are_merged():
    graph, merged = merge_repeated(_torch_quarters())
    kept = {n.name: n for n in graph.nodes}
    assert set(merged) == {"slice:0", "slice:3", "slice:4", "slice:7", "slice:8", "slice:9",
                           "slice:11", "slice:12", "slice:13", "slice:15"}
    assert kept["slice:10"].inputs == ("slice:1",)  # the row slice it repeats
    assert kept["cat"].inputs == ("slice:2", "slice:6", "slice:10", "slice:14")
    assert dict(kept["slice:14"].attrs["cut"]) == {1: (1, 2, None), 2: (1, 2, None)}


def test_each_quarter_pairs_with_the_slice_that_cuts_it():
    alignment = align(_torch_quarters(), _onnx_quarters())
    pairs = {m.a: m.b for m in alignment.pairs}
    assert pairs["slice:1"] == "Slice" and pairs["slice:5"] == "Slice_2"
    assert [pairs[f"slice:{k}"] for k in (2, 6, 10, 14)] == [
        "Slice_1", "Slice_3", "Slice_4", "Slice_5"]
    assert alignment.unmatched_a == alignment.unmatched_b == ()


def _recorded_quarters() -> Graph:
    """The eager recorder's ``x[:, 0::2, 1::2, :]``: one multi-axis slice per quarter."""
    nodes = [Node("view", "aten::view", ("x",))]
    for k, (row, col) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
        nodes.append(Node(f"slice:{k}", "aten::slice", ("view",),
                          {"starts": (row, col), "ends": (END, END), "axes": (1, 2),
                           "steps": (2, 2)}))
    nodes.append(Node("cat", "aten::cat", tuple(f"slice:{k}" for k in range(4))))
    return Graph(tuple(nodes), (TensorSpec("x", (1, 64, 16)),), ("cat",))


def test_a_quarter_cut_in_one_slice_pairs_with_the_second_of_two():
    """Nothing repeats in the recorder's graph: its cuts are still described, so a quarter
    is not paired with the exporter's row slice (a shape mismatch)."""
    pairs = {m.a: m.b for m in align(_recorded_quarters(), _onnx_quarters()).pairs}
    assert [pairs[f"slice:{k}"] for k in range(4)] == ["Slice_1", "Slice_3", "Slice_4",
                                                       "Slice_5"]


def test_a_torch_slice_with_a_computed_start_cuts_something_unknown():
    """onnx2torch reads a Slice's starts from a tensor: torch's slice then shows no start,
    and is neither merged into the row slice before it nor taken to cut from 0."""
    graph = _torch_quarters()
    computed = Graph(tuple(Node(n.name, n.op, n.inputs, {"dim": n.attrs["dim"], "step": 2})
                           if n.attrs.get("step") == 2 else n for n in graph.nodes),
                     graph.inputs, graph.outputs)
    merged_graph, merged = merge_repeated(computed)
    assert not {"slice:5", "slice:9", "slice:13"} & set(merged)
    steps = [n for n in merged_graph.nodes if n.attrs.get("step") == 2]
    assert all(dict(n.attrs["cut"])[n.attrs["dim"]][0] == COMPUTED for n in steps)


def test_rotary_halves_with_computed_bounds_pair_with_their_own_half():
    """LLaMA's rotate_half traced by TorchScript: ``x[..., : d // 2]`` has its end computed
    and ``x[..., d // 2 :]`` its start (absent from the attributes); the exporter writes
    both as constants. Neither is a whole-axis slice, and each pairs with its own half."""
    torch_graph = Graph((
        Node("t", "aten::transpose", ("x",)),
        Node("slice", "aten::slice", ("t",), {"dim": 3, "start": 0, "step": 1}),
        Node("slice:1", "aten::slice", ("t",), {"dim": 3, "end": END, "step": 1}),
        Node("neg", "aten::neg", ("slice:1",)),
        Node("cat", "aten::cat", ("neg", "slice")),
    ), (TensorSpec("x", (1, 16, 4, 8)),), ("cat",))
    onnx_graph = Graph((
        Node("T", "Transpose", ("x",), shape=(1, 4, 16, 8)),
        Node("Slice", "Slice", ("T",), {"starts": (0,), "ends": (4,), "axes": (3,)},
             (1, 4, 16, 4)),
        Node("Slice_1", "Slice", ("T",), {"starts": (4,), "ends": (END,), "axes": (3,)},
             (1, 4, 16, 4)),
        Node("Neg", "Neg", ("Slice_1",), shape=(1, 4, 16, 4)),
        Node("Concat", "Concat", ("Neg", "Slice"), shape=(1, 4, 16, 8)),
    ), (TensorSpec("x", (1, 16, 4, 8)),), ("Concat",))
    pairs = {m.a: m.b for m in align(torch_graph, onnx_graph).pairs}
    assert pairs.get("slice:1", "Slice_1") == "Slice_1"
    assert pairs.get("slice", "Slice") == "Slice"
    assert pairs["neg"] == "Neg"


def test_two_slices_with_computed_bounds_are_not_merged():
    graph = Graph((
        Node("a", "aten::slice", ("x",), {"dim": 1, "end": END, "step": 1}),
        Node("b", "aten::slice", ("x",), {"dim": 1, "end": END, "step": 1}),
    ), (TensorSpec("x", (1, 8)),), ("a", "b"))
    merged, left_out = merge_repeated(graph)
    assert left_out == ()
    assert [n.name for n in merged.nodes] == ["a", "b"]


def _phi3_rotary_torch() -> Graph:
    """Phi-3's rotary embedding traced by TorchScript, the shapes from a pass on the first
    input: ``q[..., :rotary_dim]`` (end computed) is the whole head, ``q[..., rotary_dim:]``
    (start computed) is empty, and the concat of the rotated head with it holds the
    rotated head."""
    return Graph((
        Node("t", "aten::transpose", ("x",), shape=(1, 4, 16, 8)),
        Node("rot", "aten::slice", ("t",), {"dim": 3, "start": 0, "step": 1}, (1, 4, 16, 8)),
        Node("pass", "aten::slice", ("t",), {"dim": 3, "end": END, "step": 1}, (1, 4, 16, 0)),
        Node("mul", "aten::mul", ("rot",), shape=(1, 4, 16, 8)),
        Node("x1", "aten::slice", ("rot",), {"dim": 3, "start": 0, "step": 1}, (1, 4, 16, 4)),
        Node("x2", "aten::slice", ("rot",), {"dim": 3, "end": END, "step": 1}, (1, 4, 16, 4)),
        Node("neg", "aten::neg", ("x2",), shape=(1, 4, 16, 4)),
        Node("cat", "aten::cat", ("neg", "x1"), {"axis": -1}, (1, 4, 16, 8)),
        Node("mul:1", "aten::mul", ("cat",), shape=(1, 4, 16, 8)),
        Node("add", "aten::add", ("mul", "mul:1"), shape=(1, 4, 16, 8)),
        Node("cat:1", "aten::cat", ("add", "pass"), {"axis": -1}, (1, 4, 16, 8)),
        Node("out", "aten::mul", ("cat:1",), shape=(1, 4, 16, 8)),
    ), (TensorSpec("x", (1, 16, 4, 8)),), ("out",))


def _phi3_rotary_dynamo() -> Graph:
    """The same written by the dynamo exporter: neither the whole-head slice nor the empty
    one nor the concat with it, the halves' bounds constant."""
    def half(name, start, end):
        return Node(name, "Slice", ("T",), {"starts": (start,), "ends": (end,), "axes": (3,),
                                           "steps": (1,)}, (1, 4, 16, 4))

    return Graph((
        Node("T", "Transpose", ("x",), {"perm": (0, 2, 1, 3)}, (1, 4, 16, 8)),
        Node("Mul", "Mul", ("T",), shape=(1, 4, 16, 8)),
        half("Slice", 0, 4), half("Slice_1", 4, END),
        Node("Neg", "Neg", ("Slice_1",), shape=(1, 4, 16, 4)),
        Node("Concat", "Concat", ("Neg", "Slice"), {"axis": -1}, (1, 4, 16, 8)),
        Node("Mul_1", "Mul", ("Concat",), shape=(1, 4, 16, 8)),
        Node("Add", "Add", ("Mul", "Mul_1"), shape=(1, 4, 16, 8)),
        Node("Mul_2", "Mul", ("Add",), shape=(1, 4, 16, 8)),
    ), (TensorSpec("x", (1, 16, 4, 8)),), ("Mul_2",))


def test_whole_and_empty_slices_and_a_concat_with_nothing_are_left_out():
    graph, left_out = merge_repeated(_phi3_rotary_torch())
    kept = {n.name: n for n in graph.nodes}
    assert set(left_out) == {"rot", "pass", "cat:1"}
    assert kept["mul"].inputs == ("t",) and kept["out"].inputs == ("add",)
    # the halves' computed bounds follow from the lengths they cut
    assert dict(kept["x1"].attrs["cut"]) == {3: (0, 1, 4)}
    assert dict(kept["x2"].attrs["cut"]) == {3: (4, 1, None)}


def test_partial_rotary_over_the_whole_head_aligns_with_the_dynamo_export():
    alignment = align(_phi3_rotary_torch(), _phi3_rotary_dynamo())
    pairs = {m.a: m.b for m in alignment.pairs}
    assert (pairs["x1"], pairs["x2"], pairs["cat"], pairs["add"], pairs["out"]) == (
        "Slice", "Slice_1", "Concat", "Add", "Mul_2")
    assert alignment.unmatched_a == alignment.unmatched_b == ()


def test_a_concat_that_reads_a_weight_beside_an_empty_tensor_is_kept():
    """A concat's weight input is not among its inputs: its own length along the axis
    (longer than its one activation's) says it holds more than that activation."""
    graph = Graph((
        Node("empty", "aten::slice", ("x",), {"dim": 1, "end": END, "step": 1}, (1, 0)),
        Node("cat", "aten::cat", ("x", "empty"), {"axis": 1}, (1, 12)),
    ), (TensorSpec("x", (1, 8)),), ("cat",))
    merged, left_out = merge_repeated(graph)
    assert left_out == ("empty",)
    assert [n.name for n in merged.nodes] == ["cat"]

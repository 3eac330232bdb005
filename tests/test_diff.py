from parity.diff import divergence_roots, first_divergence
from parity.graph import Graph, Node, TensorSpec
from parity.report import FAIL, OK, PairResult

# x -> conv -> bn -> relu -> add(relu, branch) ; x -> branch
GRAPH = Graph(
    (
        Node("conv", "Conv", ("x",)),
        Node("bn", "BatchNorm", ("conv",)),
        Node("relu", "Relu", ("bn",)),
        Node("branch", "Conv", ("x",)),
        Node("add", "Add", ("relu", "branch")),
    ),
    (TensorSpec("x", (1, 3, 4, 4)),),
)


def pair(name: str, status: str) -> PairResult:
    return PairResult(name, name, "op", "exact", (1,), (1,), status)


def test_first_divergence_is_the_earliest_failing_pair_with_passing_inputs():
    pairs = (pair("conv", OK), pair("bn", FAIL), pair("relu", FAIL), pair("branch", OK),
             pair("add", FAIL))
    assert first_divergence(GRAPH, pairs).a == "bn"
    assert [p.a for p in divergence_roots(GRAPH, pairs)] == ["bn"]


def test_independent_roots_are_all_listed():
    pairs = (pair("conv", OK), pair("bn", FAIL), pair("branch", FAIL), pair("add", FAIL))
    assert [p.a for p in divergence_roots(GRAPH, pairs)] == ["bn", "branch"]


def test_unaligned_nodes_are_looked_through():
    # relu is not compared: add's nearest compared ancestors are bn and branch.
    pairs = (pair("bn", OK), pair("branch", OK), pair("add", FAIL))
    assert first_divergence(GRAPH, pairs).a == "add"


def test_no_failure_no_divergence():
    assert first_divergence(GRAPH, (pair("conv", OK),)) is None

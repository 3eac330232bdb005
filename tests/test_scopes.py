import pytest

from parity.align.scopes import scope_from_hierarchy, scope_from_namespace, scope_from_onnx_name


@pytest.mark.parametrize(("name", "scope"), [
    ("/layer1/layer1.0/conv1/Conv", "layer1.0.conv1"),
    ("/conv1/Conv", "conv1"),
    ("/Concat", ""),
    ("/features/features.0/Conv", "features.0"),
    ("onnx::Conv_123", ""),
    ("/backbone/body/layer1/layer1.0/conv1/Conv", "backbone.body.layer1.0.conv1"),
])
def test_scope_from_onnx_name(name, scope):
    assert scope_from_onnx_name(name) == scope


def test_scope_from_hierarchy():
    text = "layer1(Sequential).0(BasicBlock).conv1(Conv2d)"
    assert scope_from_hierarchy(text) == "layer1.0.conv1"
    assert scope_from_hierarchy("") == ""


def test_scope_from_hierarchy_of_a_module_converted_from_onnx():
    """onnx2torch names each submodule after its ONNX node, dots written as slashes."""
    text = "model/vit/layers/0/mlp/activation_fn/Erf(OnnxErf)"
    assert scope_from_hierarchy(text) == "model.vit.layers.0.mlp.activation_fn"
    assert scope_from_hierarchy("Concat(OnnxConcat)") == "Concat"
    assert scope_from_hierarchy("/Concat(OnnxConcat)") == ""


def test_scope_from_namespace():
    text = (": smallcnn.SmallCNN/layer1: torch.nn.modules.container.Sequential/layer1.0: "
            "smallcnn.BasicBlock/relu: torch.nn.modules.activation.ReLU/relu: aten.relu.default")
    assert scope_from_namespace(text) == "layer1.0.relu"
    assert scope_from_namespace(": smallcnn.SmallCNN/cat: aten.cat.default") == ""

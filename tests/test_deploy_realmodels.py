"""The deployment runtimes on the shared real-model corpus (transformers ResNet and
MobileNetV2 from configs, small size): the same ONNX in every runtime, and torch ->
OpenVINO IR / TFLite conversions by the real converters."""

import warnings

import pytest

pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
import parity  # noqa: E402
from parity.api import open_model  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["opencv", "onnxref", "openvino"])
@pytest.mark.parametrize("form", ["onnx_legacy", "onnx_dynamo"])
def test_resnet_onnx_agrees_in_every_runtime(real_corpus, backend, form):
    pytest.importorskip({"opencv": "cv2", "onnxref": "onnx", "openvino": "openvino"}[backend])
    path = real_corpus.export("resnet", form)
    report = parity.compare(path, path, b_backend=backend, inputs=real_corpus.inputs("resnet"))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize("name", ["convnextv2", "mobilevit"])
def test_onnx_runtime_and_openvino_agree_within_rounding(real_corpus, name):
    """Both runtimes in float32 on one file: ConvNeXt V2's spelled-out GELU has its Erf
    compared alone (4 ulps of 1 apart), MobileViT's attention scores cancel 19x below their
    terms; each was a false divergence (1.29x and 1.08x the bound)."""
    pytest.importorskip("openvino")
    path = real_corpus.export(name, "onnx_legacy")
    report = parity.compare(path, path, b_backend="openvino", inputs=real_corpus.inputs(name))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95 and not report.hints


@pytest.mark.slow
def test_mobilenet_v2_depthwise_conv_on_1x1_is_wrong_in_opencv(real_corpus):
    """OpenCV DNN 4.11 computes a padded 3x3 depthwise conv on a 1x1 feature map wrongly
    (MobileNetV2's last blocks at 32 px); ONNX Runtime and the reference evaluator agree."""
    pytest.importorskip("cv2")
    path = real_corpus.export("mobilenet_v2", "onnx_dynamo")
    inputs = real_corpus.inputs("mobilenet_v2")
    report = parity.compare(path, path, b_backend="opencv", inputs=inputs)
    assert not report.ok and min(report.coverage) >= 0.95
    first = open_model(path).graph.node(report.first_divergence.a)
    assert first.op == "Conv" and first.attrs["group"] > 1 and first.shape[2:] == (1, 1)
    assert report.first_divergence.metrics.max_abs > 1


@pytest.mark.slow
def test_mobilenet_v2_agrees_in_the_reference_evaluator(real_corpus):
    path = real_corpus.export("mobilenet_v2", "onnx_dynamo")
    report = parity.compare(path, path, b_backend="onnxref",
                            inputs=real_corpus.inputs("mobilenet_v2"))
    assert report.ok, report.first_divergence


@pytest.mark.slow
@pytest.mark.parametrize(("form", "reason"), [
    ("onnx_legacy", "node /model/embeddings/GatherElements (GatherElements): Mixed input "
                    "data types. Required type: 4 (int32), actual type: 5 (float32)"),
    ("onnx_dynamo", "Unsupported data type: BOOL"),
])
def test_opencv_cannot_load_bert_and_says_so_in_one_line(real_corpus, form, reason):
    """An OpenCV DNN 4.11 limitation, not a parity one: its ONNX importer refuses BERT's
    int64 index arithmetic (legacy export) and boolean mask tensors (dynamo export)."""
    pytest.importorskip("cv2")
    from click.testing import CliRunner

    from parity.cli import cli

    path = real_corpus.export("bert", form)
    result = CliRunner().invoke(cli, ["compare", path, path, "--b-backend", "opencv",
                                      "--inputs", str(real_corpus.inputs_file("bert"))])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"parity: error: {path}: OpenCV DNN cannot load it ({reason})"]


@pytest.fixture(scope="session")
def resnet_ir(real_corpus, tmp_path_factory):
    ov = pytest.importorskip("openvino")
    import realmodels
    import torch

    inputs = real_corpus.inputs("resnet")
    example = torch.from_numpy(next(iter(inputs.values())))
    path = tmp_path_factory.mktemp("resnet_ir") / "resnet.xml"
    converted = ov.convert_model(realmodels.build("resnet", "small"), example_input=example,
                                 input=[tuple(example.shape)])
    ov.save_model(converted, str(path), compress_to_fp16=False)
    return path


@pytest.mark.slow
def test_resnet_onnx_vs_openvino_ir_from_torch(real_corpus, resnet_ir):
    report = parity.compare(real_corpus.export("resnet", "onnx_legacy"), resnet_ir,
                            inputs=real_corpus.inputs("resnet"))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95


@pytest.mark.slow
def test_resnet_pt_vs_openvino_ir_from_torch(real_corpus, resnet_ir):
    report = parity.compare(real_corpus.export("resnet", "pt"), resnet_ir,
                            inputs=real_corpus.inputs("resnet"))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95


@pytest.fixture(scope="session")
def tflite_of(real_corpus, tmp_path_factory):
    """``name -> .tflite`` of the corpus model converted by ``litert_torch.convert``, once."""
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("litert_torch")
    import realmodels
    from realmodels import torch_forms

    folder = tmp_path_factory.mktemp("tflite")

    def convert(name):
        path = folder / f"{name}.tflite"
        if not path.exists():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch_forms.tflite(realmodels.build(name, "small"), real_corpus.inputs(name),
                                   path)
        return path

    return convert


@pytest.mark.slow
@pytest.mark.parametrize(("name", "source"), [
    ("resnet", "pt"), ("resnet", "onnx_legacy"), ("resnet", "onnx_dynamo"),
    ("mobilenet_v2", "pt"), ("mobilenet_v2", "onnx_dynamo")])
def test_corpus_model_vs_tflite_from_litert_torch(real_corpus, tflite_of, name, source):
    """Conv + BatchNorm + ReLU(6) fused into CONV_2D, NHWC, the converter's layout
    transposes and PADs, MobileNetV2's explicit stem pad (folded into the Conv by the
    dynamo exporter): every node aligned."""
    path = tflite_of(name)
    report = parity.compare(real_corpus.export(name, source), path,
                            inputs=real_corpus.inputs(name))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95, (report.unmatched_a, report.unmatched_b)


@pytest.mark.slow
def test_efficientnet_ceil_mode_pooler_is_wrong_in_litert_torch(real_corpus, tflite_of):
    """A real converter bug: litert-torch lowers EfficientNet's ``AvgPool2d(hidden_dim,
    ceil_mode=True)`` to a PAD up to the kernel and an AVERAGE_POOL_2D that divides by the
    whole kernel (x / 128**2 on the 1x1 map) where torch divides by the cells in the map.
    parity points at the pooler, every node aligned."""
    path = tflite_of("efficientnet")
    report = parity.compare(real_corpus.export("efficientnet", "onnx_dynamo"), path,
                            inputs=real_corpus.inputs("efficientnet"))
    assert not report.ok and min(report.coverage) >= 0.95
    first = report.first_divergence
    assert open_model(path).graph.op_of(first.b) == "AVERAGE_POOL_2D", first
    assert first.metrics.max_abs > 1
    hint = next(h for h in report.hints if h.node == first.a)  # not `precision`: cosine is 1
    assert [h.code for h in report.hints] == ["pool_padding"], report.hints
    assert "by the whole kernel (128x128 = 16384 cells" in hint.message


@pytest.mark.slow
@pytest.mark.parametrize("source", ["pt", "pt2"])
def test_vit_vs_tflite_from_litert_torch(real_corpus, tflite_of, source):
    """ViT through litert-torch: the q/k/v projections pair with their own
    FULLY_CONNECTED (the converter fuses the shared head-split location into each name),
    and the attention scale torch's SDPA decomposition folds into the q and k weights
    (sqrt(1/sqrt(head_dim)) each) is divided back out. Only the class-token select
    (a SLICE keeping its axis in TFLite) stays unpaired."""
    path = tflite_of("vit")
    report = parity.compare(real_corpus.export("vit", source), path,
                            inputs=real_corpus.inputs("vit"))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95, (report.unmatched_a, report.unmatched_b)
    graph = open_model(path).graph
    projections = {p.a.rsplit(".", 1)[-1]: p.b for p in report.pairs
                   if p.a.endswith(("q_proj", "k_proj", "v_proj")) and ".0." in p.a}
    assert {graph.node(b).scope.rsplit(".", 1)[-1] for b in projections.values()} == {
        "q_proj", "k_proj", "v_proj"}
    scaled = {name: graph.node(b).attrs.get("folded_scale") for name, b in projections.items()}
    assert scaled == {"q_proj": 0.5, "k_proj": 0.5, "v_proj": None}  # head_dim 16


@pytest.mark.slow
@pytest.mark.parametrize("name", ["convnext", "convnextv2"])
@pytest.mark.parametrize("source", ["pt", "onnx_legacy"])
def test_convnext_vs_tflite_from_litert_torch(real_corpus, tflite_of, name, source):
    """ConvNeXt through litert-torch stays NHWC from the stem on: torch's permutes are gone,
    every LayerNorm runs on ``(1, H*W, C)`` (compared with torch's ``(1, H, W, C)``), the
    channels-first ones are reshaped back to the NHWC map they came from (so the residual
    Add after them is compared transposed), and the layer scale is folded into pwconv2's
    FULLY_CONNECTED (paired with torch's Mul by gamma, not with pwconv2; V2 has none).
    Every node aligned."""
    path = tflite_of(name)
    report = parity.compare(real_corpus.export(name, source), path,
                            inputs=real_corpus.inputs(name))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95, (report.unmatched_a, report.unmatched_b)
    graph, source_graph = open_model(path).graph, open_model(real_corpus.export(name, source)).graph
    residuals = [p for p in report.pairs if graph.op_of(p.b) == "ADD" and graph.node(p.b).shape
                 and len(graph.node(p.b).shape) == 4]
    assert residuals and all(p.how.endswith("+nhwc") for p in residuals), residuals
    scaled = [p for p in report.pairs if graph.op_of(p.b) == "FULLY_CONNECTED"
              and "pwconv2" in graph.node(p.b).scope]
    ops = {"convnext": ("Mul", "aten::mul"), "convnextv2": ("Add", "aten::linear")}[name]
    assert len(scaled) == 2 and all(source_graph.op_of(p.a) in ops for p in scaled), scaled


@pytest.mark.slow
def test_gpt2_vs_tflite_from_litert_torch(real_corpus, tflite_of):
    """GPT-2 through litert-torch: the converter cuts q, k and v from the one c_attn with a
    SLICE each (no TFLite SPLIT), which pair with TorchScript's split pieces one to one; the
    attention scale it cannot fold into the shared weights stays a MUL by
    sqrt(1/sqrt(head_dim)) on the q and k pieces, divided back out of the ops after it
    (q's view was a false divergence, cosine 1 and half the values). The converter writes
    the head transposes in the order v, q, k (TorchScript: k, v, q), so scope and call
    order pair them wrongly; once those pairs are dropped, a second structural sweep pairs
    the views, transposes and the attention (with litert-torch's BATCH_MATMUL on
    ``(heads, seq, d)``): coverage was 0.71/0.57."""
    path = tflite_of("gpt2")
    report = parity.compare(real_corpus.export("gpt2", "pt"), path,
                            inputs=real_corpus.inputs("gpt2"))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95, (report.unmatched_a, report.unmatched_b)
    graph = open_model(path).graph
    paired = {p.a: p.b for p in report.pairs}
    for layer in (0, 1):
        assert graph.op_of(paired[f"model.{layer}.attn/scaled_dot_product_attention"]) \
            == "BATCH_MATMUL"
    for layer in (0, 1):
        pieces = [paired[f"model.{layer}.attn/split{suffix}"] for suffix in ("", ":1", ":2")]
        assert [graph.op_of(b) for b in pieces] == ["SLICE"] * 3 and len(set(pieces)) == 3
    scaled = [n for n in graph.nodes if n.attrs.get("folded_scale")]
    assert {n.op for n in scaled} == {"RESHAPE", "TRANSPOSE"} and len(scaled) == 12
    assert {n.attrs["folded_scale"] for n in scaled} == {0.5}  # head_dim 16


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bert", "llama"])
def test_text_model_vs_tflite_from_litert_torch(real_corpus, tflite_of, name):
    """BERT and LLaMA through litert-torch, every node aligned: the mask's GATHER_ND and
    SELECT_V2 (gather, where), the attention as BATCH_MATMUL -> SOFTMAX -> BATCH_MATMUL on
    ``(heads, seq, d)``, LLaMA's RMSNorm ``x.pow(2)`` written as ``MUL(x, x)`` and its
    grouped k/v repeat's ``unsqueeze`` as a RESHAPE (coverage was 0.86/0.91)."""
    path = tflite_of(name)
    report = parity.compare(real_corpus.export(name, "pt"), path,
                            inputs=real_corpus.inputs(name))
    assert report.ok and not report.hints, report.first_divergence
    assert min(report.coverage) >= 0.95, (report.unmatched_a, report.unmatched_b)
    graph = open_model(path).graph
    attention = [p.b for p in report.pairs if p.a.endswith("/scaled_dot_product_attention")]
    assert len(attention) == 2 and {graph.op_of(b) for b in attention} == {"BATCH_MATMUL"}


@pytest.mark.slow
def test_mobilevit_vs_tflite_from_litert_torch(real_corpus, tflite_of):
    """MobileViT through litert-torch: with one patch per position its softmax runs over one
    element, spelled out as REDUCE_MAX -> MAXIMUM -> SUB -> EXP -> DIV, and torch's scaling
    Div by sqrt(d) is a MUL by 1/sqrt(d). The Div pairs with that MUL and the softmax with
    the decomposition's DIV (the Div had paired with the DIV by scope and call order, a
    false divergence in the last two stages)."""
    path = tflite_of("mobilevit")
    report = parity.compare(real_corpus.export("mobilevit", "pt"), path,
                            inputs=real_corpus.inputs("mobilevit"))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95, (report.unmatched_a, report.unmatched_b)
    graph = open_model(path).graph
    ops = {p.a.rsplit("/", 1)[-1]: graph.op_of(p.b) for p in report.pairs
           if p.a.startswith("model.mobilevit.encoder.3.transformer.0.attention.attention/")}
    assert (ops["div"], ops["softmax"]) == ("MUL", "DIV"), ops

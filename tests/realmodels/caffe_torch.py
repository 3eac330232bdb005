"""Caffe -> PyTorch on a real architecture: the corpus's gluon ResNet-18, converted to Caffe
by the repository's MXNet -> Caffe converter, loaded into transformers' ResNet-18 (the same
architecture, v1 blocks) from the caffemodel's blobs, as a Caffe -> PyTorch converter does."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .torch_models import ImageModel


def from_caffe(caffe: Any) -> nn.Module:
    """transformers' ResNet-18 holding the Caffe model's blobs (``caffe`` is the opened Caffe
    backend): convolutions, BatchNorm + Scale and the classifier, matched in graph order
    (both list a block's shortcut first); eval mode."""
    import transformers

    config = transformers.ResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512],
                                       depths=[2, 2, 2, 2], layer_type="basic", num_labels=10)
    model = ImageModel(transformers.ResNetForImageClassification(config)).eval()
    layers = {op: [n.name for n in caffe.graph if n.op == op]
              for op in ("Convolution", "BatchNorm", "Scale", "InnerProduct")}
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    linear = next(m for m in model.modules() if isinstance(m, nn.Linear))
    assert len(convs) == len(layers["Convolution"]) and len(norms) == len(layers["BatchNorm"])
    with torch.no_grad():
        for conv, name in zip(convs, layers["Convolution"]):
            conv.weight.copy_(torch.from_numpy(caffe.parameters(name)["weight"]))
        for norm, stats, affine in zip(norms, layers["BatchNorm"], layers["Scale"]):
            found = {**caffe.parameters(stats), **caffe.parameters(affine)}
            norm.running_mean.copy_(torch.from_numpy(found["mean"]))
            norm.running_var.copy_(torch.from_numpy(found["var"]))
            norm.weight.copy_(torch.from_numpy(found["gamma"]))
            norm.bias.copy_(torch.from_numpy(found["beta"]))
        dense = caffe.parameters(layers["InnerProduct"][0])
        linear.weight.copy_(torch.from_numpy(dense["weight"]))
        linear.bias.copy_(torch.from_numpy(dense["bias"]))
    return model

"""Real torch architectures from ``transformers`` configs, with seeded random weights.

Nothing is downloaded: every model is built from a config (``HF_HUB_OFFLINE=1``, never
``from_pretrained``). BatchNorm layers get seeded random affine parameters and running
statistics measured on a calibration batch and then perturbed, so each channel has its
own mean and variance (eps and folds matter) while activations keep a sane scale.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

SEED = 0
SEQUENCE = {"small": 16, "full": 128}
VOCAB = {"small": 100, "full": 30522}

_TEXT_SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
               "intermediate_size": 64, "vocab_size": VOCAB["small"],
               "max_position_embeddings": 64}


def _bert(size: str) -> Any:
    from transformers import BertConfig, BertModel

    config = BertConfig(**_TEXT_SMALL) if size == "small" else BertConfig()
    return BertModel(config, add_pooling_layer=False)


def _roberta(size: str) -> Any:
    """RoBERTa: BERT's layers, position ids counted from the non-padding tokens
    (``ne`` -> ``cumsum`` -> casts, which the dynamo exporter writes with a cast more)."""
    from transformers import RobertaConfig, RobertaModel

    config = RobertaConfig(**_TEXT_SMALL) if size == "small" else RobertaConfig(
        vocab_size=50265, max_position_embeddings=514)
    return RobertaModel(config, add_pooling_layer=False)


def _t5(size: str) -> Any:
    """T5's encoder: RMS LayerNorm spelled out (``pow -> mean -> add eps -> rsqrt``) on
    activations of unit scale, relative position biases, no attention scale. Eager
    attention: with SDPA the dynamo exporter fails on a view of the attention output."""
    from transformers import T5Config, T5EncoderModel

    if size == "small":
        config = T5Config(vocab_size=VOCAB["small"], d_model=32, d_kv=16, d_ff=64,
                          num_layers=2, num_heads=2, relative_attention_num_buckets=8,
                          relative_attention_max_distance=16)
    else:  # t5-small's encoder
        config = T5Config()
    config._attn_implementation = "eager"
    return T5EncoderModel(config)


def _gpt2(size: str) -> Any:
    from transformers import GPT2Config, GPT2Model

    if size == "small":
        config = GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=64,
                            vocab_size=VOCAB["small"])
    else:
        config = GPT2Config()
    return GPT2Model(config)


def _bloom(size: str) -> Any:
    """BLOOM: ALiBi position biases added through ``baddbmm`` (exported as MatMul, Mul and
    Add). Its GELU is an autograd Function, which tracing cannot record: the plain function
    it wraps stands in (the same arithmetic in eval)."""
    from transformers import BloomConfig, BloomModel
    from transformers.models.bloom import modeling_bloom

    if size == "small":
        config = BloomConfig(hidden_size=32, n_layer=2, n_head=4, vocab_size=VOCAB["small"])
    else:  # bloom-560m's layout at BERT-base's width
        config = BloomConfig(hidden_size=768, n_layer=12, n_head=12)
    model = BloomModel(config)
    for module in model.modules():
        if isinstance(module, modeling_bloom.BloomGelu):
            module.forward = modeling_bloom.bloom_gelu_forward
    return model


def _llama(size: str) -> Any:
    """LLaMA: RMSNorm (``rsqrt``), rotary embeddings (computed half slices), SwiGLU MLP,
    grouped-query attention (fewer key/value heads than query heads)."""
    from transformers import LlamaConfig, LlamaModel

    if size == "small":
        config = LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, intermediate_size=64,
                             vocab_size=VOCAB["small"], max_position_embeddings=64)
    else:  # a 12-layer, 768-wide LLaMA (BERT-base's size) with 4 key/value heads
        config = LlamaConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                             num_key_value_heads=4, intermediate_size=2048, vocab_size=32000,
                             max_position_embeddings=512)
    return LlamaModel(config)


def _seeded_layernorms(model: Any) -> Any:
    """``model`` with its LayerNorms' weights drawn around 1 and their biases (where they
    have one) around 0, seeded: transformers starts them at 1 and 0, where two norms of one
    input are the same op and an exporter may merge them."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.normal_(1.0, 0.2)
                if module.bias is not None:
                    module.bias.normal_(0.0, 0.2)
    return model


def _gpt_neox(size: str) -> Any:
    """GPT-NeoX: one fused qkv projection chunked per head, partial rotary embeddings
    (a quarter of each head rotated, the rest passed through), attention and MLP in
    parallel from two LayerNorms of the same input. The LayerNorms get seeded affine
    parameters, as a trained model's have: two at their initial 1 and 0 compute the same
    value, and the dynamo exporter merges them."""
    from transformers import GPTNeoXConfig, GPTNeoXModel

    if size == "small":
        config = GPTNeoXConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=64, vocab_size=VOCAB["small"],
                               max_position_embeddings=64, rotary_pct=0.25)
    else:  # pythia-160m's layout
        config = GPTNeoXConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                               intermediate_size=3072, vocab_size=50304)
    return _seeded_layernorms(GPTNeoXModel(config))


def _phi3(size: str) -> Any:
    """Phi-3: one fused qkv projection sliced into q, k and v, a fused gate/up projection
    chunked in two, RMSNorm, rotary embeddings over the whole head."""
    from transformers import Phi3Config, Phi3Model

    if size == "small":
        config = Phi3Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=4, intermediate_size=64,
                            vocab_size=VOCAB["small"], max_position_embeddings=64,
                            pad_token_id=0)
    else:  # a BERT-base-sized Phi-3
        config = Phi3Config(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                            intermediate_size=2048, vocab_size=32064)
    return Phi3Model(config)


def _codegen(size: str) -> Any:
    """CodeGen: GPT-J's layout (attention and MLP in parallel from one LayerNorm), one
    fused qkv projection laid out in four model-parallel shards, partial rotary embeddings
    rotating interleaved pairs (``x[..., ::2]``, ``x[..., 1::2]``, ``stack``, ``flatten``)."""
    from transformers import CodeGenConfig, CodeGenModel

    if size == "small":
        config = CodeGenConfig(n_embd=32, n_layer=2, n_head=4, rotary_dim=4, n_inner=64,
                               vocab_size=VOCAB["small"], n_positions=64)
    else:  # codegen-350M's layout at BERT-base's width
        config = CodeGenConfig(n_embd=768, n_layer=12, n_head=12, rotary_dim=32,
                               vocab_size=51200, n_positions=2048)
    return CodeGenModel(config)


def _gemma2(size: str) -> Any:
    """Gemma 2: attention scores soft-capped (``tanh(s / cap) * cap``), sliding-window and
    global layers alternating, RMSNorm with ``(1 + weight)`` before and after attention and
    MLP, embeddings scaled by ``sqrt(hidden)``, GeGLU MLP. Eager attention (transformers
    runs no SDPA for soft-capping). The norms get seeded weights (they start at 0)."""
    from transformers import Gemma2Config, Gemma2Model

    if size == "small":
        config = Gemma2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                              num_key_value_heads=2, head_dim=8, intermediate_size=64,
                              vocab_size=VOCAB["small"], max_position_embeddings=64,
                              sliding_window=8, attn_logit_softcapping=5.0, pad_token_id=0)
    else:  # gemma-2-2b's layout at BERT-base's width
        config = Gemma2Config(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                              num_key_value_heads=4, head_dim=64, intermediate_size=2048,
                              vocab_size=32000, max_position_embeddings=512, sliding_window=64)
    config._attn_implementation = "eager"
    model = Gemma2Model(config)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "norm" in name:
                weight.normal_(0.0, 0.2)
    return model


def _mpt(size: str) -> Any:
    """MPT: ALiBi position biases (a slope per head times the key offsets, added to the
    scores), no biases anywhere (LayerNorms without one), a GELU MLP."""
    from transformers import MptConfig, MptModel

    if size == "small":
        config = MptConfig(d_model=32, n_layers=2, n_heads=4, expansion_ratio=2,
                           max_seq_len=64, vocab_size=VOCAB["small"])
    else:  # mpt-7b's layout at BERT-base's width
        config = MptConfig(d_model=768, n_layers=12, n_heads=12, max_seq_len=512,
                           vocab_size=50432)
    return _seeded_layernorms(MptModel(config))


def _qwen2(size: str) -> Any:
    """Qwen2: LLaMA's layers with biases on the q, k and v projections (none on o),
    grouped-query attention, rotary embeddings with theta 1e6."""
    from transformers import Qwen2Config, Qwen2Model

    if size == "small":
        config = Qwen2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, intermediate_size=64,
                             vocab_size=VOCAB["small"], max_position_embeddings=64)
    else:  # Qwen2-0.5B's layout at BERT-base's width
        config = Qwen2Config(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                             num_key_value_heads=2, intermediate_size=2048,
                             vocab_size=32000, max_position_embeddings=512)
    return Qwen2Model(config)


def _mixtral(size: str) -> Any:
    """Mixtral: LLaMA's attention (sliding window off) and a sparse mixture-of-experts MLP,
    each token routed to its top-2 of the experts (softmax over the router's logits). The
    experts run batched (``experts_implementation="batched_mm"``: each token-expert pair
    gathers its expert's weights); the routing is fixed by the traced input."""
    from transformers import MixtralConfig, MixtralModel

    if size == "small":
        config = MixtralConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               num_key_value_heads=2, intermediate_size=64,
                               num_local_experts=4, num_experts_per_tok=2,
                               vocab_size=VOCAB["small"], max_position_embeddings=64)
    else:  # Mixtral's layout at BERT-base's width, 8 experts
        config = MixtralConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                               num_key_value_heads=4, intermediate_size=2048,
                               vocab_size=32000, max_position_embeddings=512)
    config._experts_implementation = "batched_mm"
    return MixtralModel(config)


def _falcon(size: str) -> Any:
    """Falcon: one fused qkv projection (multi-query: one key/value head), rotary
    embeddings, attention and MLP in parallel from one LayerNorm, no biases."""
    from transformers import FalconConfig, FalconModel

    if size == "small":
        config = FalconConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                              vocab_size=VOCAB["small"], max_position_embeddings=64)
    else:  # falcon-7b's layout at BERT-base's width
        config = FalconConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                              vocab_size=65024, max_position_embeddings=512)
    return _seeded_layernorms(FalconModel(config))


def _opt(size: str) -> Any:
    """OPT: learned positions counted from the mask (``cumsum``, offset 2), pre-LayerNorm
    layers, ReLU MLP."""
    from transformers import OPTConfig, OPTModel

    if size == "small":
        config = OPTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           ffn_dim=64, word_embed_proj_dim=32, vocab_size=VOCAB["small"],
                           max_position_embeddings=64)
    else:  # opt-125m
        config = OPTConfig()
    return OPTModel(config)


def _wav2vec2(size: str) -> Any:
    """Wav2Vec2: a Conv1d feature extractor (GroupNorm after the first), a grouped
    positional Conv1d under weight norm, then a BERT-like encoder; fed raw audio."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    if size == "small":
        config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, conv_dim=(16, 16, 16),
                                conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3),
                                num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                                feat_extract_norm="group", do_stable_layer_norm=False)
    else:  # wav2vec2-base
        config = Wav2Vec2Config()
    return Wav2Vec2Model(config)


def _vit(size: str) -> Any:
    from transformers import ViTConfig, ViTForImageClassification

    if size == "small":
        config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64, num_labels=10)
    else:
        config = ViTConfig(num_labels=1000)
    return ViTForImageClassification(config)


def _resnet(size: str) -> Any:
    from transformers import ResNetConfig, ResNetForImageClassification

    if size == "small":
        config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                              layer_type="basic", num_labels=10)
    else:  # ResNet-50
        config = ResNetConfig(num_labels=1000)
    return ResNetForImageClassification(config)


def _convnext(size: str) -> Any:
    from transformers import ConvNextConfig, ConvNextForImageClassification

    if size == "small":
        config = ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2,
                                num_labels=10)
    else:  # ConvNeXt-tiny
        config = ConvNextConfig(num_labels=1000)
    return ConvNextForImageClassification(config)


def _convnextv2(size: str) -> Any:
    """ConvNeXt V2: ConvNeXt with global response normalisation (an L2 norm over the map)."""
    from transformers import ConvNextV2Config, ConvNextV2ForImageClassification

    if size == "small":
        config = ConvNextV2Config(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2,
                                  num_labels=10)
    else:  # ConvNeXt V2-tiny
        config = ConvNextV2Config(num_labels=1000)
    return ConvNextV2ForImageClassification(config)


def _mobilevit(size: str) -> Any:
    """MobileViT: MobileNetV2 blocks and transformers over unfolded patches."""
    from transformers import MobileViTConfig, MobileViTForImageClassification

    if size == "small":
        config = MobileViTConfig(image_size=32, hidden_sizes=[16, 24, 32],
                                 neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 64],
                                 num_attention_heads=2, num_labels=10)
    else:  # MobileViT-small
        config = MobileViTConfig(num_labels=1000)
    return MobileViTForImageClassification(config)


def _mobilenet_v2(size: str) -> Any:
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    if size == "small":
        config = MobileNetV2Config(image_size=32, depth_multiplier=0.25, num_labels=10)
    else:
        config = MobileNetV2Config(num_labels=1000)
    return MobileNetV2ForImageClassification(config)


def _efficientnet(size: str) -> Any:
    from transformers import EfficientNetConfig, EfficientNetForImageClassification

    if size == "small":
        config = EfficientNetConfig(image_size=32, width_coefficient=0.1, depth_coefficient=0.2,
                                    hidden_dim=128, num_labels=10)  # top conv: 1280 x 0.1
    else:  # EfficientNet-B0
        config = EfficientNetConfig(num_labels=1000)
    return EfficientNetForImageClassification(config)


def _swin(size: str) -> Any:
    from transformers import SwinConfig, SwinForImageClassification

    if size == "small":
        config = SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1],
                            num_heads=[1, 2], window_size=4, num_labels=10)
    else:  # Swin-tiny
        config = SwinConfig(num_labels=1000)
    # Eager attention: with SDPA the dynamo exporter's decomposition fails (a view of the
    # transposed attention output, "Cannot view a tensor with shape [1, 16, 2, 16]").
    config._attn_implementation = "eager"
    return SwinForImageClassification(config)


def _segformer(size: str) -> Any:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    if size == "small":
        config = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                                 hidden_sizes=[8, 16], num_attention_heads=[1, 2],
                                 decoder_hidden_size=16, num_labels=4, patch_sizes=[7, 3],
                                 strides=[4, 2])
    else:  # SegFormer-B0
        config = SegformerConfig(num_labels=150)
    return SegformerForSemanticSegmentation(config)


def _poolformer(size: str) -> Any:
    from transformers import PoolFormerConfig, PoolFormerForImageClassification

    if size == "small":
        config = PoolFormerConfig(hidden_sizes=[8, 16], depths=[1, 1], num_encoder_blocks=2,
                                  patch_sizes=[7, 3], strides=[4, 2], padding=[2, 1],
                                  num_labels=10)
    else:  # PoolFormer-S12
        config = PoolFormerConfig(num_labels=1000)
    return PoolFormerForImageClassification(config)


def _levit(size: str) -> Any:
    """LeViT: q, k and v split from one projection (k's two transposes exported as one),
    attention biases, BatchNorm after every linear layer, a subsampling attention block."""
    from transformers import LevitConfig, LevitForImageClassification

    if size == "small":  # 64 px: four stride-2 convs leave a 4x4 grid, subsampled to 2x2
        config = LevitConfig(image_size=64, hidden_sizes=[32, 48], num_attention_heads=[2, 2],
                             depths=[1, 1], key_dim=[8, 8], drop_path_rate=0,
                             mlp_ratio=[2, 2], attention_ratio=[2, 2],
                             down_ops=[["Subsample", 8, 32 // 8, 4, 2, 2]], num_labels=10)
    else:  # LeViT-128S
        config = LevitConfig(num_labels=1000)
    model = LevitForImageClassification(config)
    with torch.no_grad():  # transformers starts the attention biases at 0: give them values
        for name, bias in model.named_parameters():
            if name.endswith("attention_biases"):
                bias.normal_(0.0, 0.5)
    return model


# name -> (builder, input kind)
BUILDERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "bert": (_bert, "tokens"),
    "roberta": (_roberta, "tokens"),
    "t5": (_t5, "tokens"),
    "gpt2": (_gpt2, "tokens"),
    "llama": (_llama, "tokens"),
    "bloom": (_bloom, "tokens"),
    "gpt_neox": (_gpt_neox, "tokens"),
    "phi3": (_phi3, "tokens"),
    "codegen": (_codegen, "tokens"),
    "gemma2": (_gemma2, "tokens"),
    "mpt": (_mpt, "tokens"),
    "qwen2": (_qwen2, "tokens"),
    "mixtral": (_mixtral, "tokens"),
    "falcon": (_falcon, "tokens"),
    "opt": (_opt, "tokens"),
    "wav2vec2": (_wav2vec2, "audio"),
    "vit": (_vit, "image"),
    "resnet": (_resnet, "image"),
    "convnext": (_convnext, "image"),
    "convnextv2": (_convnextv2, "image"),
    "mobilevit": (_mobilevit, "image"),
    "mobilenet_v2": (_mobilenet_v2, "image"),
    "efficientnet": (_efficientnet, "image"),
    "swin": (_swin, "image"),
    "segformer": (_segformer, "image"),
    "poolformer": (_poolformer, "image"),
    "levit": (_levit, "image"),
}


class TextModel(torch.nn.Module):
    """``(input_ids, attention_mask) -> last_hidden_state`` of a transformers text model."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          use_cache=False).last_hidden_state


class AudioModel(torch.nn.Module):
    """``input_values -> last_hidden_state`` of a transformers speech encoder."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        return self.model(input_values=input_values).last_hidden_state


class ImageModel(torch.nn.Module):
    """``pixel_values -> logits`` of a transformers image classifier (or segmenter: SegFormer's
    logits are a 1/4-resolution map)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


def build(name: str, size: str = "small") -> torch.nn.Module:
    """The model ``name`` at ``size``, seeded weights, BatchNorm statistics randomised, eval."""
    builder, kind = BUILDERS[name]
    torch.manual_seed(SEED)
    inner = builder(size)
    if kind == "tokens":
        inner.config.use_cache = False
    model = {"tokens": TextModel, "audio": AudioModel, "image": ImageModel}[kind](inner)
    if kind == "image":
        from . import image_size

        _randomise_batchnorm(model, image_size(name, size))
    return model.eval()


def _randomise_batchnorm(model: torch.nn.Module, image_size: int) -> None:
    """Seeded gamma/beta, then running stats from a calibration batch, perturbed per channel."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    generator = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for norm in norms:
            channels = norm.num_features
            norm.weight.copy_(0.5 + torch.rand(channels, generator=generator))
            norm.bias.copy_(0.2 * torch.randn(channels, generator=generator))
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average: the calibration batch's statistics
        model.train()
        model(torch.randn(4, 3, image_size, image_size, generator=generator))
        model.eval()
        for norm in norms:
            channels = norm.num_features
            std = norm.running_var.sqrt()
            norm.running_mean.add_(0.1 * std * torch.randn(channels, generator=generator))
            norm.running_var.mul_(0.5 + 1.5 * torch.rand(channels, generator=generator))
            norm.momentum = 0.1


class AdditiveMaskText(torch.nn.Module):
    """``(input_ids, attention_mask) -> last_hidden_state`` with the attention mask added
    the way older BERT/GPT-2 code and many converters build it, ``(1 - mask) * fill``
    with an ordinary large ``fill`` (-1e4), not ``finfo.min``; the model needs eager
    attention, which adds a 4-D float mask as it is."""

    def __init__(self, model: torch.nn.Module, fill: float = -1e4) -> None:
        super().__init__()
        self.model = model
        self.fill = fill

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        additive = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * self.fill
        return self.model(input_ids=input_ids, attention_mask=additive).last_hidden_state


def bert_additive_mask(size: str = "small", fill: float = -1e4) -> AdditiveMaskText:
    """The corpus BERT (same seed and config) with eager attention and an additive mask
    of ``fill`` (:class:`AdditiveMaskText`), eval."""
    torch.manual_seed(SEED)
    inner = _bert(size)
    inner.config._attn_implementation = "eager"
    return AdditiveMaskText(inner, fill).eval()

"""BERT-base (12 layers, d=768, 128 tokens) from its transformers config, seeded random
weights, no download; ``build()`` returns the encoder with ``input_ids`` in, the last hidden
state out. ``QUICK`` is a 2-layer, d=128 one for the quick benchmark mode.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

SEQUENCE = 128
SEED = 0
QUICK = {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2,
         "intermediate_size": 512}


class Encoder(nn.Module):
    """``BertModel`` without its pooler, called on token ids only."""

    def __init__(self, **config: Any) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel

        torch.manual_seed(SEED)
        self.bert = BertModel(BertConfig(**config), add_pooling_layer=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.bert(input_ids=input_ids).last_hidden_state


def build(quick: bool = False) -> nn.Module:
    return Encoder(**(QUICK if quick else {})).eval()


def token_ids(batch: int = 1) -> torch.Tensor:
    return torch.randint(0, 30000, (batch, SEQUENCE), generator=torch.Generator().manual_seed(SEED))

"""BLIP-2's Q-Former, query branch only (checkpoint prefix ``Qformer.``; ``query_tokens`` is the caller's).

MIGE builds LAVIS's ``BertLMHeadModel`` Q-Former and then deletes its text parts (``cls``, the word and
position embeddings, and every layer's text feed-forward ``intermediate``/``output``): only the 32 learned
queries pass through it. The attribute names below follow LAVIS ``lavis/models/blip2_models/Qformer.py``,
so ``QFormer(...).state_dict()`` has exactly the released keys with the ``Qformer.`` prefix removed:

    bert.embeddings.LayerNorm.{weight,bias}
    bert.encoder.layer.N.attention.self.{query,key,value}.{weight,bias}
    bert.encoder.layer.N.attention.output.{dense,LayerNorm}.{weight,bias}
    bert.encoder.layer.N.crossattention.self.{query,key,value}.{weight,bias}       (N % freq == 0)
    bert.encoder.layer.N.crossattention.output.{dense,LayerNorm}.{weight,bias}     (N % freq == 0)
    bert.encoder.layer.N.intermediate_query.dense.{weight,bias}
    bert.encoder.layer.N.output_query.{dense,LayerNorm}.{weight,bias}

The LAVIS embeddings register ``position_ids`` as a persistent buffer that survives the deletion of the
position embeddings, so the checkpoint carries it although nothing reads it: see :data:`UNUSED_KEYS`.

Per layer, with all attention masks full (queries and image tokens are never padded):
    h = LN(x + W_o·SelfAttn(x));  h = LN(h + W_o'·CrossAttn(h, image)) on cross layers;
    out = LN(h + W_2·GELU(W_1·h)),  GELU exact (erf), every LN with eps ``config.eps`` (BERT's 1e-12).
The input goes through ``bert.embeddings.LayerNorm`` first (the query tokens are not normalised before).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import QFormerConfig
from .shapes import require_tokens

#: Keys of the released ``Qformer.*`` weights that this module knowingly does not use.
UNUSED_KEYS: tuple[str, ...] = ("bert.embeddings.position_ids",)


class MultiHeadAttention(nn.Module):
    """BERT attention scores: softmax(q·kᵀ/√d_head)·v, with keys and values from ``context``."""

    def __init__(self, config: QFormerConfig, context_width: int) -> None:
        super().__init__()
        self.heads = config.heads
        self.query = nn.Linear(config.hidden, config.hidden)
        self.key = nn.Linear(context_width, config.hidden)
        self.value = nn.Linear(context_width, config.hidden)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        def split_heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(t.shape[0], t.shape[1], self.heads, -1).transpose(1, 2)

        q, k, v = split_heads(self.query(x)), split_heads(self.key(context)), split_heads(self.value(context))
        attended = F.scaled_dot_product_attention(q, k, v)
        return attended.transpose(1, 2).reshape(x.shape)


class ResidualOutput(nn.Module):
    """LN(x + dense(update)): BERT's post-norm residual (``BertSelfOutput`` / ``BertOutput``)."""

    def __init__(self, config: QFormerConfig, update_width: int) -> None:
        super().__init__()
        self.dense = nn.Linear(update_width, config.hidden)
        self.LayerNorm = nn.LayerNorm(config.hidden, eps=config.eps)

    def forward(self, update: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(x + self.dense(update))


class Attention(nn.Module):
    """Attention followed by its residual output; ``self`` is LAVIS's name for the attention part."""

    def __init__(self, config: QFormerConfig, context_width: int) -> None:
        super().__init__()
        self.self = MultiHeadAttention(config, context_width)
        self.output = ResidualOutput(config, config.hidden)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, context), x)


class Intermediate(nn.Module):
    """GELU(dense(x)), exact GELU (BERT's ``hidden_act="gelu"``)."""

    def __init__(self, config: QFormerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden, config.intermediate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class QFormerLayer(nn.Module):
    """Self-attention among the queries, cross-attention to the image on every ``freq``-th layer, query MLP."""

    def __init__(self, config: QFormerConfig, index: int, encoder_width: int) -> None:
        super().__init__()
        self.attention = Attention(config, config.hidden)
        self.has_cross_attention = index % config.cross_attention_freq == 0
        if self.has_cross_attention:
            self.crossattention = Attention(config, encoder_width)
        self.intermediate_query = Intermediate(config)
        self.output_query = ResidualOutput(config, config.intermediate)

    def forward(self, queries: torch.Tensor, image_embeds: torch.Tensor) -> torch.Tensor:
        h = self.attention(queries, queries)
        if self.has_cross_attention:
            h = self.crossattention(h, image_embeds)
        return self.output_query(self.intermediate_query(h), h)


class QueryEmbeddings(nn.Module):
    """What is left of BERT's embeddings once the word and position tables are removed: one LayerNorm."""

    def __init__(self, config: QFormerConfig) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(config.hidden, eps=config.eps)

    def forward(self, query_embeds: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(query_embeds)


class QFormerEncoder(nn.Module):
    def __init__(self, config: QFormerConfig, encoder_width: int) -> None:
        super().__init__()
        self.layer = nn.ModuleList(QFormerLayer(config, n, encoder_width) for n in range(config.layers))

    def forward(self, queries: torch.Tensor, image_embeds: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            queries = layer(queries, image_embeds)
        return queries


class QFormerBert(nn.Module):
    """The ``bert`` submodule: query embeddings (LayerNorm only) then the layer stack."""

    def __init__(self, config: QFormerConfig, encoder_width: int) -> None:
        super().__init__()
        self.embeddings = QueryEmbeddings(config)
        self.encoder = QFormerEncoder(config, encoder_width)

    def forward(self, query_embeds: torch.Tensor, image_embeds: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embeddings(query_embeds), image_embeds)


class QFormer(nn.Module):
    """Query branch of BLIP-2's Q-Former: queries B×Q×hidden read image tokens B×T×encoder_width.

    ``encoder_width`` is the image encoder's width (1408 for EVA ViT-g); the caller expands the learned
    ``query_tokens`` (1×Q×hidden) to the batch and passes ``ln_vision``-normalised image tokens.
    """

    def __init__(self, config: QFormerConfig, *, encoder_width: int) -> None:
        super().__init__()
        if config.hidden % config.heads:
            raise ValueError(f"Q-Former hidden size {config.hidden} is not divisible by its {config.heads} heads")
        if config.cross_attention_freq < 1:
            raise ValueError(f"Q-Former cross_attention_freq must be at least 1, got {config.cross_attention_freq}")
        self.config = config
        self.encoder_width = encoder_width
        self.bert = QFormerBert(config, encoder_width)

    def forward(self, query_embeds: torch.Tensor, image_embeds: torch.Tensor) -> torch.Tensor:
        require_tokens(
            query_embeds,
            self.config.hidden,
            name="Q-Former query_embeds",
            axis="queries",
            hint="expand the learned query_tokens to the batch",
        )
        require_tokens(
            image_embeds,
            self.encoder_width,
            name="Q-Former image_embeds",
            axis="tokens",
            hint="pass the image encoder's tokens after ln_vision",
        )
        if query_embeds.shape[0] != image_embeds.shape[0]:
            raise ValueError(
                f"Q-Former got {query_embeds.shape[0]} query sets for {image_embeds.shape[0]} images; "
                "expand query_tokens to one set per image"
            )
        return self.bert(query_embeds, image_embeds)

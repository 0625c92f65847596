"""BERT with elementwise (byte-concatenation) or subword material embeddings.

Read top to bottom: embeddings -> self-attention -> encoder layer (post-LN, as BERT) -> encoder
-> heads (masked-material modelling, multilabel) -> the model that ties them together.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import EEmbedConfig


@dataclass
class EncoderOutput:
    last_hidden_state: torch.Tensor              # (B, L, w)
    hidden_states: tuple[torch.Tensor, ...]      # embeddings output + one per layer
    attentions: tuple[torch.Tensor, ...]         # one per layer, (B, h, L, L), rows sum to 1


@dataclass
class MaskedMaterialOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor    # elementwise (B, L, v, 256), subword (B, L, vocab); only masked rows (M, ...) when targets given
    encoder: EncoderOutput


@dataclass
class MultilabelOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor                         # (B, num_labels); sigmoid gives probabilities
    encoder: EncoderOutput


class ElementwiseEmbedding(nn.Module):
    """A material is the concatenation of its v byte embeddings: (B, L, v) bytes -> (B, L, v*c)."""

    def __init__(self, v: int, c: int):
        super().__init__()
        self.v, self.c = v, c
        self.elements = nn.Embedding(256, c)

    def forward(self, byte_grid: torch.Tensor) -> torch.Tensor:
        if byte_grid.shape[-1] != self.v:
            raise ValueError(f"byte grid rows must have v={self.v} bytes, got {byte_grid.shape[-1]}")
        return self.elements(byte_grid.long()).flatten(-2)


class SubwordEmbedding(nn.Module):
    """The usual lookup table: (B, L) ids -> (B, L, w)."""

    def __init__(self, vocab_size: int, width: int, pad_id: int = 0):
        super().__init__()
        self.table = nn.Embedding(vocab_size, width, padding_idx=pad_id)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table(ids.long())


class SliceNorm(nn.Module):
    """LayerNorm over each c-wide byte slice on its own (affine over the full width).

    The aligned variant needs it: a LayerNorm over the whole width would let byte m change the
    mean and variance that normalise slice n, so head n would read every byte after all.
    Parameters are named as nn.LayerNorm's.
    """

    def __init__(self, v: int, c: int, eps: float):
        super().__init__()
        self.v, self.c, self.eps = v, c, eps
        self.weight = nn.Parameter(torch.ones(v * c))
        self.bias = nn.Parameter(torch.zeros(v * c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slices = F.layer_norm(x.view(*x.shape[:-1], self.v, self.c), (self.c,), eps=self.eps)
        return slices.flatten(-2) * self.weight + self.bias


class Embeddings(nn.Module):
    """Material embedding + learned absolute positions, then LayerNorm and dropout (as BERT)."""

    def __init__(self, config: EEmbedConfig):
        super().__init__()
        if config.embedding == "elementwise":
            self.materials: nn.Module = ElementwiseEmbedding(config.v, config.c)
        else:
            self.materials = SubwordEmbedding(config.vocab_size, config.width, config.pad_id)
        self.positions = nn.Embedding(config.max_len, config.width)
        self.norm: nn.Module = SliceNorm(config.v, config.c, config.layer_norm_eps) if config.aligned \
            else nn.LayerNorm(config.width, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        length = inputs.shape[1]
        positions = torch.arange(length, device=inputs.device)
        x = self.materials(inputs) + self.positions(positions)[None]
        return self.dropout(self.norm(x))


def block_diagonal_mask(heads: int, head_dim: int) -> torch.Tensor:
    """(3w, w) mask of a fused Q/K/V weight: output rows of head n keep only input slice n."""
    block = torch.block_diag(*[torch.ones(head_dim, head_dim)] * heads)
    return block.repeat(3, 1)


class SelfAttention(nn.Module):
    """Multi-head self-attention that also returns its probabilities (for the attention viewer).

    block_diagonal=True makes head n's query, key and value projections read only slice n of the
    input (the aligned variant's first layer); the masked weights stay zero and get no gradient.
    """

    def __init__(self, config: EEmbedConfig, block_diagonal: bool = False):
        super().__init__()
        self.heads, self.head_dim = config.heads, config.width // config.heads
        self.qkv = nn.Linear(config.width, 3 * config.width)
        self.out = nn.Linear(config.width, config.width)
        self.attn_dropout = nn.Dropout(config.attention_dropout)
        # Not persistent: it follows from the config, so checkpoints hold only real weights.
        self.register_buffer("qkv_mask", block_diagonal_mask(self.heads, self.head_dim) if block_diagonal else None,
                             persistent=False)

    def qkv_weight(self) -> torch.Tensor:
        """The (3w, w) Q/K/V weight as applied (masked in the aligned first layer)."""
        return self.qkv.weight if self.qkv_mask is None else self.qkv.weight * self.qkv_mask

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, length, width = x.shape
        q, k, v = F.linear(x, self.qkv_weight(), self.qkv.bias).split(width, dim=-1)
        # (B, L, w) -> (B, h, L, d): with w = v*c and h = v, d = c, so head n sees slice n of w,
        # which in the embedding layer is exactly the n-th byte's element vector.
        q, k, v = (t.view(b, length, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(~key_mask[:, None, None, :], torch.finfo(scores.dtype).min)
        probs = scores.softmax(dim=-1)
        context = self.attn_dropout(probs) @ v
        context = context.transpose(1, 2).reshape(b, length, width)
        return self.out(context), probs


class EncoderLayer(nn.Module):
    """Post-LN transformer block, as in the original BERT."""

    def __init__(self, config: EEmbedConfig, block_diagonal: bool = False):
        super().__init__()
        self.attention = SelfAttention(config, block_diagonal)
        self.attn_norm = nn.LayerNorm(config.width, eps=config.layer_norm_eps)
        self.ff = nn.Sequential(
            nn.Linear(config.width, config.intermediate_mult * config.width),
            nn.GELU(),
            nn.Linear(config.intermediate_mult * config.width, config.width),
        )
        self.ff_norm = nn.LayerNorm(config.width, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, probs = self.attention(x, key_mask)
        x = self.attn_norm(x + self.dropout(attended))
        x = self.ff_norm(x + self.dropout(self.ff(x)))
        return x, probs


class Encoder(nn.Module):
    def __init__(self, config: EEmbedConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        # ALBERT-style sharing keeps one layer and applies it `layers` times.
        n_distinct = 1 if config.share_layers else config.layers
        self.layers = nn.ModuleList(EncoderLayer(config, block_diagonal=config.aligned and i == 0)
                                    for i in range(n_distinct))

    def forward(self, inputs: torch.Tensor, attention_mask: torch.Tensor | None = None) -> EncoderOutput:
        if attention_mask is None:
            attention_mask = torch.ones(inputs.shape[:2], dtype=torch.bool, device=inputs.device)
        key_mask = attention_mask.bool()
        x = self.embeddings(inputs)
        hidden, attentions = [x], []
        for i in range(self.config.layers):
            layer = self.layers[0 if self.config.share_layers else i]
            x, probs = layer(x, key_mask)
            hidden.append(x)
            attentions.append(probs)
        return EncoderOutput(last_hidden_state=x, hidden_states=tuple(hidden), attentions=tuple(attentions))


class MaskedMaterialHead(nn.Module):
    """Predicts masked materials with output weights tied to the input table.

    Elementwise: project the hidden state to v*c, split into v chunks and score each chunk against
    the 256 x c element table -> logits for every byte position. Subword: score against the
    vocab x w table, as BERT does.
    """

    def __init__(self, config: EEmbedConfig, embedding: nn.Module):
        super().__init__()
        self.config = config
        self.embedding = embedding  # shared module, not a copy: the tie is real
        self.transform = nn.Sequential(
            nn.Linear(config.width, config.width), nn.GELU(),
            nn.LayerNorm(config.width, eps=config.layer_norm_eps),
        )
        if config.embedding == "elementwise":
            self.bias = nn.Parameter(torch.zeros(config.v, 256))
        else:
            self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        h = self.transform(hidden)
        if self.config.embedding == "elementwise":
            chunks = h.view(*h.shape[:-1], self.config.v, self.config.c)        # (B, L, v, c)
            return chunks @ self.embedding.elements.weight.t() + self.bias      # (B, L, v, 256)
        return h @ self.embedding.table.weight.t() + self.bias                   # (B, L, vocab)


class MultilabelHead(nn.Module):
    """[CLS] (or the mean of the real materials) -> pooler (dense + tanh, as BERT) -> dropout ->
    one logit per label."""

    def __init__(self, config: EEmbedConfig):
        super().__init__()
        self.pooling = config.pooling
        self.pooler = nn.Sequential(nn.Linear(config.width, config.width), nn.Tanh())
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.width, config.num_labels)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.pooling == "mean" and attention_mask is not None:
            weights = attention_mask.float().unsqueeze(-1)
            summary = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        else:
            summary = hidden[:, 0]
        return self.classifier(self.dropout(self.pooler(summary)))

    def init_from_priors(self, label_share: torch.Tensor) -> None:
        """Start each label's bias at its training log-odds, so early steps learn text evidence
        rather than the label frequencies (helps many rare labels)."""
        share = label_share.clamp(1e-4, 1 - 1e-4)
        with torch.no_grad():
            self.classifier.bias.copy_(torch.log(share / (1 - share)))


class EEmbedModel(nn.Module):
    """Encoder + masked-material head (always) + multilabel head (when num_labels > 0)."""

    def __init__(self, config: EEmbedConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.mlm_head = MaskedMaterialHead(config, self.encoder.embeddings.materials)
        self.multilabel_head = MultilabelHead(config) if config.num_labels > 0 else None
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, (nn.LayerNorm, SliceNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        if isinstance(module, SelfAttention) and module.qkv_mask is not None:
            with torch.no_grad():
                module.qkv.weight.mul_(module.qkv_mask)

    def forward(self, inputs: torch.Tensor, attention_mask: torch.Tensor | None = None) -> EncoderOutput:
        return self.encoder(inputs, attention_mask)

    def masked_materials(self, inputs: torch.Tensor, attention_mask: torch.Tensor,
                         targets: torch.Tensor | None = None, target_mask: torch.Tensor | None = None
                         ) -> MaskedMaterialOutput:
        """targets: original bytes (B, L, v) or ids (B, L); target_mask: (B, L) True where masked."""
        enc = self.encoder(inputs, attention_mask)
        loss = None
        if targets is None:
            logits = self.mlm_head(enc.last_hidden_state)
        else:
            if target_mask is None:
                raise ValueError("masked_materials needs target_mask together with targets")
            # Score only the masked positions: the output table is large for subword models.
            logits = self.mlm_head(enc.last_hidden_state[target_mask])  # (M, v, 256) or (M, vocab)
            wanted = targets[target_mask].long()                         # (M, v) or (M,)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), wanted.reshape(-1)) \
                if logits.numel() else enc.last_hidden_state.sum() * 0.0
        return MaskedMaterialOutput(loss=loss, logits=logits, encoder=enc)

    def multilabel(self, inputs: torch.Tensor, attention_mask: torch.Tensor,
                   labels: torch.Tensor | None = None, pos_weight: torch.Tensor | None = None) -> MultilabelOutput:
        """pos_weight (num_labels,): weight of each label's positive term (the balanced loss)."""
        if self.multilabel_head is None:
            raise ValueError("this model has no multilabel head (config.num_labels is 0)")
        enc = self.encoder(inputs, attention_mask)
        logits = self.multilabel_head(enc.last_hidden_state, attention_mask)
        loss = F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=pos_weight) \
            if labels is not None else None
        return MultilabelOutput(loss=loss, logits=logits, encoder=enc)


def parameter_counts(model: EEmbedModel) -> dict[str, float]:
    """Embedding (material table) vs everything; the headline figure of elementwise embedding."""
    total = sum(p.numel() for p in model.parameters())
    table = sum(p.numel() for p in model.encoder.embeddings.materials.parameters())
    positions = model.encoder.embeddings.positions.weight.numel()
    encoder = sum(p.numel() for p in model.encoder.parameters())
    return {
        "material_table": table,
        "position_table": positions,
        "encoder_total": encoder,
        "model_total": total,
        "material_table_share_of_encoder": table / encoder,
    }


def format_parameter_counts(name: str, counts: dict[str, float]) -> str:
    return (f"{name}: material table {counts['material_table']:,} of {counts['encoder_total']:,} encoder "
            f"parameters ({100 * counts['material_table_share_of_encoder']:.1f} %), "
            f"{counts['model_total']:,} with heads")

"""Elementwise embedding in unmodified Hugging Face `transformers` encoders (BERT, ALBERT, CANINE).

The encoder is the library's own class, built from a config (random initialisation, trained
here). Elementwise embedding enters where the word-embedding table sits:

* BERT, ALBERT: the embeddings' `word_embeddings` module is replaced (`set_input_embeddings`) by
  ElementwiseEmbedding, and its output goes in through the library's documented entry for custom
  embeddings, `inputs_embeds`; positions, token types, LayerNorm and every layer are the library's.
* CANINE: its character embedding is a concatenation of K hash-bucket shards of the code point;
  elementwise embedding replaces it with the concatenation of the character's v UTF-8 byte
  elements (v = 4 fits every character), given as `inputs_embeds`; the unused hash tables are
  removed. The baseline is CANINE with its own hash embedding (code points as input ids).

The library classes' forward methods are not overridden. The aligned variant's first-layer mask is
a weight parametrization of BERT's query/key/value Linear layers (torch.nn.utils.parametrize) and
its embedding LayerNorm a per-slice norm module put in the library's LayerNorm slot.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize

from .config import EEmbedConfig

CANINE_HASH_BUCKETS = 16384   # CanineConfig's default number of buckets per hash function
CANINE_HASH_FUNCTIONS = 8     # CanineConfig's default number of hash functions
CANINE_DOWNSAMPLING = 4       # CanineConfig's default: 4 characters per deep-stack position


@dataclass
class EncoderOutput:
    last_hidden_state: torch.Tensor                   # (B, L, w)
    hidden_states: tuple[torch.Tensor, ...] | None    # embeddings output + one per layer (when asked)
    attentions: tuple[torch.Tensor, ...] | None       # one per layer, (B, h, L, L), rows sum to 1 (when asked)


@dataclass
class MaskedMaterialOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor    # bytes (B, L, v, 256), subword (B, L, vocab); only masked rows (M, ...) when targets given
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
        if byte_grid.dim() != 3 or byte_grid.shape[-1] != self.v:
            raise ValueError(f"byte grid must be (B, L, v={self.v}), got {tuple(byte_grid.shape)}")
        return self.elements(byte_grid.long()).flatten(-2)


class SliceNorm(nn.Module):
    """LayerNorm over each c-wide byte slice on its own (affine over the full width).

    The aligned variant needs it in the embeddings' LayerNorm slot: a LayerNorm over the whole
    width would let byte m change the mean and variance that normalise slice n, so head n would
    read every byte after all. Parameters are named as nn.LayerNorm's.
    """

    def __init__(self, v: int, c: int, eps: float):
        super().__init__()
        self.v, self.c, self.eps = v, c, eps
        self.weight = nn.Parameter(torch.ones(v * c))
        self.bias = nn.Parameter(torch.zeros(v * c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slices = F.layer_norm(x.view(*x.shape[:-1], self.v, self.c), (self.c,), eps=self.eps)
        return slices.flatten(-2) * self.weight + self.bias


def block_diagonal_mask(heads: int, head_dim: int) -> torch.Tensor:
    """(w, w) mask of one projection: output rows of head n keep only input slice n."""
    return torch.block_diag(*[torch.ones(head_dim, head_dim)] * heads)


class BlockDiagonal(nn.Module):
    """Weight parametrization: the stored weight times a fixed block-diagonal mask. The masked
    entries contribute nothing and get zero gradient; the Linear layer's forward is untouched."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


# ------------------------------------------------------------------ the library encoders

def library_config(config: EEmbedConfig):
    """The transformers config of the encoder (eager attention, so attention weights can be read)."""
    from transformers import AlbertConfig, BertConfig, CanineConfig

    common = dict(hidden_size=config.width, num_hidden_layers=config.layers, num_attention_heads=config.heads,
                  intermediate_size=config.intermediate_mult * config.width, hidden_act="gelu",
                  hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.attention_dropout,
                  max_position_embeddings=config.max_len, type_vocab_size=1, layer_norm_eps=config.layer_norm_eps,
                  initializer_range=config.initializer_range)
    if config.encoder == "canine":
        # Elementwise needs no hash tables; CANINE sizes its character-position table by
        # num_hash_buckets, so that number is the position count there.
        buckets = CANINE_HASH_BUCKETS if config.embedding == "hash" else config.max_len
        library = CanineConfig(**common, num_hash_functions=CANINE_HASH_FUNCTIONS, num_hash_buckets=buckets,
                               downsampling_rate=CANINE_DOWNSAMPLING, upsampling_kernel_size=CANINE_DOWNSAMPLING,
                               local_transformer_stride=128, pad_token_id=0, bos_token_id=0xE000,
                               eos_token_id=0xE001)
    else:
        vocab = config.vocab_size if config.embedding == "subword" else 1  # elementwise: replaced below
        # No begin/end-of-sequence ids: [CLS] and [SEP] are the materials' own business here.
        common.update(vocab_size=vocab, pad_token_id=config.pad_id, bos_token_id=None, eos_token_id=None)
        if config.encoder == "albert":
            # One shared layer applied `layers` times; embedding size = w on both sides, so the
            # comparison with BERT changes only the sharing.
            library = AlbertConfig(**common, embedding_size=config.width, num_hidden_groups=1, inner_group_num=1,
                                   classifier_dropout_prob=config.dropout)
        else:
            library = BertConfig(**common)
    library._attn_implementation = "eager"
    return library


def build_encoder(config: EEmbedConfig) -> nn.Module:
    """A transformers BertModel, AlbertModel or CanineModel with the material table in place."""
    from transformers import AlbertModel, BertModel, CanineModel

    library = library_config(config)
    if config.encoder == "canine":
        encoder = CanineModel(library, add_pooling_layer=False)
        if config.embedding == "elementwise":
            for i in range(library.num_hash_functions):
                delattr(encoder.char_embeddings, f"HashBucketCodepointEmbedder_{i}")
        return encoder
    encoder = (AlbertModel if config.encoder == "albert" else BertModel)(library, add_pooling_layer=False)
    if config.embedding == "elementwise":
        encoder.set_input_embeddings(ElementwiseEmbedding(config.v, config.c))
    if config.aligned:
        encoder.embeddings.LayerNorm = SliceNorm(config.v, config.c, config.layer_norm_eps)
        mask = block_diagonal_mask(config.heads, config.width // config.heads)
        attention = encoder.encoder.layer[0].attention.self
        for projection in (attention.query, attention.key, attention.value):
            with torch.no_grad():
                projection.weight.mul_(mask)
            parametrize.register_parametrization(projection, "weight", BlockDiagonal(mask))
    return encoder


def attention_layers(model: EEmbedModel) -> list[nn.Module]:
    """The self-attention module applied at each layer (ALBERT: the shared one, once per layer;
    CANINE: its deep stack), each with query/key/value Linear layers."""
    encoder, config = model.encoder, model.config
    if config.encoder == "albert":
        shared = encoder.encoder.albert_layer_groups[0].albert_layers[0].attention
        return [shared] * config.layers
    if config.encoder == "canine":
        return [layer.attention.self for layer in encoder.encoder.layer]
    return [layer.attention.self for layer in encoder.encoder.layer]


# ------------------------------------------------------------------ heads

class MaskedMaterialHead(nn.Module):
    """Predicts masked materials with output weights tied to the input table.

    Bytes (elementwise, and CANINE's hash model, whose input table has no bytes and so gets an
    output table of its own): project the hidden state to v*c, split into v chunks and score each
    chunk against a 256 x c byte table -> logits for every byte position. Subword: score against
    the vocab x w table, as BERT does.
    """

    def __init__(self, config: EEmbedConfig, table: nn.Embedding):
        super().__init__()
        self.config = config
        self.table = table  # shared module, not a copy: the tie is real
        self.transform = nn.Sequential(
            nn.Linear(config.width, config.width), nn.GELU(),
            nn.LayerNorm(config.width, eps=config.layer_norm_eps),
        )
        self.bytes = config.embedding != "subword"
        self.bias = nn.Parameter(torch.zeros(config.v, 256) if self.bytes else torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        h = self.transform(hidden)
        if self.bytes:
            chunks = h.view(*h.shape[:-1], self.config.v, self.config.c)        # (B, L, v, c)
            return chunks @ self.table.weight.t() + self.bias                   # (B, L, v, 256)
        return h @ self.table.weight.t() + self.bias                             # (B, L, vocab)


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


# ------------------------------------------------------------------ the model

class EEmbedModel(nn.Module):
    """A transformers encoder + masked-material head (always) + multilabel head (num_labels > 0)."""

    def __init__(self, config: EEmbedConfig):
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config)
        if config.encoder == "canine" and config.embedding == "elementwise":
            self.char_elements = ElementwiseEmbedding(config.v, config.c)
        self.mlm_head = MaskedMaterialHead(config, self._output_table())
        self.multilabel_head = MultilabelHead(config) if config.num_labels > 0 else None
        for module in (self.mlm_head, self.multilabel_head, getattr(self, "char_elements", None)):
            if module is not None:
                module.apply(self._init_weights)
        if config.embedding == "elementwise":
            self._init_weights(self.material_table.elements)

    @property
    def material_table(self) -> nn.Module:
        """The module in the word-embedding slot: ElementwiseEmbedding, the subword nn.Embedding,
        or CANINE's embeddings (its hash tables)."""
        if self.config.encoder == "canine":
            return self.char_elements if self.config.embedding == "elementwise" else self.encoder.char_embeddings
        return self.encoder.get_input_embeddings()

    def _output_table(self) -> nn.Embedding:
        if self.config.embedding == "elementwise":
            return self.material_table.elements
        if self.config.embedding == "subword":
            return self.material_table
        return nn.Embedding(256, self.config.c)  # hash: no byte table at the input to tie to

    def _init_weights(self, module: nn.Module) -> None:
        """BERT's initialisation for the modules this project adds (the library initialises its own)."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)
        elif isinstance(module, (nn.LayerNorm, SliceNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, inputs: torch.Tensor, attention_mask: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> EncoderOutput:
        """inputs: byte grid (B, L, v) for elementwise, ids (B, L) otherwise (CANINE hash: code points)."""
        if attention_mask is None:
            attention_mask = torch.ones(inputs.shape[:2], dtype=torch.bool, device=inputs.device)
        if self.config.embedding == "elementwise":
            table = self.material_table
            feed = {"inputs_embeds": table(inputs)}
        else:
            feed = {"input_ids": inputs.long()}
        out = self.encoder(**feed, attention_mask=attention_mask.long(), output_attentions=output_attentions,
                           output_hidden_states=output_hidden_states)
        attentions = out.attentions
        if attentions is not None and self.config.encoder == "canine":
            # CANINE returns its initial character layer, the deep stack and its final character
            # layer; the deep stack's (over molecules, L / 4) are the ones per "layer".
            attentions = tuple(attentions[1:1 + self.config.layers])
        return EncoderOutput(last_hidden_state=out.last_hidden_state, hidden_states=out.hidden_states,
                             attentions=attentions)

    def masked_materials(self, inputs: torch.Tensor, attention_mask: torch.Tensor,
                         targets: torch.Tensor | None = None, target_mask: torch.Tensor | None = None
                         ) -> MaskedMaterialOutput:
        """targets: original bytes (B, L, v) or ids (B, L); target_mask: (B, L) True where masked."""
        enc = self(inputs, attention_mask)
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
                   labels: torch.Tensor | None = None, pos_weight: torch.Tensor | None = None,
                   output_attentions: bool = False) -> MultilabelOutput:
        """pos_weight (num_labels,): weight of each label's positive term (the balanced loss)."""
        if self.multilabel_head is None:
            raise ValueError("this model has no multilabel head (config.num_labels is 0)")
        enc = self(inputs, attention_mask, output_attentions=output_attentions)
        logits = self.multilabel_head(enc.last_hidden_state, attention_mask)
        loss = F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=pos_weight) \
            if labels is not None else None
        return MultilabelOutput(loss=loss, logits=logits, encoder=enc)


def parameter_counts(model: EEmbedModel) -> dict[str, float]:
    """Embedding (material table) vs everything; the headline figure of elementwise embedding.
    CANINE's hash model counts its K hash tables as its material table."""
    total = sum(p.numel() for p in model.parameters())
    if model.config.encoder == "canine" and model.config.embedding == "hash":
        embeddings = model.encoder.char_embeddings
        table = sum(getattr(embeddings, f"HashBucketCodepointEmbedder_{i}").weight.numel()
                    for i in range(CANINE_HASH_FUNCTIONS))
    else:
        table = sum(p.numel() for p in model.material_table.parameters())
    embeddings = model.encoder.char_embeddings if model.config.encoder == "canine" else model.encoder.embeddings
    positions = embeddings.char_position_embeddings.weight.numel() if model.config.encoder == "canine" \
        else embeddings.position_embeddings.weight.numel()
    encoder = sum(p.numel() for p in model.encoder.parameters()) + \
        sum(p.numel() for p in getattr(model, "char_elements", nn.Module()).parameters())
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

"""Elementwise embedding in the transformers encoders, attention and the two training objectives
on tiny models."""
import json
from pathlib import Path

import pytest
import torch

from eembed_model.batching import ElementwiseTextEncoder, make_text_encoder, mask_materials
from eembed_model.config import EEmbedConfig
from eembed_model.materials import SPECIAL_TOKENS, encode_material
from eembed_model.model import EEmbedModel, ElementwiseEmbedding, parameter_counts
from eembed_model.wordpiece import special_ids, train_wordpiece

TINY = dict(v=8, c=8, layers=2, max_len=16, dropout=0.0, attention_dropout=0.0)
CORPUS = [
    "vim Vi IMproved enhanced vi editor", "emacs GNU Emacs editor", "nano small friendly text editor",
    "gcc GNU C compiler", "clang C language family frontend", "python3 interactive high-level language",
    "gimp GNU Image Manipulation Program", "inkscape vector graphics editor", "curl command line URL tool",
    "wget retrieves files from the web", "git fast scalable distributed revision control",
    "rsync fast remote file copy program",
]


def test_material_embedding_is_concatenation_of_its_byte_vectors():
    emb = ElementwiseEmbedding(v=8, c=4)
    for material in ["vim", "café", "日本", "🙂", ""]:
        row = encode_material(material, 8)
        out = emb(torch.tensor([[row]]))[0, 0]
        expected = torch.cat([emb.elements.weight[b] for b in row])
        assert out.shape == (32,)
        assert torch.equal(out, expected)
    with pytest.raises(ValueError, match="v=8"):
        emb(torch.zeros(1, 1, 5, dtype=torch.long))


def test_heads_equal_v_and_attention_rows_sum_to_one():
    config = EEmbedConfig(**TINY)
    model = EEmbedModel(config).eval()
    batch = ElementwiseTextEncoder(config.v, config.max_len)(["vim editor", "a much longer text with more words"])
    out = model(batch.inputs, batch.attention_mask, output_attentions=True, output_hidden_states=True)
    assert config.heads == config.v
    assert len(out.attentions) == config.layers
    assert len(out.hidden_states) == config.layers + 1
    length = batch.inputs.shape[1]
    for probs in out.attentions:
        assert probs.shape == (2, config.v, length, length)
        assert torch.allclose(probs.sum(-1), torch.ones(2, config.v, length), atol=1e-5)
        # The short text's padding positions receive no attention.
        pad = ~batch.attention_mask[0]
        assert probs[0][..., pad].abs().max() < 1e-6
    assert out.last_hidden_state.shape == (2, length, config.width)


def test_albert_shares_one_layer():
    separate = EEmbedModel(EEmbedConfig(**{**TINY, "layers": 4}))
    shared = EEmbedModel(EEmbedConfig(**{**TINY, "layers": 4, "encoder": "albert"}))
    assert len(shared.encoder.encoder.albert_layer_groups) == 1 and len(separate.encoder.encoder.layer) == 4
    batch = ElementwiseTextEncoder(8, 16)(["gcc GNU C compiler"])
    assert len(shared(batch.inputs, batch.attention_mask, output_attentions=True).attentions) == 4
    assert parameter_counts(shared)["encoder_total"] < parameter_counts(separate)["encoder_total"]


@pytest.mark.parametrize("encoder, embedding, library_class", [
    ("bert", "elementwise", "BertModel"), ("bert", "subword", "BertModel"), ("albert", "elementwise", "AlbertModel"),
    ("canine", "elementwise", "CanineModel"), ("canine", "hash", "CanineModel"),
])
def test_encoders_are_transformers_classes_with_their_own_forward(encoder, embedding, library_class):
    import transformers

    extra = {"vocab_size": 50} if embedding == "subword" else {}
    if encoder == "canine":
        extra.update(v=4, c=16, material_level="codepoint", max_len=24)
    model = EEmbedModel(EEmbedConfig(**{**TINY, **extra, "encoder": encoder, "embedding": embedding}))
    cls = getattr(transformers, library_class)
    assert type(model.encoder) is cls                       # the class itself, not a subclass
    assert model.encoder.forward.__func__ is cls.forward    # no forward patched onto the instance
    # Every module inside is the library's, except the ones put in its slots (the material table,
    # the aligned variant's slice norm): the layers and their forward methods are transformers'.
    ours = {type(m).__name__ for m in model.encoder.modules() if type(m).__module__.startswith("eembed_model")}
    assert ours <= {"ElementwiseEmbedding", "SliceNorm"}
    assert all("forward" not in vars(m) for m in model.encoder.modules())
    if embedding == "elementwise" and encoder != "canine":
        assert isinstance(model.encoder.get_input_embeddings(), ElementwiseEmbedding)  # in the word-table slot
    if embedding == "elementwise" and encoder == "canine":
        assert not hasattr(model.encoder.char_embeddings, "HashBucketCodepointEmbedder_0")


def test_canine_reads_characters_and_its_elementwise_table_is_tiny():
    from eembed_model.batching import make_text_encoder

    base = dict(TINY, v=4, c=16, encoder="canine", material_level="codepoint", max_len=24)
    texts = ["vim editor", "日本 café"]
    sizes = {}
    for embedding in ("elementwise", "hash"):
        config = EEmbedConfig(**base, embedding=embedding, num_labels=3)
        model = EEmbedModel(config).eval()
        batch = make_text_encoder(config)(texts)
        assert batch.materials[1] == ["[CLS]", "日", "本", " ", "c", "a", "f", "é", "[SEP]"]
        out = model.multilabel(batch.inputs, batch.attention_mask)
        assert out.logits.shape == (2, 3)
        masked, targets, where = mask_materials(batch, config, rate=0.5, generator=torch.Generator().manual_seed(0))
        assert targets.shape == (2, batch.inputs.shape[1], 4)  # both variants predict the characters' bytes
        assert model.masked_materials(masked, batch.attention_mask, targets, where).loss > 0
        sizes[embedding] = parameter_counts(model)["material_table"]
    assert sizes == {"elementwise": 256 * 16, "hash": 16384 * 64}


def test_the_bundled_round_two_checkpoint_loads_into_bert_with_the_old_outputs():
    from eembed_model.checkpoint import load_bundled_or

    golden = json.loads((Path(__file__).parent / "fixtures" / "eembed_bundled_golden.json").read_text())
    loaded = load_bundled_or()
    assert loaded.config.encoder == "bert" and loaded.config.long_words == "truncate"
    batch = loaded.text_encoder(golden["texts"])
    with torch.no_grad():
        out = loaded.model.multilabel(batch.inputs, batch.attention_mask, output_attentions=True)
    torch.testing.assert_close(out.logits, torch.tensor(golden["logits"]), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.encoder.attentions[-1][0], torch.tensor(golden["last_layer_attention_text0"]),
                               atol=1e-4, rtol=0)


def test_output_table_is_tied_to_the_element_table():
    model = EEmbedModel(EEmbedConfig(**TINY))
    table = model.encoder.get_input_embeddings().elements.weight
    assert model.mlm_head.table.weight is table
    batch = ElementwiseTextEncoder(8, 16)(["vim editor"])
    logits = model.mlm_head(model(batch.inputs, batch.attention_mask).last_hidden_state)
    assert logits.shape == (1, batch.inputs.shape[1], 8, 256)


def test_parameter_counts_show_the_small_elementwise_table():
    elementwise = EEmbedModel(EEmbedConfig(**TINY))
    tokenizer = train_wordpiece(CORPUS * 3, vocab_size=200, min_frequency=1)
    subword = EEmbedModel(EEmbedConfig(**TINY, embedding="subword", vocab_size=tokenizer.get_vocab_size()))
    ew, sw = parameter_counts(elementwise), parameter_counts(subword)
    assert ew["material_table"] == 256 * 8
    assert sw["material_table"] == tokenizer.get_vocab_size() * 64
    assert ew["encoder_total"] - ew["material_table"] == sw["encoder_total"] - sw["material_table"]


@pytest.fixture
def one_thread():
    """Tiny models train fastest on one thread; on a busy shared CPU extra threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train(model, config, steps, step_fn):
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss = step_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("embedding", ["elementwise", "subword"])
def test_masked_material_loss_falls_on_a_tiny_corpus(embedding, one_thread):
    torch.manual_seed(0)
    tokenizer = train_wordpiece(CORPUS, vocab_size=150, min_frequency=1) if embedding == "subword" else None
    config = EEmbedConfig(**TINY, embedding=embedding,
                          vocab_size=tokenizer.get_vocab_size() if tokenizer else 0)
    model = EEmbedModel(config).train()
    encode = make_text_encoder(config, tokenizer)
    batch = encode(CORPUS)
    gen = torch.Generator().manual_seed(0)

    def step():
        masked, targets, where = mask_materials(batch, config, rate=0.3, generator=gen)
        return model.masked_materials(masked, batch.attention_mask, targets, where).loss

    losses = _train(model, config, 60, step)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.7 * first, (first, last)


def test_masking_never_touches_special_positions():
    config = EEmbedConfig(**TINY)
    batch = ElementwiseTextEncoder(8, 16)(CORPUS)
    for seed in range(5):
        masked, targets, where = mask_materials(batch, config, rate=0.5, generator=torch.Generator().manual_seed(seed))
        assert not (where & batch.special_mask).any()
        assert torch.equal(masked[~where], batch.inputs[~where])
        assert torch.equal(targets, batch.inputs)


def test_special_tokens_keep_their_bytes_and_wordpiece_ids_in_both_encoders():
    # Both are fixed by trained checkpoints (element tables, tokenizer.json files), whatever order
    # the names are listed in.
    assert SPECIAL_TOKENS == {"[CLS]": 0xF8, "[SEP]": 0xF9, "[MASK]": 0xFA, "[PAD]": 0xFB, "[UNK]": 0xFC}
    tokenizer = train_wordpiece(CORPUS, vocab_size=150, min_frequency=1)
    assert special_ids(tokenizer) == {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
    assert special_ids(tokenizer)["[PAD]"] == EEmbedConfig().pad_id
    subword = EEmbedConfig(**TINY, embedding="subword", vocab_size=tokenizer.get_vocab_size())
    texts = ["vim editor", "gcc GNU C compiler and a few more words"]
    for config in (EEmbedConfig(**TINY), subword):
        batch = make_text_encoder(config, tokenizer)(texts)
        # [CLS], [SEP] and the padding after them are special; every material in between is not.
        expected = torch.ones(batch.inputs.shape[:2], dtype=torch.bool)
        for row, materials in enumerate(batch.materials):
            expected[row, 1:len(materials) - 1] = False
        assert torch.equal(batch.special_mask, expected), config.embedding
        assert torch.equal(batch.attention_mask, torch.arange(expected.shape[1]) < torch.tensor(
            [[len(m)] for m in batch.materials]))
    batch = make_text_encoder(subword, tokenizer)(CORPUS)
    masked, _, where = mask_materials(batch, subword, rate=0.5, generator=torch.Generator().manual_seed(0))
    replaced = masked[where & (masked != batch.inputs)]
    assert (replaced == 4).any() and ((replaced == 4) | (replaced >= 5)).all()  # [MASK] or a non-special id


def test_multilabel_training_lowers_loss(one_thread):
    torch.manual_seed(0)
    config = EEmbedConfig(**TINY, num_labels=3)
    model = EEmbedModel(config).train()
    batch = ElementwiseTextEncoder(8, 16)(CORPUS)
    # label 0: editors, label 1: GNU, label 2: everything
    labels = torch.tensor([[("editor" in t), ("GNU" in t), 1] for t in CORPUS], dtype=torch.float)
    losses = _train(model, config, 40, lambda: model.multilabel(batch.inputs, batch.attention_mask, labels).loss)
    assert losses[-1] < 0.5 * losses[0]
    with pytest.raises(ValueError, match="no multilabel head"):
        EEmbedModel(EEmbedConfig(**TINY)).multilabel(batch.inputs, batch.attention_mask)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="embedding"):
        EEmbedConfig(embedding="bytes")
    with pytest.raises(ValueError, match="vocab_size"):
        EEmbedConfig(embedding="subword")
    assert EEmbedConfig.from_dict(EEmbedConfig(v=4, num_labels=3).to_dict()) == EEmbedConfig(v=4, num_labels=3)
    assert EEmbedConfig.from_dict({"encoder": "bert", "v": 4}) == EEmbedConfig(v=4)  # missing fields: defaults
    # A config from before the transformers encoders: share_layers meant ALBERT, long words were cut.
    assert EEmbedConfig.from_dict({"v": 4, "share_layers": True}) == EEmbedConfig(v=4, encoder="albert",
                                                                                  long_words="truncate")
    with pytest.raises(ValueError, match=r"eembed model config has unknown fields \['unknown'\]"):
        EEmbedConfig.from_dict({**EEmbedConfig().to_dict(), "unknown": 1})


def test_mean_pooling_ignores_padding_and_prior_init_sets_log_odds():
    torch.manual_seed(0)
    config = EEmbedConfig(**TINY, num_labels=2, pooling="mean")
    model = EEmbedModel(config).eval()
    short = ElementwiseTextEncoder(8, 16)(["vim editor"])
    padded = ElementwiseTextEncoder(8, 16)(["vim editor", "a much longer text with many more words"])
    alone = model.multilabel(short.inputs, short.attention_mask).logits[0]
    in_batch = model.multilabel(padded.inputs, padded.attention_mask).logits[0]
    assert torch.allclose(alone, in_batch, atol=1e-5)
    model.multilabel_head.init_from_priors(torch.tensor([0.5, 0.1]))
    bias = model.multilabel_head.classifier.bias
    assert bias[0].item() == pytest.approx(0.0, abs=1e-6)
    assert bias[1].item() == pytest.approx(torch.log(torch.tensor(0.1 / 0.9)).item(), rel=1e-5)
    with pytest.raises(ValueError, match="pooling"):
        EEmbedConfig(pooling="max")

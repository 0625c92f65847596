"""Checkpoint directories: deterministic init, round trip, size budget, mismatch errors, CLIP loading errors."""
import json

import huggingface_hub.constants
import pytest
import torch
from safetensors.torch import load_file, save_file

from mirror_model import checkpoint as ckpt
from mirror_model import clip_backbone
from mirror_model.model import MirrorDepthConfig, build_mirror_depth


@pytest.fixture(scope="module")
def init_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    assert ckpt.main(["init", "--out", str(out), "--seed", "0"]) == 0
    return out


def _copy(src, dst):
    dst.mkdir()
    for item in src.iterdir():
        (dst / item.name).write_bytes(item.read_bytes())
    return dst


def test_init_is_deterministic_and_fits_the_size_budget(init_dir, tmp_path):
    again = tmp_path / "again"
    ckpt.init_checkpoint(again, MirrorDepthConfig(), seed=0)
    for name in (ckpt.MODEL_FILE, ckpt.CLIP_FILE):
        assert (init_dir / name).read_bytes() == (again / name).read_bytes(), name
    other = tmp_path / "other"
    ckpt.init_checkpoint(other, MirrorDepthConfig(), seed=1)
    assert (init_dir / ckpt.MODEL_FILE).read_bytes() != (other / ckpt.MODEL_FILE).read_bytes()

    total = sum(f.stat().st_size for f in init_dir.iterdir())
    assert total < 15_000_000, f"bundled tiny checkpoint is {total / 1e6:.1f} MB"
    assert all(v.dtype == torch.float16 for k, v in load_file(str(init_dir / ckpt.CLIP_FILE)).items() if v.is_floating_point())


def test_card_describes_the_model(init_dir):
    card = json.loads((init_dir / ckpt.CARD_FILE).read_text())
    assert card["clip_name"] == "tiny-vit" and card["clip_pretrained"] is None
    assert card["mirror_tokens"] == 64 and card["input_size"] == [240, 320] and card["max_depth"] == 10.0
    assert card["trained"] is False and card["init_seed"] == 0
    for field in ("training_data", "metrics", "command", "created", "decoder", "config", "trainable_parameters"):
        assert field in card


def test_round_trip_reproduces_the_built_model(init_dir, tmp_path):
    built = build_mirror_depth(MirrorDepthConfig(), seed=0).eval()
    loaded = ckpt.load_checkpoint(init_dir)
    for key, value in built.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    images = torch.rand(1, 3, 48, 64)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(images), built(images), atol=0, rtol=0)

    with torch.no_grad():
        loaded.mirror.mul_(2.0)
    saved = ckpt.save_checkpoint(loaded, tmp_path / "trained", {"training_data": "synthetic scenes", "metrics": {"abs_rel": 0.5}})
    card = ckpt.read_card(saved)
    assert card["trained"] is True and card["metrics"] == {"abs_rel": 0.5}
    reloaded = ckpt.load_checkpoint(saved)
    assert torch.equal(reloaded.mirror, loaded.mirror)


def _assert_one_line(err: pytest.ExceptionInfo, *words: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_mismatched_config_in_card_is_a_one_line_error(init_dir, tmp_path):
    bad = _copy(init_dir, tmp_path / "bad")
    card = json.loads((bad / ckpt.CARD_FILE).read_text())
    card["config"]["mirror_tokens"] = 32
    (bad / ckpt.CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ValueError) as err:
        ckpt.load_checkpoint(bad)
    _assert_one_line(err, "does not match", "shape mismatch", "mirror (file [64, 64] vs code [32, 64])")

    card["config"]["decoder"]["hidden"] = 48
    (bad / ckpt.CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ValueError) as err:
        ckpt.load_checkpoint(bad)
    _assert_one_line(err, "decoder.stem.0.weight", "more")


def test_missing_and_unexpected_tensors_are_named(init_dir, tmp_path):
    bad = _copy(init_dir, tmp_path / "bad")
    tensors = load_file(str(bad / ckpt.MODEL_FILE))
    tensors.pop("decoder.head.weight")
    tensors["decoder.extra.weight"] = torch.zeros(2)
    save_file(tensors, str(bad / ckpt.MODEL_FILE))
    with pytest.raises(ValueError) as err:
        ckpt.load_checkpoint(bad)
    _assert_one_line(err, "missing: decoder.head.weight", "unexpected: decoder.extra.weight")


def test_unknown_config_fields_corrupt_files_and_empty_dirs_are_clear(init_dir, tmp_path):
    bad = _copy(init_dir, tmp_path / "bad")
    card = json.loads((bad / ckpt.CARD_FILE).read_text())
    card["config"]["attention_layers"] = 3
    (bad / ckpt.CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ValueError) as err:
        ckpt.load_checkpoint(bad)
    _assert_one_line(err, "unknown fields", "attention_layers")

    corrupt = _copy(init_dir, tmp_path / "corrupt")
    (corrupt / ckpt.MODEL_FILE).write_bytes(b"not safetensors at all")
    with pytest.raises(ValueError) as err:
        ckpt.load_checkpoint(corrupt)
    _assert_one_line(err, "not a readable safetensors file")

    clip_bad = _copy(init_dir, tmp_path / "clip_bad")
    clip_tensors = load_file(str(clip_bad / ckpt.CLIP_FILE))
    clip_tensors["token_embedding.weight"] = clip_tensors["token_embedding.weight"][:, :32].contiguous()
    save_file(clip_tensors, str(clip_bad / ckpt.CLIP_FILE))
    with pytest.raises(ValueError) as err:
        ckpt.load_checkpoint(clip_bad)
    _assert_one_line(err, "clip.safetensors", "token_embedding.weight")

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="card.json"):
        ckpt.load_checkpoint(empty)
    with pytest.raises(FileNotFoundError, match="not found"):
        ckpt.load_checkpoint(tmp_path / "missing")
    (empty / ckpt.CARD_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ckpt.load_checkpoint(empty)


def test_checkpoint_cli_reports_errors_with_exit_code_2(tmp_path, capsys):
    assert ckpt.main(["info", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


# ---------------------------------------------------------------- CLIP weights

def test_pretrained_clip_offline_names_model_tag_and_flag(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(clip_backbone.WEIGHTS_ENV, raising=False)
    # a fresh machine: empty Hugging Face cache, no network
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))  # open_clip's URL cache lives under ~/.cache/clip
    with pytest.raises(clip_backbone.WeightsUnavailableError) as err:
        clip_backbone.load_clip("RN50", "openai")
    _assert_one_line(err, "RN50", "openai", "--clip-weights", "MIRROR_CLIP_WEIGHTS")


def test_clip_weights_from_a_local_file(tmp_path, monkeypatch):
    source, _ = clip_backbone.load_clip("tiny-rn", None, seed=3)
    path = tmp_path / "tiny-rn.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    loaded, info = clip_backbone.load_clip("tiny-rn", None, weights_file=path)
    assert info.weights_from == "file"
    for key, value in source.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key

    with pytest.raises(FileNotFoundError) as err:
        clip_backbone.load_clip("tiny-rn", None, weights_file=tmp_path / "absent.pt")
    _assert_one_line(err, "absent.pt", "--clip-weights")
    monkeypatch.setenv(clip_backbone.WEIGHTS_ENV, str(tmp_path / "absent.pt"))
    with pytest.raises(FileNotFoundError, match="MIRROR_CLIP_WEIGHTS"):
        clip_backbone.load_clip("RN50", "openai")
    with pytest.raises(ValueError) as err:  # weights of another architecture
        clip_backbone.load_clip("tiny-vit", None, weights_file=path)
    _assert_one_line(err, "could not be loaded into model 'tiny-vit'")


def test_unknown_clip_name_or_tag():
    with pytest.raises(ValueError, match="unknown CLIP model"):
        clip_backbone.load_clip("no-such-clip")
    with pytest.raises(ValueError, match="unknown pretrained tag"):
        clip_backbone.load_clip("tiny-vit", "no-such-tag")

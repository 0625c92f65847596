"""Training: the loss falls, only mirror and decoder change, resume is exact, DDP runs on 2 CPU processes."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mirror_model.data import build_dataset
from mirror_model.losses import silog_loss
from mirror_model.train import TrainConfig, build_model, train

ROOT = Path(__file__).resolve().parents[1]
SIZE = (64, 96)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    from scenes.io import write_scenes

    root = tmp_path_factory.mktemp("scenes")
    write_scenes(root / "train", count=8, size=SIZE, seed=11, progress=False)
    write_scenes(root / "val", count=2, size=SIZE, seed=12, progress=False)
    return root


def free_port() -> int:
    """A port nobody listens on now (the OS picks it), so parallel runs do not collide."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config(scenes, out, **overrides):
    base = dict(data="synthetic", data_root=str(scenes), out=str(out), input_size=SIZE, mirror_tokens=8, epochs=6,
                batch_size=4, lr=5e-3, schedule="cosine", color_jitter=0.0, seed=3, log_every=1)
    base.update(overrides)
    return TrainConfig(**base)


def dataset_loss(model, scenes) -> float:
    dataset = build_dataset("synthetic", scenes, "train")
    images = torch.stack([dataset[i]["image"] for i in range(len(dataset))])
    depth = torch.stack([dataset[i]["depth"] for i in range(len(dataset))])
    model.eval()
    with torch.no_grad():
        return float(silog_loss(model(images), depth))


def test_training_lowers_the_loss_and_changes_only_mirror_and_decoder(scenes, tmp_path):
    cfg = config(scenes, tmp_path / "run", max_steps=12)
    initial = build_model(cfg, torch.device("cpu"))
    before = dataset_loss(initial, scenes)
    result = train(cfg)
    trained = result.model
    after = dataset_loss(trained, scenes)
    assert after < 0.8 * before, (before, after)
    for name, tensor in initial.clip.state_dict().items():
        assert torch.equal(tensor, trained.clip.state_dict()[name]), f"CLIP tensor {name} changed"
    assert not torch.equal(initial.mirror, trained.mirror)
    assert any(not torch.equal(a, b) for a, b in zip(initial.decoder.state_dict().values(), trained.decoder.state_dict().values()))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics[-1]["step"] == 12 and "abs_rel" in metrics[-1]["val"]
    card = json.loads((tmp_path / "run" / "best" / "card.json").read_text())
    assert card["trained"] is True and "abs_rel" in card["metrics"]["val"]


def test_resume_reproduces_the_next_step_loss(scenes, tmp_path):
    straight = train(config(scenes, tmp_path / "straight", max_steps=3))
    train(config(scenes, tmp_path / "resumed", max_steps=2))
    resumed = train(config(scenes, tmp_path / "resumed", max_steps=3, resume=True))
    assert len(resumed.step_losses) == 1
    assert resumed.step_losses[0] == pytest.approx(straight.step_losses[2], rel=1e-5, abs=1e-6)


def test_ddp_with_two_cpu_processes_runs_two_steps(scenes, tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
               "-m", "mirror_model.train", "--data", "synthetic", "--data-root", str(scenes), "--out", str(out),
               "--input-size", "64x96", "--mirror-tokens", "8", "--batch-size", "2", "--max-steps", "2",
               "--val-limit", "1", "--log-every", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
    assert (out / "last" / "training_state.pt").is_file()


def test_bad_arguments_give_one_line_errors(tmp_path, capsys):
    from mirror_model.train import main

    assert main(["--data", "synthetic", "--data-root", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "expected rgb/ and depth/" in capsys.readouterr().err

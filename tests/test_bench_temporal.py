"""The video study's benchmark splits the study's CPU time into its stages (--stages)."""
import pytest

from benchmarks.bench_temporal import STAGES, build_clip, stage_seconds
from common.video_io import ffmpeg_available, probe_video


@pytest.fixture(scope="module")
def predictor():
    from mirror_model.predict import load_predictor

    return load_predictor("synthetic-tiny")


def test_stage_table_covers_every_stage_and_the_encoder_process(predictor, tmp_path):
    clip = build_clip(tmp_path / "clip.mp4", 10)  # the bundled walk, 240x320
    spent = stage_seconds(predictor, clip, tmp_path, batch=4)
    assert list(spent) == [*STAGES, "whole study, sequential", "the rest"]
    assert min(spent[stage] for stage in STAGES) >= 0
    assert spent["inference"] > 0 and spent["optical flow"] > 0 and spent["measures"] > 0
    assert spent["whole study, sequential"] > spent["inference"]
    assert spent["the rest"] == pytest.approx(spent["whole study, sequential"] - sum(spent[stage] for stage in STAGES))
    assert probe_video(tmp_path / "stages.mp4").frame_count == 10  # every frame went through the encoder
    if ffmpeg_available():  # ffmpeg's own process: its CPU time is counted once it has finished
        assert spent["depth video encoder (ffmpeg)"] > 0.005

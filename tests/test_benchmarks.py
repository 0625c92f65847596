"""The benchmarks run and print their ratios (slow: run with `pytest -m slow`)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow
def test_scene_benchmark_reports_render_time_and_size_ratio():
    out = run_benchmark("benchmarks.bench_scenes", "--repeats", "3", "--video-frames", "3")
    assert re.search(r"240x320", out) and re.search(r"\d+(\.\d+)?\s*ms", out)


@pytest.mark.slow
def test_mirror_inference_benchmark_reports_frame_time_and_parameter_counts():
    out = run_benchmark("benchmarks.bench_mirror_inference", "--threads", "1", "--repeats", "3")
    assert re.search(r"\d+(\.\d+)?\s*ms", out) and "RN50" in out and "ViT-B-16" in out


@pytest.mark.slow
def test_eembed_benchmark_reports_embedding_share():
    out = run_benchmark("benchmarks.bench_eembed", "--steps", "3")
    assert "elementwise" in out and "subword" in out and "%" in out


@pytest.mark.slow
def test_load_check_has_no_failures_and_disk_returns_to_baseline():
    out = run_benchmark("benchmarks.bench_load", "--clients", "2", "--seconds", "5", "--retention", "3")
    assert re.search(r"\d+ calls, 0 failures", out)
    assert "back to baseline" in out and "NOT back to baseline" not in out
    assert out.count("hostile: ") == 14 and "NOT as expected" not in out


@pytest.mark.slow
def test_world_clip_benchmark_reports_the_bf16_and_thread_ratios():
    out = run_benchmark("benchmarks.bench_world_clip", "--batch-size", "8", "--steps", "1", "--threads", "1")
    assert re.search(r"bf16/fp32 step time \d+\.\d+x", out) and "avx512_bf16" in out

"""The project's shape: the two README commands, CI, Space files, and the import boundaries."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick_start, flags=re.S)


def test_readme_has_exactly_two_commands_start_app_and_tests():
    commands = readme_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in command for command in commands)
    assert commands[0].endswith("python app.py")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_with_the_linter_before_the_tests():
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("set ") and not line.startswith("cd ")
    ]
    lint = ".venv/bin/ruff check ."
    assert lines.index(lint) == 1 and len(lines) == 3
    assert " && ".join(line for line in lines if line != lint) == readme_commands()[1]


def test_space_front_matter_and_system_packages():
    front_matter = (ROOT / "README.md").read_text().split("---")[1]
    assert "sdk: gradio" in front_matter and "app_file: app.py" in front_matter
    assert "python_version" in front_matter
    packages = (ROOT / "packages.txt").read_text().split()
    assert {"libusb-1.0-0", "libgl1", "libgomp1"} <= set(packages)


def test_requirements_name_the_runtime_stack():
    names = {
        re.split(r"[<>=!;\s\[]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    expected = {"gradio", "torch", "torchvision", "open-clip-torch", "plotly", "matplotlib", "opencv-python-headless",
                "numpy", "safetensors", "huggingface-hub", "tqdm"}
    assert expected <= names
    assert {"open3d", "open3d-cpu"} & names


def test_model_and_analysis_packages_never_import_gradio():
    modules = [
        path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
        for package in ("mirror_model", "eembed_model", "analysis")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "__main__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name.removesuffix('.__init__'))\n"
        "assert 'gradio' not in sys.modules, 'gradio was imported by model code'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]

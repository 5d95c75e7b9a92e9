"""An installed RestoreLab works anywhere: the wheel, installed into a fresh virtualenv outside
the repository, trains, evaluates and denoises from an empty folder of the user's own.

The fresh virtualenv gets RestoreLab from the wheel and nothing else. Its dependencies are not
downloaded again (gigabytes of torch): it sees the packages of this environment that the wheel's
core requirements reach, and only those (no bm3d, no sweepers, no demo or export stacks), by
symbolic links in a folder named in a `.pth` file. The repository's editable install is not
among them, so `import restorelab` can only find the wheel.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from restorelab.conf import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(sysconfig.get_paths()["purelib"])

# Heavy stacks a default install must not bring (each has its own extra, or is a test tool).
NOT_DEFAULT = ("bm3d", "streamlit", "onnx", "onnxruntime", "onnxscript", "optuna",
               "hydra-optuna-sweeper", "mkdocs", "pytest", "playwright", "wandb")

# The user's own model and config, in their own folder: nothing in the package is edited.
USER_MODEL = '''
import torch
from torch import nn


class TinyDenoiser(nn.Module):
    """Two convolutions and a residual: the smallest net worth training."""

    def __init__(self, in_channels: int, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(width, in_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.body(x)
'''
USER_CONFIG = "_target_: my_models.TinyDenoiser\nin_channels: ${data.channels}\nwidth: 8\n"

ONE_BATCH = [
    "--config-dir", "my_conf", "model=tiny", "noise.sigma=50",
    "trainer.max_epochs=1", "+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1", "data.patch_size=32", "data.eval_size=32",
    "data.batch_size=2", "callbacks.rich_progress_bar=null", "callbacks.model_summary=null",
]


def core_requirements(wheel: Path) -> list[Requirement]:
    """The `Requires-Dist` lines of the wheel that hold without any extra."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    lines = [line.split(":", 1)[1].strip() for line in metadata.splitlines()
             if line.startswith("Requires-Dist:")]
    requirements = [Requirement(line) for line in lines]
    return [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]


def dependency_closure(
    requirements: list[Requirement],
) -> dict[str, importlib.metadata.Distribution]:
    """Every installed distribution the requirements reach, by canonical name. RestoreLab's own
    requirements must be installed at versions they allow; a transitive one this machine lacks
    (a CUDA library of a CPU build) is left out."""
    installed = {canonicalize_name(d.metadata["Name"]): d
                 for d in importlib.metadata.distributions(path=[str(SITE)])}
    closure: dict[str, importlib.metadata.Distribution] = {}
    pending = [(r, True) for r in requirements]
    while pending:
        requirement, direct = pending.pop()
        name = canonicalize_name(requirement.name)
        dist = installed.get(name)
        if dist is None:
            assert not direct, f"{requirement} is a core requirement but is not installed here"
            continue
        if direct:
            assert requirement.specifier.contains(dist.version, prereleases=True), (
                f"core requirement {requirement} does not allow the installed {dist.version}")
        if name in closure:
            continue
        closure[name] = dist
        extras = set(requirement.extras) or {""}
        for line in dist.requires or []:
            nested = Requirement(line)
            if nested.marker is None or any(nested.marker.evaluate({"extra": e}) for e in extras):
                pending.append((nested, False))
    return closure


def _entries(dist: importlib.metadata.Distribution) -> set[tuple[str, ...]]:
    """The first two components of each file a distribution installed in site-packages (read
    from its RECORD as text: tens of thousands of files for torch)."""
    record = dist.read_text("RECORD")
    assert record is not None, f"{dist.metadata['Name']} has no RECORD: cannot tell its files"
    entries = set()
    for line in record.splitlines():
        path = line.rsplit(",", 2)[0].strip('"')
        if path and not path.startswith("..") and not path.endswith(".pth"):
            entries.add(tuple(path.split("/", 2)[:2]))
    return entries


def link_distributions(closure: dict[str, importlib.metadata.Distribution], into: Path) -> None:
    """Symbolic links in `into` to the files of `closure` only. A folder that other
    distributions share (a namespace package such as `hydra_plugins`) is linked entry by entry."""
    owners: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions(path=[str(SITE)]):
        name = canonicalize_name(dist.metadata["Name"])
        for line in (dist.read_text("RECORD") or "").splitlines():
            owners.setdefault(line.split("/", 1)[0].split(",", 1)[0], set()).add(name)
    links = set()
    for dist in closure.values():
        for entry in _entries(dist):
            shared = not owners.get(entry[0], set()) <= set(closure)
            links.add(entry if shared else entry[:1])
    for parts in sorted(links):
        target = into.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(SITE.joinpath(*parts))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the RestoreLab wheel, with its core dependencies visible."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"  # a copy: building writes build/ and egg-info beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    quiet = {"capture_output": True, "text": True, "timeout": 300}
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-w", str(tmp / "dist"), str(source)], **quiet)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("restorelab-*.whl")

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, **quiet)
    python = venv / "bin" / "python"
    # Installed before the dependencies become visible, so pip sees an empty environment.
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                              "--no-deps", "--no-index", str(wheel)], **quiet)
    assert install.returncode == 0, install.stderr[-3000:]
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, **quiet).stdout.strip())
    closure = dependency_closure(core_requirements(wheel))
    assert "restorelab" not in closure
    link_distributions(closure, tmp / "dependencies")
    (site / "dependencies.pth").write_text(f"{tmp / 'dependencies'}\n")
    return venv


def run(venv: Path, cwd: Path, *command: str) -> subprocess.CompletedProcess:
    """A command of the virtualenv, run from `cwd` as its user would (no repository paths)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "RESTORELAB_ROOT", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", PYTHONNOUSERSITE="1",
               PYTHONPATH=str(cwd), WANDB_MODE="offline", OMP_NUM_THREADS="1")
    return subprocess.run([str(venv / "bin" / command[0]), *command[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_default_install_brings_no_optional_stack() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    assert not core & {canonicalize_name(n) for n in NOT_DEFAULT}, core
    assert "safetensors" in core  # the shipped weights need it
    # bm3d is non-commercial: only its own extra (and dev, for the tests) may name it.
    naming_bm3d = {extra for extra, lines in project["optional-dependencies"].items()
                   if any(canonicalize_name(Requirement(r).name) == "bm3d" for r in lines)}
    assert naming_bm3d == {"bm3d"}
    assert "bm3d" in project["optional-dependencies"]["dev"][0]
    # `make train` installs RestoreLab alone; `make test` with the dev extras.
    train = subprocess.run(["make", "-n", "--no-print-directory", "train", "VENV=/nonexistent"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    assert "pip install -e .\n" in train and "[" not in train.replace("$(ARGS)", "")
    test = subprocess.run(["make", "-n", "--no-print-directory", "test", "VENV=/nonexistent"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    assert "pip install -e '.[dev]'" in test


@pytest.mark.slow
def test_wheel_trains_evaluates_and_denoises_from_an_empty_folder(
    installed: Path, tmp_path: Path
) -> None:
    user = tmp_path / "project"  # the user's folder: their model and config only
    (user / "my_conf" / "model").mkdir(parents=True)
    (user / "my_models.py").write_text(USER_MODEL)
    (user / "my_conf" / "model" / "tiny.yaml").write_text(USER_CONFIG)

    trained = run(installed, user, "restorelab", "train", *ONE_BATCH)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "Error importing" not in trained.stderr  # every shipped Hydra plugin loads
    (run_dir,) = (user / "logs" / "train" / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed" and "test/psnr" in metrics

    # The composed config is the one the repository's own tree composes.
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        expected = compose("train", overrides=[f"hydra.searchpath=[file://{user / 'my_conf'}]",
                                               *ONE_BATCH[2:]])
    GlobalHydra.instance().clear()
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert OmegaConf.to_container(saved) == OmegaConf.to_container(expected)

    evaluated = run(installed, user, "restorelab", "eval", str(run_dir), "--levels", "25",
                    "--grid", "0", "-o", "report", "data.eval_size=32")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    summary = json.loads((user / "report" / "summary.json").read_text())
    assert "model" in json.dumps(summary) and "nlm" in json.dumps(summary)
    # BM3D is not installed by default: non-local means stands in, and the user is told why.
    assert "restorelab[bm3d]" in evaluated.stderr + evaluated.stdout

    script = f'''
import numpy as np, restorelab, restorelab.conf
from restorelab.cli import main
from restorelab.inference import ImageFile, write_image_file
print(restorelab.__file__)
print(restorelab.conf.CONF_DIR)
denoiser = restorelab.load_denoiser({str(run_dir)!r})
noisy = np.random.default_rng(0).random((20, 24, 3)).astype(np.float32)
assert denoiser.denoise(noisy).shape == noisy.shape
write_image_file("photo16.png", ImageFile(noisy, None, 16))
main(["denoise", "photo16.png", "-o", "restored", "--checkpoint", {str(run_dir)!r}])
'''
    used = run(installed, user, "python", "-c", script)
    assert used.returncode == 0, used.stderr[-3000:]
    module, conf = used.stdout.splitlines()[:2]
    assert Path(module).is_relative_to(installed) and Path(conf).is_relative_to(installed)
    assert not Path(module).is_relative_to(ROOT)

    def tree(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*.yaml"))

    assert tree(Path(conf)) == tree(CONF_DIR)  # the wheel ships every config file
    from restorelab.inference import read_image_file

    restored = read_image_file(user / "restored" / "photo16.png")
    assert restored.bit_depth == 16 and restored.pixels.shape == (20, 24, 3)
    assert sorted(p.name for p in user.iterdir()) == [
        "logs", "my_conf", "my_models.py", "photo16.png", "report", "restored"]


def test_without_bm3d_the_baselines_fall_back_and_say_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import importlib.util

    from restorelab.baselines import select_baselines

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "bm3d" else find_spec(name, *args))
    with caplog.at_level("WARNING", logger="restorelab"):
        chosen = select_baselines(["auto"])
    assert [b.name for b in chosen] == ["noisy", "nlm"]
    assert "non-commercial" in caplog.text and "restorelab[bm3d]" in caplog.text
    with pytest.raises(ValueError, match=r"non-commercial use only.*restorelab\[bm3d\]"):
        select_baselines(["bm3d"])


def test_train_and_sweep_commands_start_their_jobs_without_a_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`restorelab sweep` runs its jobs, and `restorelab train` its other DDP ranks, as
    `python -m restorelab train` (there is no train.py beside an installed package)."""
    from hydra.core.hydra_config import HydraConfig

    from restorelab import cli, distributed, sweep, train

    job = [sys.executable, "-m", "restorelab", "train"]
    seen: dict = {}
    monkeypatch.setattr(sweep, "main", lambda train_command, argv: seen.update(
        sweep=(train_command, argv)) or 0)
    with pytest.raises(SystemExit) as stop:
        cli.main(["sweep", "sweep=zoo", "model.depth=2"])
    assert stop.value.code == 0
    assert seen["sweep"] == (job, ["sweep=zoo", "model.depth=2"])

    monkeypatch.setattr(distributed, "JOB_COMMAND", [])
    monkeypatch.setattr(sys, "argv", ["restorelab"])
    monkeypatch.setattr(train, "main", lambda cfg: seen.update(
        model=cfg.model._target_, name=HydraConfig.get().job.name))
    monkeypatch.chdir(tmp_path)
    try:
        cli.main(["train", "model=dncnn", f"hydra.run.dir={tmp_path}", "hydra.output_subdir=null"])
    finally:
        GlobalHydra.instance().clear()
    assert seen["model"].endswith("DnCNN") and seen["name"] == "train"
    assert distributed.JOB_COMMAND == job

"""callbacks=with_ema: the averaged weights differ from the trained ones, and they are the ones
validated, checkpointed as best, tested, exported and loaded by `load_denoiser`."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import FAST, FAST_NATURAL, compose_train, run_train
from omegaconf import OmegaConf, open_dict

from restorelab.checkpoints import safe_load

EMA_RUN = [
    "callbacks=with_ema", "callbacks.ema.decay=0.6", "trainer.max_epochs=2",
    "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1", "model.base_channels=4", "model.depth=2",
    "+callbacks.probe._target_=test_ema.WeightProbe",
]


class WeightProbe(L.Callback):
    """Keeps a copy of the net's weights as each validation and test step sees them."""

    seen: dict[str, list[dict[str, torch.Tensor]]] = {}

    def _keep(self, stage: str, module: L.LightningModule) -> None:
        copy = {k: v.detach().clone() for k, v in module.net.state_dict().items()}
        WeightProbe.seen.setdefault(stage, []).append(copy)

    def on_validation_batch_start(self, trainer, module, *args) -> None:
        if not trainer.sanity_checking:
            self._keep("val", module)

    def on_test_batch_start(self, trainer, module, *args) -> None:
        self._keep("test", module)


def _net(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("net."):]: v for k, v in state.items() if k.startswith("net.")}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    WeightProbe.seen = {}
    run_dir = tmp_path_factory.mktemp("ema")
    result = run_train(run_dir, EMA_RUN)
    # run_train skips @hydra.main, which saves the composed config that load_denoiser reads.
    cfg = compose_train(run_dir, FAST + FAST_NATURAL + EMA_RUN)
    with open_dict(cfg):
        del cfg["hydra"]
    (run_dir / ".hydra").mkdir(exist_ok=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    return run_dir, result


def test_the_averaged_weights_are_validated_checkpointed_and_tested(ema_run) -> None:
    run_dir, result = ema_run
    assert result["weights"] == "EMA, decay 0.6"
    assert json.loads((run_dir / "metrics.json").read_text())["weights"] == "EMA, decay 0.6"
    last = safe_load(Path(result["last_checkpoint"]))
    averaged, raw = _net(last["state_dict"]), _net(last["current_model_state"])
    assert not _same(averaged, raw)  # the average lags the trained weights
    validated = WeightProbe.seen["val"]
    assert len(validated) == 2 and not _same(validated[0], validated[1])
    assert _same(validated[-1], averaged)  # the last validation scored the average
    best = safe_load(Path(result["best_checkpoint"]))
    epoch = int(Path(result["best_checkpoint"]).stem.removeprefix("epoch"))
    assert _same(_net(best["state_dict"]), validated[epoch])  # the best average, as validated
    assert best["restorelab_weights"] == "EMA, decay 0.6"
    assert _same(WeightProbe.seen["test"][0], _net(best["state_dict"]))


def test_load_denoiser_export_and_eval_read_the_averaged_weights(ema_run, tmp_path) -> None:
    from safetensors import safe_open

    from restorelab.export import export
    from restorelab.inference import load_denoiser

    run_dir, result = ema_run
    best = _net(safe_load(Path(result["best_checkpoint"]))["state_dict"])
    denoiser = load_denoiser(run_dir, device="cpu")
    assert _same(denoiser.net.state_dict(), best)
    assert "weights=EMA, decay 0.6" in repr(denoiser)
    path = export(run_dir, "safetensors", tmp_path / "model.safetensors")
    with safe_open(str(path), framework="pt") as file:
        assert _same({k: file.get_tensor(k) for k in file.keys()}, best)
        assert json.loads(file.metadata()["restorelab"])["weights"] == "EMA, decay 0.6"
    reloaded = load_denoiser(path, device="cpu")  # and the export still says so
    assert reloaded.weights == "EMA, decay 0.6"


def test_resuming_continues_the_average(ema_run, tmp_path) -> None:
    _, result = ema_run
    WeightProbe.seen = {}
    resumed = run_train(tmp_path, [*EMA_RUN[:2], "trainer.max_epochs=3", *EMA_RUN[3:],
                                   f"ckpt_path={result['last_checkpoint']}"])
    assert resumed["global_step"] == 9
    before = safe_load(Path(result["last_checkpoint"]))
    after = safe_load(Path(resumed["last_checkpoint"]))
    # Three more steps of decay 0.6 from the saved average, not a restart from the raw weights.
    start, raw = _net(before["state_dict"]), _net(after["current_model_state"])
    averaged = _net(after["state_dict"])
    key = next(k for k in averaged if averaged[k].dtype.is_floating_point)
    assert not torch.equal(averaged[key], raw[key])
    distance_kept = (averaged[key] - start[key]).norm() < (raw[key] - start[key]).norm()
    assert distance_kept


def test_decay_outside_zero_one_is_refused() -> None:
    from restorelab.callbacks import EMAWeights

    with pytest.raises(ValueError, match="decay"):
        EMAWeights(decay=1.0)


def test_cards_of_averaged_models_say_so() -> None:
    from safetensors import safe_open

    root = Path(__file__).resolve().parents[1] / "experiments"
    for weights in root.glob("*/*.safetensors"):  # every shipped export
        with safe_open(str(weights), framework="pt") as file:
            metadata = json.loads((file.metadata() or {}).get("restorelab", "{}"))
        if metadata.get("weights"):
            card = (weights.parent / "README.md").read_text()
            assert "EMA" in card, f"{weights.parent.name}: its card must say the weights are EMA"

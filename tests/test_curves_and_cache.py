"""The loss curves are drawn from the keys the trainer writes; cached eval results are keyed by the base
model's content, not its name."""
from uchi import basemodel
from uchi.trainer import curves
from uchi.trainer.loop import TrainResult


def test_validation_curve_is_drawn_from_the_run_s_own_records():
    result = TrainResult(device="cpu", precision="fp32", planned_steps=4, trainable_params=1)
    result.losses = [{"step": s, "loss": 2.0 - s / 4} for s in range(1, 5)]
    result.validations = [{"step": 2, "val_loss": 1.9, "general_loss": None, "best": True},
                          {"step": 4, "val_loss": 1.7, "general_loss": 2.2, "best": True}]
    # What _register stores in the adapter's metadata, read back as the report reads it.
    meta = {"losses": result.losses, "validations": result.validations, "best_step": 4}
    figure = curves.draw(meta["losses"], meta["validations"], meta["best_step"], "t")
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert {"train (step)", "validation", "general (replay monitor)", "kept: step 4"} <= set(labels)


def test_base_model_fingerprint_follows_content_not_name(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "config.json").write_text('{"hidden_size": 8}')
        (folder / "model.safetensors").write_bytes(b"\0" * 4096)
    assert basemodel.fingerprint(first) == basemodel.fingerprint(second)
    (second / "model.safetensors").write_bytes(b"\1" * 4096)
    basemodel.fingerprint.cache_clear()
    assert basemodel.fingerprint(first) != basemodel.fingerprint(second)

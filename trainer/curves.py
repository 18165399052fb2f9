"""The run's loss curves as a PNG beside the adapter: train loss per step, validation and general loss per
validation, the kept (best) step marked."""
from __future__ import annotations

from pathlib import Path


def plot(path: Path, losses: list[dict], validations: list[dict], best_step: int | None, title: str) -> Path:
    import matplotlib.pyplot as plt

    figure = draw(losses, validations, best_step, title)
    figure.savefig(path)
    plt.close(figure)
    return path


def draw(losses: list[dict], validations: list[dict], best_step: int | None, title: str):
    """The figure, from the run's own records (adapter metadata "losses" and "validations")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
    axes.plot([p["step"] for p in losses], [p["loss"] for p in losses], color="#9db4d6", lw=1, label="train (step)")
    for key, color, label in (("val_loss", "#d1495b", "validation"), ("general_loss", "#2e8540", "general (replay monitor)")):
        points = [(v["step"], v[key]) for v in validations if v[key] is not None]
        if points:
            axes.plot(*zip(*points), marker="o", color=color, label=label)
    if best_step is not None:
        axes.axvline(best_step, color="#555555", ls="--", lw=1, label=f"kept: step {best_step}")
    axes.set(xlabel="step", ylabel="loss", title=title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return figure

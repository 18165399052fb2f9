"""The eval report: Markdown saved per eval run (plus the per-item JSON behind it)."""
from __future__ import annotations

import json
from pathlib import Path

from uchi.config import Config
from uchi.errors import UchiError

ROWS = [("paraphrase", "paraphrased questions of trained pairs"), ("paraphrase/en", "  English"),
        ("paraphrase/ja", "  Japanese"), ("heldout", "held-out pairs (never trained)"),
        ("heldout/en", "  English"), ("heldout/ja", "  Japanese")]


def reports_dir(cfg: Config) -> Path:
    return cfg.state_dir / "reports"


def _cell(scores: dict, system: str, key: str, metric: str) -> str:
    if system not in scores or not scores[system][key]["n"]:
        return "–"
    return f"{scores[system][key][metric]:.3f}"


def render(result: dict) -> str:
    scores, baseline = result["scores"], result["baseline"]
    verdict = "PASSED" if result["passed"] else "FAILED"
    meta = result["adapter"]["metadata"]
    lines = [f"# Eval {result['id']}: {result['version']} — gate {verdict}", "",
             f"- candidate: `{result['version']}` (snapshot `{meta['snapshot']}`, {meta['n_pairs']} pairs, "
             f"trained in {meta['seconds']:.0f}s)",
             f"- production: `{result['production'] or 'base model'}`; compared against: {baseline}",
             *[f"- {reason}" for reason in result["reasons"]], ""]
    for metric, title in (("fact_recall", "Key-fact recall"), ("rouge_l", "ROUGE-L (F1, Japanese-aware)")):
        lines += [f"## {title}", "", "| set | n | base | production | candidate | Δ vs " + baseline + " |",
                  "|---|---|---|---|---|---|"]
        for key, label in ROWS:
            n = scores["candidate"][key]["n"]
            if not n:
                continue
            delta = scores["candidate"][key][metric] - scores[baseline][key][metric]
            lines.append(f"| {label} | {n} | {_cell(scores, 'base', key, metric)} | "
                         f"{_cell(scores, 'production', key, metric)} | {_cell(scores, 'candidate', key, metric)} | "
                         f"{delta:+.3f} |")
        lines.append("")
    lines += ["## Examples", "", f"| question | reference | {baseline} | candidate |", "|---|---|---|---|"]
    pairs = list(zip(result["items"][baseline], result["items"]["candidate"]))
    pairs.sort(key=lambda p: (p[1]["fact_recall"] or 0) - (p[0]["fact_recall"] or 0), reverse=True)
    for before, after in pairs[:6] + pairs[-3:]:
        cells = [before["question"], before["reference"], before["answer"], after["answer"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    losses = meta.get("losses", [])
    if losses:
        lines += ["", f"Training loss: {losses[0]['loss']:.3f} → {losses[-1]['loss']:.3f} over {len(losses)} steps."]
    return "\n".join(lines) + "\n"


def write(cfg: Config, result: dict) -> Path:
    folder = reports_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"eval-{result['id']}-{result['version']}.md"
    path.write_text(render(result), encoding="utf-8")
    detail = {k: v for k, v in result.items() if k != "adapter"}
    path.with_suffix(".json").write_text(json.dumps(detail, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def find(store, version: str) -> Path:
    row = store.one("SELECT report_path FROM evals WHERE adapter_version = ? ORDER BY id DESC LIMIT 1", [version])
    if row is None:
        raise UchiError(f"no eval for {version}: run `uchi eval {version}`")
    return Path(row["report_path"])

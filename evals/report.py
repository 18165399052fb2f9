"""The eval report: Markdown, a standalone HTML page with PNG plots, and the per-item JSON behind them.

Saved per eval run under reports/; the bot posts it, `uchi eval report VERSION` prints it.
"""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from uchi.config import Config
from uchi.errors import UchiError
from uchi.evals import gate
from uchi.evals.result import EvalResult
from uchi.trainer import curves

ROWS = [("paraphrase", "paraphrased questions of trained pairs"), ("paraphrase/en", "  English"),
        ("paraphrase/ja", "  Japanese"), ("heldout", "held-out pairs (never trained)"),
        ("heldout/en", "  English"), ("heldout/ja", "  Japanese")]
# Where paraphrased questions came from; generated ones are never mixed into the human-written rows' labels.
SOURCE_LABELS = {"employee": "employees' own questions (confirmed)", "reviewer": "reviewers' other ways to ask",
                 "import": "the import file's paraphrases", "generated": "generated rewordings (not human-written)"}
LANGUAGE_NAMES = {"en": "English", "ja": "Japanese"}
EXAMPLES = 5


def company_keys(scores: dict) -> list[tuple[str, str]]:
    """(score key, label): the fixed rows, with each paraphrase source present (and its languages) after
    the paraphrase rows, so a reader sees what the gate's evidence was made of."""
    keys = []
    for key, label in ROWS:
        keys.append((key, label))
        if key == "paraphrase/ja":
            for source, name in SOURCE_LABELS.items():
                if f"paraphrase@{source}" not in scores:
                    continue
                keys.append((f"paraphrase@{source}", f"  source: {name}"))
                keys += [(f"paraphrase@{source}/{lang}", f"    {word}") for lang, word in LANGUAGE_NAMES.items()
                         if f"paraphrase@{source}/{lang}" in scores]
    return keys


def reports_dir(cfg: Config) -> Path:
    return cfg.state_dir / "reports"


def _fmt(value, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def check_rows(result: EvalResult) -> list[list[str]]:
    rows = []
    for c in result.checks:
        interval = f"[{_fmt(c['low'], True)}, {_fmt(c['high'], True)}]" if c["low"] is not None else "–"
        verdict = ("pending" if c.get("pending") else "pass" if c["passed"] else "FAIL") if c["hard"] else "reported"
        rows.append([f"{c['gate']}: {c['metric']}", _fmt(c["reference"]), _fmt(c["candidate"]),
                     _fmt(c["delta"], True), interval, str(c["n"]), verdict])
    return rows


def company_rows(result: EvalResult, metric: str) -> list[list[str]]:
    scores, baseline, rows = result.scores, result.baseline, []
    for key, label in company_keys(scores["candidate"]):
        if not scores["candidate"][key]["n"]:
            continue
        cells = [scores[s][key][metric] if s in scores else None for s in ("base", "production", "candidate")]
        rows.append([label, str(scores["candidate"][key]["n"]), *map(_fmt, cells),
                     _fmt(scores["candidate"][key][metric] - scores[baseline][key][metric], True)])
    return rows


CONFIG_HEADER = ["set", "base", "base + retrieval", "adapter", "adapter + retrieval"]


def configuration_rows(result: EvalResult) -> list[list[str]]:
    """The four configurations side by side; the gate judged the one production serves (marked *)."""
    scores = result.scores
    if "candidate/alt" not in scores:
        return []
    on = result.retrieval_served
    order = ["base/alt", "base", "candidate/alt", "candidate"] if on else ["base", "base/alt", "candidate", "candidate/alt"]
    rows = []
    for key, metric, label in (("paraphrase", "fact_recall", "paraphrase fact recall"),
                               ("paraphrase/en", "fact_recall", "  English"), ("paraphrase/ja", "fact_recall", "  Japanese"),
                               ("heldout", "rouge_l", "held-out ROUGE-L"), ("heldout/en", "rouge_l", "  English"),
                               ("heldout/ja", "rouge_l", "  Japanese")):
        if scores["candidate"][key]["n"]:
            rows.append([label] + [_fmt(scores[name][key][metric]) + ("*" if "/" not in name else "") for name in order])
    return rows


def retrieval_rows(result: EvalResult) -> list[list[str]]:
    return [[language, str(q["n"]), _fmt(q["top1"]), _fmt(q["top3"])]
            for language, q in sorted((result.retrieval or {}).items())]


RETRIEVAL_HEADER = ["language", "paraphrased questions", "right pair first", "right pair in top 3"]
TARGET_HEADER = ["language", "n", "target", "what production serves", "short by",
                 "when retrieval put the right pair first", "when it did not", "quoted an approved answer",
                 "the model's words alone", "adapter alone (no retrieval)"]


def target_rows(result: EvalResult) -> list[list[str]]:
    """Paraphrase recall against the product's targets, and where a shortfall comes from."""
    with_n = lambda value, n: f"{_fmt(value)} (n={n})" if value is not None else "–"
    return [[t["language"], str(t["n"]), _fmt(t["target"]), _fmt(t["recall"]), _fmt(t["short_by"]),
             with_n(t["right_pair_first"], t["n_first"]), with_n(t["otherwise"], t["n_otherwise"]),
             _fmt(t.get("quoted")), _fmt(t.get("model_words")), _fmt(t["adapter_alone"])]
            for t in result.targets or []]


TARGET_NOTE = ("What production serves is the model's answer and, when the best retrieved pair is similar enough to "
               "the question, that pair's approved answer quoted beside it (retrieval.quote); the gate judges the "
               "model's words alone, which is what training changes. Recall where retrieval put the right pair "
               "first shows how well good context is used; where it did not, what the adapter knows by itself; a "
               "gap between the first and the target is the model's, a low share of right pairs first is "
               "retrieval's.")


def examples(result: EvalResult) -> tuple[list[dict], list[dict]]:
    """The best gains and the worst regressions by fact recall, then ROUGE-L."""
    pairs = [(before, after) for before, after in zip(result.items[result.baseline], result.items["candidate"])]

    def gain(pair):
        before, after = pair
        return ((after["fact_recall"] or 0) - (before["fact_recall"] or 0), after["rouge_l"] - before["rouge_l"])

    ordered = sorted(pairs, key=gain)
    worst = [p for p in ordered[:EXAMPLES] if gain(p) < (0, 0)]
    best = [p for p in ordered[::-1][:EXAMPLES] if gain(p) > (0, 0)]
    as_rows = lambda chosen: [{"question": b["question"], "reference": b["reference"], "before": b["answer"],
                               "after": a["answer"]} for b, a in chosen]
    return as_rows(best), as_rows(worst)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    clean = lambda cell: str(cell).replace("|", "\\|").replace("\n", " ")
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(clean(c) for c in row) + " |" for row in rows], ""]


def header_lines(result: EvalResult) -> list[str]:
    meta = result.adapter.metadata
    return [f"candidate `{result.version}`: snapshot `{meta['snapshot']}`, {meta['n_pairs']} pairs, "
            f"trained in {meta['seconds']:.0f}s",
            f"production `{result.production or 'base model'}`; compared against {result.baseline}",
            *result.reasons, *company_evidence(result)]


def company_evidence(result: EvalResult) -> list[str]:
    """The company check's evidence and power, also when it passed (a failure says so among the reasons)."""
    return [f"company evidence: {c['note']}" for c in result.checks
            if c["gate"] == "company" and f"company: {c['note']}" not in result.reasons]


HUMAN_EVIDENCE = {"votes": "blind side-by-side votes", "canary": "canary thumbs (per version, rollback rule held)",
                  "identical": "none needed", "forced": "none: forced", "pending": "none yet (pending)"}


def human_lines(result: EvalResult) -> list[str]:
    """Which human evidence decided the human check: blind votes, a canary's thumbs, or a forced promotion."""
    evidence = result.human
    if evidence is None:  # the eval as the harness stored it: no votes yet
        check = next((c for c in result.checks if c["gate"] == "human"), None)
        if check is None:
            return []
        evidence = {"kind": "pending" if check.get("pending") else "votes", "detail": check["note"]}
    lines = [f"decided by: {HUMAN_EVIDENCE.get(evidence['kind'], evidence['kind'])}", evidence["detail"]]
    if evidence["kind"] != "votes" and "min_votes" in evidence:
        lines.append(f"blind votes: {evidence['wins']} for the candidate, {evidence['losses']} for production, "
                     f"{evidence['ties']} ties ({evidence['wins'] + evidence['losses'] + evidence['ties']} of "
                     f"{evidence['min_votes']})")
    if evidence.get("forced") and evidence["kind"] != "forced":
        lines.append(f"the gate was overridden: {evidence['forced']}")
    if evidence["kind"] == "pending":
        lines.append(f"vote with `uchi eval vote {result.id}` or Compare blind in Slack")
    return lines


def verdict_word(result: EvalResult) -> str:
    return gate.stored_state(result.checks).upper()


CHECK_HEADER = ["metric", "production", "candidate", "Δ", "interval", "n", "verdict"]
EXAMPLE_HEADER = ["question", "reference", "before", "after"]


def render(result: EvalResult) -> str:
    lines = [f"# Eval {result.id}: {result.version} — gate {verdict_word(result)}", ""]
    lines += [f"- {line}" for line in header_lines(result)] + ["", "## Gate", ""]
    lines += _md_table(CHECK_HEADER, check_rows(result))
    if human_lines(result):
        lines += ["## Human evidence", ""] + [f"- {line}" for line in human_lines(result)] + [""]
    company_header = ["set", "n", "base", "production", "candidate", f"Δ vs {result.baseline}"]
    for metric, title in (("fact_recall", "Key-fact recall"), ("rouge_l", "ROUGE-L (F1, Japanese-aware)")):
        lines += [f"## {title}", ""] + _md_table(company_header, company_rows(result, metric))
    if configuration_rows(result):
        lines += ["## Four configurations (* = what production serves, judged by the gate)", ""]
        lines += _md_table(CONFIG_HEADER, configuration_rows(result))
        lines += ["## Retrieval", ""] + _md_table(RETRIEVAL_HEADER, retrieval_rows(result))
    if result.targets:
        lines += ["## Targets (paraphrase fact recall, reported only)", ""] + _md_table(TARGET_HEADER, target_rows(result))
        lines += [TARGET_NOTE, ""]
    if result.judge:
        lines += ["## LLM judge (1–5, reported only)", ""]
        lines += [f"- {name}: {'no grade (judge unreachable, see the log)' if score is None else score}"
                  for name, score in result.judge.items()] + [""]
    best, worst = examples(result)
    for title, chosen in (("Best gains", best), ("Worst regressions", worst)):
        lines += [f"## {title}", ""] + _md_table(EXAMPLE_HEADER, [[r[k] for k in ("question", "reference", "before",
                                                                                   "after")] for r in chosen])
    return "\n".join(lines) + "\n"


def plots(result: EvalResult) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = {}

    def save(name, fig):
        buffer = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
        made[name] = buffer.getvalue()

    scores, baseline = result.scores, result.baseline
    categories = sorted(k.split("#", 1)[1] for k in scores["candidate"] if k.startswith("paraphrase#"))
    if categories:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        width = 0.38
        for offset, system in ((-width / 2, baseline), (width / 2, "candidate")):
            values = [scores[system].get(f"paraphrase#{c}", {"fact_recall": 0})["fact_recall"] for c in categories]
            ax.bar([i + offset for i in range(len(categories))], values, width, label=system)
        ax.set_xticks(range(len(categories)), categories)
        ax.set_ylabel("fact recall")
        ax.set_title("Paraphrased questions by category")
        ax.legend()
        save("categories.png", fig)
    meta = result.adapter.metadata
    if meta.get("losses"):
        save("loss.png", curves.draw(meta["losses"], meta.get("validations", []), meta.get("best_step"), "Training loss"))
    general = [c for c in result.checks if c["gate"] == "general" and "log-prob" in c["metric"]]
    if general:
        fig, ax = plt.subplots(figsize=(7, 3))
        names = [c["metric"].split()[0] for c in general]
        ax.bar(names, [c["delta"] for c in general], yerr=[[c["delta"] - c["low"] for c in general],
                                                          [c["high"] - c["delta"] for c in general]], capsize=4)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel("Δ gold log-prob / token")
        ax.set_title("General ability vs " + baseline)
        save("general.png", fig)
    return made


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(result: EvalResult, images: dict[str, bytes]) -> str:
    verdict = verdict_word(result)
    colour = {"PASSED": "#1a7f37", "PENDING": "#9a6700"}.get(verdict, "#cf222e")
    parts = [f"<h1>Eval {result.id}: {html.escape(result.version)} — "
             f"<span style='color:{colour}'>gate {verdict}</span></h1>",
             "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in header_lines(result)) + "</ul>",
             "<h2>Gate</h2>", _html_table(CHECK_HEADER, check_rows(result))]
    if human_lines(result):
        parts += ["<h2>Human evidence</h2>",
                  "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in human_lines(result)) + "</ul>"]
    company_header = ["set", "n", "base", "production", "candidate", f"Δ vs {result.baseline}"]
    for metric, title in (("fact_recall", "Key-fact recall"), ("rouge_l", "ROUGE-L (F1, Japanese-aware)")):
        parts += [f"<h2>{title}</h2>", _html_table(company_header, company_rows(result, metric))]
    if configuration_rows(result):
        parts += ["<h2>Four configurations (* = what production serves, judged by the gate)</h2>",
                  _html_table(CONFIG_HEADER, configuration_rows(result)), "<h2>Retrieval</h2>",
                  _html_table(RETRIEVAL_HEADER, retrieval_rows(result))]
    if result.targets:
        parts += ["<h2>Targets (paraphrase fact recall, reported only)</h2>",
                  _html_table(TARGET_HEADER, target_rows(result)), f"<p>{html.escape(TARGET_NOTE)}</p>"]
    for name, png in images.items():
        parts.append(f"<img alt='{name}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    best, worst = examples(result)
    for title, chosen in (("Best gains", best), ("Worst regressions", worst)):
        parts += [f"<h2>{title}</h2>", _html_table(EXAMPLE_HEADER, [[r[k] for k in ("question", "reference", "before",
                                                                                      "after")] for r in chosen])]
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px}th{background:#f4f4f4}"
             "img{display:block;margin:1em 0;max-width:100%}")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>uchi eval {result.id}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def write(cfg: Config, result: EvalResult) -> Path:
    folder = reports_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"eval-{result.id}-{result.version}.md"
    path.write_text(render(result), encoding="utf-8")
    images = plots(result)
    for name, png in images.items():
        path.with_name(f"{path.stem}-{name}").write_bytes(png)
    path.with_suffix(".html").write_text(render_html(result, images), encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def find(store, version: str) -> Path:
    row = store.one("SELECT report_path FROM evals WHERE adapter_version = ? ORDER BY id DESC LIMIT 1", [version])
    if row is None:
        raise UchiError(f"no eval for {version}: run `uchi eval run {version}`")
    return Path(row["report_path"])

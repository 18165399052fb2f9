"""The parts import downhill: shared ground < data < trainer < evals < serving < the orchestration < the
front ends (Slack, web) < the command line. Read from the source, lazy imports included, so a cycle cannot
hide inside a function."""
import ast
import subprocess
import sys
from pathlib import Path

from uchi import config as config_module

REPO = Path(__file__).resolve().parents[1]
PARTS = {"data": 1, "trainer": 2, "evals": 3, "serving": 4, "bot": 6, "console": 6}
# Modules directly under uchi/: shared ground (0), the orchestration (5), the command line and demo (7).
TOP_LEVEL = {"config": 0, "errors": 0, "language": 0, "prompt": 0, "basemodel": 0, "modelclient": 0,
             "arguments": 0, "wheels": 0, "pipeline": 5, "cli": 7, "commands": 7, "demo": 7}


def node(module: str) -> str | None:
    """The part or top-level module an import names (uchi.data.store -> data; uchi.prompt -> uchi.prompt)."""
    parts = module.split(".")
    if parts[0] != "uchi" or len(parts) == 1:
        return None
    return parts[1] if parts[1] in PARTS else f"uchi.{parts[1]}"


def edges() -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    sources = [(part, f) for part in PARTS for f in (REPO / part).rglob("*.py")]
    sources += [(f"uchi.{f.stem}", f) for f in (REPO / "uchi").glob("*.py") if f.stem != "__init__"]
    for source, path in sources:
        for found_node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(found_node, ast.ImportFrom) and found_node.module and not found_node.level:
                names = [found_node.module] + [f"{found_node.module}.{a.name}" for a in found_node.names]
            elif isinstance(found_node, ast.Import):
                names = [a.name for a in found_node.names]
            else:
                continue
            for name in names:
                target = node(name)
                if target and target != source and (target in PARTS or target.split(".")[1] in TOP_LEVEL):
                    found.setdefault((source, target), []).append(f"{path.relative_to(REPO)}:{found_node.lineno}")
    return found


def rank(name: str) -> int:
    return PARTS[name] if name in PARTS else TOP_LEVEL[name.split(".")[1]]


def test_every_top_level_module_has_a_place():
    missing = {f.stem for f in (REPO / "uchi").glob("*.py")} - set(TOP_LEVEL) - {"__init__"}
    assert not missing, f"place these uchi/ modules in TOP_LEVEL: {missing}"


def test_parts_import_downhill_only():
    uphill = {f"{a} -> {b}": where for (a, b), where in edges().items() if rank(b) > rank(a)}
    assert not uphill, uphill


def test_the_part_graph_has_no_cycle():
    graph: dict[str, set[str]] = {}
    for a, b in edges():
        graph.setdefault(a, set()).add(b)
    state: dict[str, str] = {}

    def visit(n: str, path: list[str]) -> list[str] | None:
        state[n] = "open"
        for m in graph.get(n, ()):
            if state.get(m) == "open":
                return path + [m]
            if m not in state and (cycle := visit(m, path + [m])):
                return cycle
        state[n] = "done"
        return None

    for start in list(graph):
        if start not in state:
            cycle = visit(start, [start])
            assert cycle is None, " -> ".join(cycle)


def test_data_imports_no_other_part_and_nothing_below_the_fronts_imports_bot():
    found = edges()
    assert not [b for (a, b) in found if a == "data" and rank(b) != 0]
    assert not [a for (a, b) in found if b in ("bot", "console") and rank(a) < 7]


def test_the_benchmarks_config_names_are_the_ones_evals_implements():
    from uchi.evals.tasks import TASKS

    assert set(config_module.BENCHMARKS) == set(TASKS)


def test_the_bot_process_never_imports_the_trainer_or_torch():
    # Everything `uchi bot` loads: the app, every listener, the HTTP server and the /retrain launcher.
    code = ("import sys\nimport uchi.bot.cli, uchi.bot.app, uchi.bot.server, uchi.bot.listeners, uchi.bot.threads\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m in ('uchi.trainer.run', 'uchi.trainer.loop')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"

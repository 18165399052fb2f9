"""`uchi eval run|report|vote`."""
from __future__ import annotations

from pathlib import Path

from uchi.arguments import actor, actor_option, add, model_client, subcommands
from uchi.data.store import Store

PICKS = {"a": "left", "b": "right", "t": "tie"}


def run(cfg, args):
    from uchi.evals import human
    from uchi.evals.harness import evaluate

    with Store.open(cfg) as store:
        result = evaluate(cfg, store, model_client(cfg), args.version)
        ballot = human.ballot(cfg, store, result.id)
    print(Path(result.report_path).read_text(encoding="utf-8"))
    if ballot is not None:
        print(f"the human check waits for {ballot.needed} blind votes ({ballot.comparisons} answers differ): vote "
              f"with `uchi eval vote {ballot.eval_id}` or in Slack, or start a canary")


def report(cfg, args):
    from uchi.evals.report import find

    with Store.open(cfg) as store:
        print(find(store, args.version).read_text(encoding="utf-8"))


def vote(cfg, args):
    """Blind side-by-side in the terminal: A and B in an order derived per voter, a/b/t (q stops)."""
    from uchi.evals import human

    voter, cast = actor(args), 0
    with Store.open(cfg) as store:
        while (shown := human.next_comparison(store, args.eval_id, voter)) is not None:
            print(f"\nQuestion: {shown['question']}\n\n  A: {shown['left']}\n\n  B: {shown['right']}\n")
            pick = ""
            while pick not in PICKS and pick != "q":
                try:
                    pick = input("Which is better? a / b / t (tie) / q (stop): ").strip().lower()
                except EOFError:  # input ran out (a pipe): stop, keeping the votes cast
                    pick = "q"
            if pick == "q":
                break
            human.record_vote(cfg, store, args.eval_id, shown["item"], voter, PICKS[pick])
            cast += 1
        else:
            print("nothing left for you to compare in this eval")
        result = human.redecide(cfg, store, args.eval_id)
    count = result["votes"]
    print(f"{cast} votes recorded by {voter}; eval #{args.eval_id} has {sum(count.values())} "
          f"({count['candidate']} for the candidate, {count['production']} for production, {count['tie']} ties); "
          f"gate {result['state']}")


def register(commands) -> None:
    group = subcommands(commands, "eval", "evaluate an adapter and read eval reports")
    sub = add(group, "run", run, "evaluate VERSION against production (needs `uchi serve` running)")
    sub.add_argument("version", help="adapter version, see `uchi adapters`")
    sub = add(group, "report", report, "print the latest eval report of VERSION")
    sub.add_argument("version", help="adapter version")
    sub = add(group, "vote", vote, "compare the candidate's and production's answers of eval EVAL_ID blind, "
              "one question at a time; each vote re-decides the human check")
    sub.add_argument("eval_id", type=int, help="eval id, shown in the report and in `uchi eval run`")
    actor_option(sub)

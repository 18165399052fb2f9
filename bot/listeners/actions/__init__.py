"""Buttons: rating and correcting answers, reviewing pairs, deciding on an eval report, blind comparisons."""
from uchi.bot.listeners.actions import adapters, compare, feedback, review

ACTIONS = {
    "rate_up": feedback.rate,
    "rate_down": feedback.rate,
    "suggest": feedback.suggest,
    "review_approve": review.decide,
    "review_reject": review.decide,
    "review_edit": review.edit,
    "paraphrase_confirm": review.paraphrase,
    "paraphrase_reject": review.paraphrase,
    "adapter_promote": adapters.decide,
    "adapter_reject": adapters.decide,
    "compare_open": compare.open_,
    "compare_left": compare.vote,
    "compare_tie": compare.vote,
    "compare_right": compare.vote,
}


def register(app) -> None:
    for action_id, listener in ACTIONS.items():
        app.action(action_id)(listener)

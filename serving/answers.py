"""Answering a question with the production adapter (or, during a canary, sometimes the candidate), with
the approved pairs retrieval finds as context (as the eval asks), and logging the answer with the
version, the route and the sources that gave it."""
from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from uchi.config import Config
from uchi.data.store import Store, now
from uchi.modelclient import ModelClient
from uchi.prompt import messages, reply
from uchi.serving import canary
from uchi.serving.registry import answering

if TYPE_CHECKING:  # retrieval loads its encoder lazily; only the type is needed here
    from uchi.data.retrieval import Hit

# One retriever per store and setting, so its in-memory embeddings are built once per process.
_retrievers: dict[tuple, object] = {}
_retrieving = threading.Lock()


def sources(cfg: Config, store: Store, question: str) -> tuple[list[Hit], Hit | None]:
    """The approved pairs retrieved for the question (retrieval.Hit), best first, and the one whose answer is
    quoted verbatim (or None); none when retrieval is off."""
    if not cfg.retrieval.enabled:
        return [], None
    from uchi.data.retrieval import Retriever

    key = (str(store.path), *dataclasses.astuple(cfg.retrieval))
    with _retrieving:
        retriever = _retrievers.setdefault(key, Retriever(cfg.retrieval))
        hits = retriever.search(store, question)
        return hits, retriever.quoted(hits)


def _generate(client: ModelClient, model: str, conversation: list[dict], max_tokens: int,
              on_text: Callable[[str], None] | None) -> str:
    if on_text is None:
        return client.chat(model, conversation, max_tokens)
    text, turn = "", conversation[-1]["content"]
    for piece in client.stream_chat(model, conversation, max_tokens):
        text += piece
        on_text(reply(text, turn))
    return reply(text, turn)


@dataclass(frozen=True)
class Answer:
    """A logged answer (a row of the answers table) and the pairs retrieval gave it, best first."""
    id: int
    question: str
    answer: str
    adapter_version: str | None  # None: the base model answered
    served_model: str
    latency_ms: float
    asker: str
    channel: str
    alias: str
    canary_id: int | None
    created_at: str
    sources: list[Hit] = field(default_factory=list)
    # The source whose approved answer is shown verbatim beside `answer` (retrieval.quote), or None.
    quote: Hit | None = None


def ask(cfg: Config, store: Store, client: ModelClient, question: str, *, asker: str = "",
        channel: str = "", history: list[dict] | None = None,
        on_text: Callable[[str], None] | None = None) -> Answer:
    """`history`: earlier turns of the same conversation ({"role": "user"|"assistant", "content"}), oldest first.
    `on_text`: called with the answer so far as it is generated (streaming); the row is logged at the end."""
    alias, version, canary_id = canary.route(cfg, store, client, asker, question)
    model, version = answering(cfg, store, client, version)
    hits, quote = sources(cfg, store, question)
    conversation = list(history or []) + messages(question, context=[(h.question, h.answer) for h in hits])
    started = time.monotonic()
    text = _generate(client, model, conversation, cfg.model.max_new_tokens, on_text)
    latency_ms = round((time.monotonic() - started) * 1000, 1)
    row = {"question": question, "answer": text, "adapter_version": version, "served_model": model,
           "latency_ms": latency_ms, "asker": asker, "channel": channel, "alias": alias, "canary_id": canary_id,
           "created_at": now()}
    with store.transaction():
        answer_id = store.db["answers"].insert(row).last_pk
        store.db["answer_sources"].insert_all([{"answer_id": answer_id, "pair_id": h.pair_id, "rank": h.rank,
                                                "score": h.score, "quoted": int(h is quote)} for h in hits])
    return Answer(id=answer_id, sources=hits, quote=quote, **row)

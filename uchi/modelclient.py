"""The one model client: vLLM's OpenAI-compatible HTTP API, with timeouts, bounded retries and streaming.

Only a failed connection or a 5xx answer is retried (with exponential backoff): a timeout is not, since
the server may still be generating, and retrying would multiply the wait the user already had.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import httpx

from uchi.errors import UchiError
from uchi.prompt import STOP, reply

BACKOFF_S = 0.5
CONNECT_TIMEOUT_S = 5.0


class ModelClient:
    def __init__(self, url: str, timeout: float = 300.0, api_key: str | None = None, *, retries: int = 2):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        api_key = api_key or os.environ.get("UCHI_VLLM_API_KEY")  # serving/server.py API_KEY_ENV: vLLM's key
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_S),
                                 headers=headers)

    def close(self) -> None:
        self.http.close()

    def _unreachable(self, exc: Exception) -> UchiError:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return UchiError(f"the model server at {self.url} did not answer within {self.timeout:g}s; it may be "
                             "overloaded or asleep (`uchi wake`); raise serving.request_timeout_s if answers are long")
        return UchiError(f"the model server at {self.url} is not reachable ({type(exc).__name__}); "
                         "start it with `uchi serve` or check serving.host/port")

    def _send(self, request: httpx.Request, stream: bool = False) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                response = self.http.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                if not isinstance(exc, httpx.ConnectTimeout) or attempt == self.retries:
                    raise self._unreachable(exc) from None
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise self._unreachable(exc) from None
            else:
                if response.status_code < 500 or attempt == self.retries:
                    return response
                response.close()
            time.sleep(BACKOFF_S * 2 ** attempt)
        raise AssertionError("unreachable")

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        return self._send(self.http.build_request(method, path, **kwargs))

    def healthy(self) -> bool:
        try:
            return self.http.get("/health", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def models(self) -> list[str]:
        response = self._request("GET", "/v1/models")
        response.raise_for_status()
        return [m["id"] for m in response.json()["data"]]

    @staticmethod
    def _body(model: str, messages: list[dict], max_tokens: int, stream: bool) -> dict:
        # Greedy, so an answer is reproducible and an eval measures what users get.
        return {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0,
                "stop": STOP, "stream": stream}

    def _refused(self, model: str, response: httpx.Response) -> UchiError:
        text = response.read().decode("utf-8", "replace") if not response.is_closed else response.text
        return UchiError(f"the model server refused the request for {model!r}: {response.status_code} {text[:300]}")

    def chat(self, model: str, messages: list[dict], max_tokens: int) -> str:
        response = self._request("POST", "/v1/chat/completions", json=self._body(model, messages, max_tokens, False))
        if response.status_code != 200:
            raise self._refused(model, response)
        return reply(response.json()["choices"][0]["message"]["content"], messages[-1]["content"])

    def stream_chat(self, model: str, messages: list[dict], max_tokens: int) -> Iterator[str]:
        """The answer's text as it is generated, piece by piece (server-sent events)."""
        request = self.http.build_request("POST", "/v1/chat/completions",
                                          json=self._body(model, messages, max_tokens, True))
        response = self._send(request, stream=True)
        try:
            if response.status_code != 200:
                raise self._refused(model, response)
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
                if delta:
                    yield delta
        except httpx.TimeoutException as exc:
            raise self._unreachable(exc) from None
        finally:
            response.close()

    def prompt_logprobs(self, model: str, token_ids: list[int]) -> list[float | None]:
        """The log-prob of each prompt token given those before it (None for the first), from one forward pass:
        the completions API's prompt_logprobs, one token generated and discarded."""
        body = {"model": model, "prompt": token_ids, "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0}
        response = self._request("POST", "/v1/completions", json=body)
        if response.status_code != 200:
            raise self._refused(model, response)
        found = response.json()["choices"][0]["prompt_logprobs"]
        return [None if entry is None else entry[str(token)]["logprob"] for token, entry in zip(token_ids, found)]

    def load_adapter(self, name: str, path: str) -> None:
        response = self._request("POST", "/v1/load_lora_adapter", json={"lora_name": name, "lora_path": path})
        if response.status_code != 200 and "already" not in response.text:
            raise UchiError(f"vLLM could not load adapter {name} from {path}: {response.text[:300]}")

    def unload_adapter(self, name: str) -> None:
        response = self._request("POST", "/v1/unload_lora_adapter", json={"lora_name": name})
        if response.status_code not in (200, 404):
            raise UchiError(f"vLLM could not unload adapter {name}: {response.text[:300]}")

    def _dev(self, path: str, params: dict | None = None) -> dict:
        response = self._request("POST" if path != "/is_sleeping" else "GET", path, params=params)
        if response.status_code == 404:
            raise UchiError(f"the model server at {self.url} has no {path} endpoint: set serving.sleep_mode = true "
                            "and restart `uchi serve`")
        if response.status_code != 200:
            raise UchiError(f"vLLM refused {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def sleep(self, level: int = 1) -> None:
        """Free the accelerator for training: level 1 offloads weights to CPU RAM and drops the KV cache,
        level 2 drops the weights too (a wake-up reloads them). Answers under way finish first; new
        questions wait until wake_up()."""
        if level not in (1, 2):
            raise UchiError(f"sleep level must be 1 (keep weights in RAM) or 2 (drop them), not {level}")
        self._dev("/sleep", {"level": level, "mode": "wait"})

    def wake_up(self) -> None:
        self._dev("/wake_up")

    def is_sleeping(self) -> bool:
        return bool(self._dev("/is_sleeping")["is_sleeping"])

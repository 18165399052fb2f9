"""The one model client: vLLM's OpenAI-compatible HTTP API, with timeouts and bounded retries."""
from __future__ import annotations

import time

import httpx

from uchi.errors import UchiError

RETRIES = 2


class ModelClient:
    def __init__(self, url: str, timeout: float = 300.0, api_key: str | None = None):
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout, connect=5.0), headers=headers)

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        for attempt in range(RETRIES + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == RETRIES:
                    raise UchiError(f"the model server at {self.url} is not reachable ({type(exc).__name__}); "
                                    "start it with `uchi serve` or check serving.host/port") from None
                time.sleep(0.5 * 2 ** attempt)
                continue
            if response.status_code >= 500 and attempt < RETRIES:
                time.sleep(0.5 * 2 ** attempt)
                continue
            return response
        raise AssertionError("unreachable")

    def healthy(self) -> bool:
        try:
            return self.http.get("/health", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def models(self) -> list[str]:
        response = self._request("GET", "/v1/models")
        response.raise_for_status()
        return [m["id"] for m in response.json()["data"]]

    def chat(self, model: str, messages: list[dict], max_tokens: int) -> str:
        """Greedy, so an answer is reproducible and an eval measures what users get."""
        response = self._request("POST", "/v1/chat/completions", json={
            "model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0})
        if response.status_code != 200:
            raise UchiError(f"the model server refused the request for {model!r}: "
                            f"{response.status_code} {response.text[:300]}")
        return response.json()["choices"][0]["message"]["content"].strip()

    def load_adapter(self, name: str, path: str) -> None:
        response = self._request("POST", "/v1/load_lora_adapter", json={"lora_name": name, "lora_path": path})
        if response.status_code != 200 and "already" not in response.text:
            raise UchiError(f"vLLM could not load adapter {name} from {path}: {response.text[:300]}")

    def unload_adapter(self, name: str) -> None:
        response = self._request("POST", "/v1/unload_lora_adapter", json={"lora_name": name})
        if response.status_code not in (200, 404):
            raise UchiError(f"vLLM could not unload adapter {name}: {response.text[:300]}")

"""Teacher backends behind one call, `chat(conversations, sampling) -> texts`: in-cluster vLLM engines, or an
OpenAI-compatible HTTP endpoint. (The symbolic teacher needs no chat: its problems carry exact solutions.)

The HTTP client takes its key only from the environment variable named by `teacher.api_key_env`; the key is
never logged, written or put in an error message.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
from typing import Protocol

from orca_ray.config import TeacherConfig
from orca_ray.errors import TeacherError

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class TeacherClient(Protocol):
    def chat(self, conversations: list[list[dict]], sampling: dict) -> list[list[str]]:
        """For each conversation, `sampling.get('n', 1)` reply texts."""
        ...


class EngineTeacher:
    """Sends requests to in-cluster vLLM engine actors (AsyncGenerationEngine handles), spread over them."""

    def __init__(self, handles: list):
        if not handles:
            raise TeacherError("no teacher engines are running")
        self.handles = handles
        self._next = itertools.cycle(range(len(handles)))

    def chat(self, conversations: list[list[dict]], sampling: dict) -> list[list[str]]:
        import ray

        if not conversations:
            return []
        handle = self.handles[next(self._next)]
        results = ray.get(handle.chat.remote(conversations, sampling))
        return [[c.text for c in completions] for completions in results]


class OpenAITeacher:
    """An OpenAI-compatible chat endpoint: bounded concurrency, a timeout per request, retries with backoff."""

    def __init__(self, config: TeacherConfig):
        if not config.base_url or not config.model:
            raise TeacherError("teacher.backend 'openai' needs teacher.base_url and teacher.model")
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self._key_present = bool(os.environ.get(config.api_key_env))
        if not self._key_present:
            log.warning("$%s is not set: calling %s without an API key", config.api_key_env, config.base_url)

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.config.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def chat(self, conversations: list[list[dict]], sampling: dict) -> list[list[str]]:
        if not conversations:
            return []
        return asyncio.run(self._chat_all(conversations, sampling))

    async def _chat_all(self, conversations: list[list[dict]], sampling: dict) -> list[list[str]]:
        import httpx

        limit = asyncio.Semaphore(self.config.max_concurrency)
        timeout = httpx.Timeout(self.config.timeout_s)
        async with httpx.AsyncClient(timeout=timeout, headers=self._headers()) as client:

            async def one(messages: list[dict]) -> list[str]:
                async with limit:
                    return await self._request(client, messages, sampling)

            return list(await asyncio.gather(*(one(m) for m in conversations)))

    def _body(self, messages: list[dict], sampling: dict) -> dict:
        body = {"model": self.config.model, "messages": messages}
        for key in ("n", "temperature", "top_p", "max_tokens", "seed", "stop"):
            if key in sampling:
                body[key] = sampling[key]
        return body

    async def _request(self, client, messages: list[dict], sampling: dict) -> list[str]:
        import httpx

        attempts = self.config.max_retries + 1
        last = ""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)) * (1 + random.random() / 4))
            try:
                response = await client.post(self.url, json=self._body(messages, sampling))
            except httpx.ConnectError as err:
                last = f"cannot connect to {self.config.base_url} ({_reason(err)})"
                continue
            except httpx.TimeoutException:
                last = f"no reply from {self.config.base_url} within teacher.timeout_s={self.config.timeout_s}"
                continue
            except httpx.HTTPError as err:
                last = f"request to {self.config.base_url} failed ({type(err).__name__})"
                continue
            if response.status_code in (401, 403):
                raise TeacherError(
                    f"{self.config.base_url} refused the API key from ${self.config.api_key_env} "
                    f"(HTTP {response.status_code}); check teacher.api_key_env"
                    + ("" if self._key_present else f" -- ${self.config.api_key_env} is not set")
                )
            if response.status_code == 404:
                raise TeacherError(
                    f"{self.url} answered 404: check teacher.base_url (should end in /v1) and teacher.model "
                    f"('{self.config.model}' must be a model the endpoint serves)"
                )
            if response.status_code in _RETRYABLE_STATUS:
                last = f"{self.config.base_url} answered HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise TeacherError(f"{self.url} answered HTTP {response.status_code}: {response.text[:300]}")
            return _texts(response, self.url)
        raise TeacherError(f"teacher endpoint failed after {attempts} attempts: {last}")


def check_endpoint(config: TeacherConfig, timeout_s: float = 10.0) -> None:
    """Raise a TeacherError naming teacher.base_url when nothing answers there (refused, unknown host, no reply
    within `timeout_s`) or it refuses the key; any other HTTP reply means a server listens. Called before a job
    starts its conversations, so a dead endpoint stops it at once instead of failing every conversation."""
    import httpx

    if not config.base_url:
        raise TeacherError("teacher.backend 'openai' needs teacher.base_url")
    url = config.base_url.rstrip("/") + "/models"
    key = os.environ.get(config.api_key_env)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(url, headers=headers, timeout=min(timeout_s, config.timeout_s))
    except httpx.ConnectError as err:
        raise TeacherError(f"cannot connect to teacher.base_url={config.base_url} ({_reason(err)})") from None
    except httpx.TimeoutException:
        raise TeacherError(
            f"no reply from teacher.base_url={config.base_url} within {min(timeout_s, config.timeout_s):g} s"
        ) from None
    except httpx.HTTPError as err:
        raise TeacherError(f"teacher.base_url={config.base_url}: {type(err).__name__}: {str(err)[:200]}") from None
    if response.status_code in (401, 403):
        raise TeacherError(
            f"teacher.base_url={config.base_url} refused the API key from ${config.api_key_env} "
            f"(HTTP {response.status_code}); check teacher.api_key_env"
        )


def _reason(err: BaseException) -> str:
    """The root cause of a connect error (httpx's async client says only 'All connection attempts failed')."""
    seen = err
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return "connection refused: is the server running, and is teacher.base_url right?"
        seen = seen.__cause__ or seen.__context__
    return (str(err) or type(err).__name__)[:200]


def _texts(response, url: str) -> list[str]:
    try:
        choices = response.json()["choices"]
        return [choice["message"]["content"] or "" for choice in choices]
    except (ValueError, KeyError, TypeError) as err:
        raise TeacherError(f"{url} returned a reply that is not a chat completion: {response.text[:300]}") from err


def make_teacher_client(config: TeacherConfig, engine_handles: list | None = None) -> TeacherClient | None:
    """The configured teacher's chat client, or None for the symbolic teacher."""
    if config.backend == "openai":
        return OpenAITeacher(config)
    if config.backend == "vllm":
        return EngineTeacher(engine_handles or [])
    return None

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
from typing import Protocol

from orca_ray.config import TeacherConfig
from orca_ray.errors import TeacherError

log = logging.getLogger(__name__)

# What the SDK retries by itself (408, 409, 429, 5xx): when these remain after its retries, say how many it made.
_RETRIED_STATUS = {408, 409, 429, *range(500, 600)}
# The sampling fields an OpenAI-compatible endpoint takes.
_SAMPLING_KEYS = ("n", "temperature", "top_p", "max_tokens", "seed", "stop")


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
    """An OpenAI-compatible chat endpoint through the openai SDK's AsyncOpenAI, which retries connection errors,
    timeouts, 408/409/429 and 5xx `teacher.max_retries` times with backoff (honouring Retry-After) and times each
    request out after `teacher.timeout_s`; at most `teacher.max_concurrency` requests are in flight."""

    def __init__(self, config: TeacherConfig):
        if not config.base_url or not config.model:
            raise TeacherError("teacher.backend 'openai' needs teacher.base_url and teacher.model")
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self._key_present = bool(os.environ.get(config.api_key_env))
        if not self._key_present:
            log.warning("$%s is not set: calling %s without an API key", config.api_key_env, config.base_url)

    def chat(self, conversations: list[list[dict]], sampling: dict) -> list[list[str]]:
        if not conversations:
            return []
        return asyncio.run(self._chat_all(conversations, sampling))

    async def _chat_all(self, conversations: list[list[dict]], sampling: dict) -> list[list[str]]:
        limit = asyncio.Semaphore(self.config.max_concurrency)
        async with sdk_client(self.config, asynchronous=True) as client:

            async def one(messages: list[dict]) -> list[str]:
                async with limit:
                    return await self._request(client, messages, sampling)

            return list(await asyncio.gather(*(one(m) for m in conversations)))

    async def _request(self, client, messages: list[dict], sampling: dict) -> list[str]:
        import openai

        params = {key: sampling[key] for key in _SAMPLING_KEYS if key in sampling}
        try:
            completion = await client.chat.completions.create(model=self.config.model, messages=messages, **params)
        except openai.APIError as err:
            raise self._error(err) from None
        try:
            return [choice.message.content or "" for choice in completion.choices]
        except (AttributeError, TypeError):
            raise TeacherError(
                f"{self.url} returned a reply that is not a chat completion: {completion!s:.300}"
            ) from None

    def _error(self, err: Exception) -> TeacherError:
        """What went wrong, naming the URL and the setting to check; never the key."""
        import openai

        config, attempts = self.config, self.config.max_retries + 1
        if isinstance(err, openai.APITimeoutError):
            last = f"no reply from {config.base_url} within teacher.timeout_s={config.timeout_s}"
        elif isinstance(err, openai.APIConnectionError):
            last = f"cannot connect to {config.base_url} ({_reason(err)})"
        elif isinstance(err, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return TeacherError(
                f"{config.base_url} refused the API key from ${config.api_key_env} (HTTP {err.status_code}); check "
                "teacher.api_key_env" + ("" if self._key_present else f" -- ${config.api_key_env} is not set")
            )
        elif isinstance(err, openai.NotFoundError):
            return TeacherError(
                f"{self.url} answered 404: check teacher.base_url (should end in /v1) and teacher.model "
                f"('{config.model}' must be a model the endpoint serves)"
            )
        elif isinstance(err, openai.APIStatusError) and err.status_code not in _RETRIED_STATUS:
            return TeacherError(f"{self.url} answered HTTP {err.status_code}: {err.response.text[:300]}")
        elif isinstance(err, openai.APIStatusError):
            last = f"{config.base_url} answered HTTP {err.status_code}"
        else:
            last = f"request to {config.base_url} failed ({type(err).__name__}: {str(err)[:200]})"
        return TeacherError(f"teacher endpoint failed after {attempts} attempts: {last}")


def sdk_client(config: TeacherConfig, asynchronous: bool = False, max_retries: int | None = None, timeout_s=None):
    """The openai SDK's client for teacher.base_url, with the key from $teacher.api_key_env only (never the SDK's
    own OPENAI_API_KEY fallback)."""
    import openai

    # A server started without a key (vLLM's default) ignores it; "EMPTY" is vLLM's documented placeholder, and an
    # explicit value keeps the SDK from reading OPENAI_API_KEY.
    key = os.environ.get(config.api_key_env) or "EMPTY"
    client_type = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    return client_type(
        api_key=key,
        base_url=config.base_url,
        timeout=config.timeout_s if timeout_s is None else timeout_s,
        max_retries=config.max_retries if max_retries is None else max_retries,
    )


def check_endpoint(config: TeacherConfig, timeout_s: float = 10.0) -> None:
    """Raise a TeacherError naming teacher.base_url when nothing answers there (refused, unknown host, no reply
    within `timeout_s`) or it refuses the key; any other HTTP reply means a server listens. Called before a job
    starts its conversations, so a dead endpoint stops it at once instead of failing every conversation."""
    import openai

    if not config.base_url:
        raise TeacherError("teacher.backend 'openai' needs teacher.base_url")
    wait = min(timeout_s, config.timeout_s)
    try:
        with sdk_client(config, max_retries=0, timeout_s=wait) as client:
            client.models.with_raw_response.list()
    except openai.APITimeoutError:
        raise TeacherError(f"no reply from teacher.base_url={config.base_url} within {wait:g} s") from None
    except openai.APIConnectionError as err:
        raise TeacherError(f"cannot connect to teacher.base_url={config.base_url} ({_reason(err)})") from None
    except (openai.AuthenticationError, openai.PermissionDeniedError) as err:
        raise TeacherError(
            f"teacher.base_url={config.base_url} refused the API key from ${config.api_key_env} "
            f"(HTTP {err.status_code}); check teacher.api_key_env"
        ) from None
    except openai.APIError:  # any other answer: a server listens there
        return


def _reason(err: BaseException) -> str:
    """The root cause of a connect error (the SDK says only 'Connection error.')."""
    seen = err
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return "connection refused: is the server running, and is teacher.base_url right?"
        seen = seen.__cause__ or seen.__context__
    return (str(err) or type(err).__name__)[:200]


def make_teacher_client(config: TeacherConfig, engine_handles: list | None = None) -> TeacherClient | None:
    """The configured teacher's chat client, or None for the symbolic teacher."""
    if config.backend == "openai":
        return OpenAITeacher(config)
    if config.backend == "vllm":
        return EngineTeacher(engine_handles or [])
    return None

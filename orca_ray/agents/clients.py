"""Model clients the agents talk through: AutoGen's OpenAI-compatible client for any endpoint (a vLLM server
included), ours for vLLM engine actors inside the cluster (no external API), and canned replies for tests.

`LocalChatClient` is one AutoGen `ChatCompletionClient` over any async `complete(conversation, sampling)`:
`EngineCompletions` sends the conversation to a `GenerationEngine` / `AsyncGenerationEngine` actor,
`ScriptedReplies` answers from a list or a function and records what it was sent.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema

from orca_ray.config import TeacherConfig
from orca_ray.distributed.engine import Completion
from orca_ray.errors import TeacherError

log = logging.getLogger(__name__)

# What our clients can do: plain text in and out. No tools, so agents never run anything a model wrote.
TEXT_ONLY_MODEL_INFO: ModelInfo = {
    "vision": False,
    "function_calling": False,
    "json_output": False,
    "family": "unknown",
    "structured_output": False,
    "multiple_system_messages": False,
}
_SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop")
_FINISH_REASONS = {"stop": "stop", "length": "length", "abort": "unknown"}


def to_chat_messages(messages: Sequence[LLMMessage]) -> list[dict]:
    """AutoGen messages as chat-template dicts. Consecutive messages of one role are merged, because several
    chat templates require user and assistant turns to alternate (in a group chat, two agents speak in a row)."""
    chat: list[dict] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            role = "system"
        elif isinstance(message, UserMessage):
            role = "user"
        elif isinstance(message, AssistantMessage):
            role = "assistant"
        else:
            raise ValueError(f"{type(message).__name__} is not supported: these agents have no tools")
        content = message.content
        if not isinstance(content, str):
            raise ValueError(f"{role} message with non-text content: these agents read and write text only")
        if chat and chat[-1]["role"] == role:
            chat[-1] = {"role": role, "content": f"{chat[-1]['content']}\n\n{content}"}
        else:
            chat.append({"role": role, "content": content})
    return chat


def _estimate_tokens(chat: list[dict]) -> int:
    # No tokenizer on the client side: about 4 characters a token for English text.
    return sum(len(m["content"]) for m in chat) // 4 + 4 * len(chat)


class LocalChatClient(ChatCompletionClient):
    """An AutoGen model client over `complete(conversation, sampling) -> Completion` (an async callable).

    `sampling` holds the defaults of every request (temperature, max_tokens, ...); AutoGen's `extra_create_args`
    override them per call."""

    def __init__(self, complete: Callable, *, sampling: Mapping[str, Any] | None = None, context_tokens: int = 4096):
        self.model = complete
        self.sampling = dict(sampling or {})
        self.context_tokens = context_tokens
        self._last = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._total = RequestUsage(prompt_tokens=0, completion_tokens=0)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type | None = None,
        extra_create_args: Mapping[str, Any] = {},  # noqa: B006 - AutoGen's signature
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        if tools:
            raise ValueError("LocalChatClient takes no tools: agents never execute model output")
        if json_output:
            raise ValueError("LocalChatClient has no JSON or structured output mode")
        chat = to_chat_messages(messages)
        sampling = {**self.sampling, **{k: v for k, v in extra_create_args.items() if k in _SAMPLING_KEYS}}
        completion: Completion = await self.model(chat, sampling)
        usage = RequestUsage(prompt_tokens=_estimate_tokens(chat), completion_tokens=completion.num_tokens)
        self._last = usage
        self._total = RequestUsage(
            self._total.prompt_tokens + usage.prompt_tokens, self._total.completion_tokens + usage.completion_tokens
        )
        return CreateResult(
            finish_reason=_FINISH_REASONS.get(completion.finish_reason or "", "unknown"),
            content=completion.text,
            usage=usage,
            cached=False,
        )

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type | None = None,
        extra_create_args: Mapping[str, Any] = {},  # noqa: B006 - AutoGen's signature
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        """No token streaming: the whole reply, then its result."""
        result = await self.create(messages, tools=tools, json_output=json_output, extra_create_args=extra_create_args)
        yield result.content
        yield result

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return self._last

    def total_usage(self) -> RequestUsage:
        return self._total

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        """An estimate (about 4 characters a token): the engine holds the tokenizer, not this client."""
        return _estimate_tokens(to_chat_messages(messages))

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        return max(0, self.context_tokens - self.count_tokens(messages))

    @property
    def capabilities(self):  # deprecated in AutoGen; still abstract
        return {k: TEXT_ONLY_MODEL_INFO[k] for k in ("vision", "function_calling", "json_output")}

    @property
    def model_info(self) -> ModelInfo:
        return TEXT_ONLY_MODEL_INFO


class EngineCompletions:
    """`complete` over vLLM engine actors in the cluster (`chat(conversations, sampling, adapter)`), taking the
    actors in turn. Awaiting the Ray reference keeps the event loop free for other conversations."""

    def __init__(self, engines: Sequence):
        if not engines:
            raise TeacherError("no vLLM engine actors to send agent requests to")
        self.engines = list(engines)
        self._turn = itertools.cycle(range(len(self.engines)))

    async def __call__(self, conversation: list[dict], sampling: dict) -> Completion:
        engine = self.engines[next(self._turn)]
        (completions,) = await engine.chat.remote([conversation], sampling)
        return completions[0]


class ScriptedReplies:
    """Canned replies for tests: a list used in order, or a function of (conversation, sampling) returning text.
    Every conversation it was sent is kept in `calls`, in order."""

    def __init__(self, replies: Sequence[str] | Callable[[list[dict], dict], str]):
        self._next = replies if callable(replies) else iter(list(replies)).__next__
        self._is_function = callable(replies)
        self.calls: list[list[dict]] = []

    async def __call__(self, conversation: list[dict], sampling: dict) -> Completion:
        self.calls.append(conversation)
        try:
            text = self._next(conversation, sampling) if self._is_function else self._next()
        except StopIteration:
            raise AssertionError(f"the script ran out of replies after {len(self.calls) - 1} calls") from None
        return Completion(text=text, num_tokens=max(1, len(text) // 4), finish_reason="stop")


def scripted_client(replies: Sequence[str] | Callable[[list[dict], dict], str]) -> LocalChatClient:
    """A model client with canned replies; `client.model.calls` holds what each call was sent."""
    return LocalChatClient(ScriptedReplies(replies))


def openai_client(teacher: TeacherConfig, *, temperature: float, max_tokens: int) -> ChatCompletionClient:
    """AutoGen's client for an OpenAI-compatible endpoint (OpenAI, a vLLM server, ...). The key comes only from
    the variable named by `teacher.api_key_env` and is never logged."""
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    if not teacher.model or not teacher.base_url:
        raise TeacherError("teacher.backend 'openai' needs teacher.model and teacher.base_url")
    key = os.environ.get(teacher.api_key_env)
    if not key:
        # A local vLLM server wants no key, but the client refuses an empty one.
        log.warning("$%s is not set: calling %s without an API key", teacher.api_key_env, teacher.base_url)
    return OpenAIChatCompletionClient(
        model=teacher.model,
        base_url=teacher.base_url,
        api_key=key or "EMPTY",
        model_info=TEXT_ONLY_MODEL_INFO,  # required for model names OpenAI does not know
        timeout=teacher.timeout_s,
        max_retries=teacher.max_retries,
        temperature=temperature,
        max_tokens=max_tokens,
        include_name_in_message=False,  # vLLM's chat templates know no 'name' field
    )


@dataclass(frozen=True)
class ClientFactory:
    """Builds a model client inside a Ray worker (clients hold event-loop state and do not travel): vLLM engine
    actors ('engine') or an OpenAI-compatible endpoint ('openai'). Picklable."""

    backend: Literal["engine", "openai"]
    engines: tuple = ()
    teacher: TeacherConfig | None = None
    context_tokens: int = 4096

    def __call__(self, *, temperature: float, max_tokens: int) -> ChatCompletionClient:
        if self.backend == "openai":
            if self.teacher is None:
                raise TeacherError("an 'openai' client factory needs the teacher config")
            return openai_client(self.teacher, temperature=temperature, max_tokens=max_tokens)
        return LocalChatClient(
            EngineCompletions(self.engines),
            sampling={"temperature": temperature, "max_tokens": max_tokens},
            context_tokens=self.context_tokens,
        )

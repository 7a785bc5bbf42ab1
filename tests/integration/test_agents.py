"""Both agent flows on AutoGen, driven by a scripted model client (no LLM): who speaks when, what each agent is
sent, which rows survive the teacher's answers and the filters, and our engine-backed client's contract."""

from __future__ import annotations

import asyncio
import re

import pytest
from autogen_core.models import AssistantMessage, SystemMessage, UserMessage

from orca_ray.agents import flows, prompts
from orca_ray.agents.clients import (
    ClientFactory,
    EngineCompletions,
    LocalChatClient,
    scripted_client,
    to_chat_messages,
)
from orca_ray.config import SynthesisConfig, TeacherConfig
from orca_ray.core.prompts import TEACHER_SYSTEM
from orca_ray.distributed.engine import Completion
from orca_ray.schemas import Lineage, Problem

pytestmark = pytest.mark.slow

SEED = Problem(id="seed-7", question="Tom has 16 apples and eats 3 of them. How many apples are left?", answer="13")
LINEAGE = Lineage(run_id="run-1", source="synthesis", seed=5)


def role(conversation: list[dict]) -> str:
    system = conversation[0]["content"]
    return {
        prompts.SUGGESTER_SYSTEM: "suggester",
        prompts.EDITOR_SYSTEM: "editor",
        prompts.ASK_ME_ANYTHING_SYSTEM: "ama",
        TEACHER_SYSTEM: "teacher",
    }[system]


def run(coroutine):
    return asyncio.run(coroutine)


# ---------------------------------------------------------------- Suggester-Editor


def test_suggester_then_editor_each_round_and_each_sees_what_it_needs():
    turns = {"suggester": 0, "editor": 0}

    def reply(conversation, _sampling):
        who = role(conversation)
        turns[who] += 1
        if who == "suggester":
            return f"Suggestion {turns[who]}: add a discount."
        return f"Problem: Tom buys {9 + turns[who]} apples at $2 each with a discount. How much does he pay?"

    client = scripted_client(reply)
    result = run(flows.suggester_editor(SEED.question, client, rounds=2))

    assert [t.source for t in result.transcript] == ["user", "suggester", "editor", "suggester", "editor"]
    assert [role(c) for c in client.model.calls] == ["suggester", "editor", "suggester", "editor"]
    first_suggester, first_editor, second_suggester, second_editor = client.model.calls
    assert SEED.question in first_suggester[-1]["content"]
    assert SEED.question in first_editor[-1]["content"] and "Suggestion 1" in first_editor[-1]["content"]
    # Round 2 works on round 1's rewrite, following round 2's suggestions.
    assert "Tom buys 10 apples" in second_suggester[-1]["content"]
    assert any("Tom buys 10 apples" in m["content"] for m in second_editor)
    assert "Suggestion 2" in second_editor[-1]["content"] and "Suggestion 1" not in str(second_editor)
    assert result.agent == prompts.SUGGESTER_EDITOR
    assert result.problems == ["Tom buys 11 apples at $2 each with a discount. How much does he pay?"]


@pytest.mark.parametrize("rounds", [1, 3])
def test_the_number_of_rounds_is_configurable(rounds):
    client = scripted_client(
        lambda c, _s: "Make it two steps." if role(c) == "suggester" else "Problem: Ann has 4 bags of 6 pens. How many?"
    )
    result = run(flows.suggester_editor(SEED.question, client, rounds=rounds))
    assert [t.source for t in result.transcript[1:]] == ["suggester", "editor"] * rounds


def test_the_latest_rewrite_that_reads_as_a_problem_is_the_result():
    replies = iter(["Problem: Ann has 4 bags of 6 pens. How many pens?", "I cannot do that."])
    client = scripted_client(lambda c, _s: "Add a step." if role(c) == "suggester" else next(replies))
    assert run(flows.suggester_editor(SEED.question, client, rounds=2)).problems == [
        "Ann has 4 bags of 6 pens. How many pens?"
    ]
    client = scripted_client(lambda c, _s: "Add a step." if role(c) == "suggester" else "Sure.")
    assert run(flows.suggester_editor(SEED.question, client, rounds=2)).problems == []


# ---------------------------------------------------------------- Ask Me Anything


def test_ask_me_anything_is_one_turn_from_the_seed_and_its_answer():
    client = scripted_client(
        [
            "Problem 1: Tom had some apples, ate 3 and has 13 left. How many apples did he have?\n"
            "Problem 2: Tom had 16 apples and has 13 left. How many did he eat?\n"
            "Problem 3: Tom ate 3 apples of 16. What share did he eat?"
        ]
    )
    result = run(flows.ask_me_anything(SEED.question, SEED.answer, client, n=2))
    assert [t.source for t in result.transcript] == ["user", prompts.ASK_ME_ANYTHING]
    (call,) = client.model.calls
    assert call[0] == {"role": "system", "content": prompts.ASK_ME_ANYTHING_SYSTEM}
    assert SEED.question in call[1]["content"] and "Answer: 13" in call[1]["content"]
    assert result.problems == [
        "Tom had some apples, ate 3 and has 13 left. How many apples did he have?",
        "Tom had 16 apples and has 13 left. How many did he eat?",
    ]


# ---------------------------------------------------------------- one seed through agents, teacher and filters

AMA_REPLY = (
    "Problem 1: Tom had some apples, ate 3 and has 13 left. How many apples did he have at first?\n"
    "Problem 2: Tom guesses how many of his 16 apples are red. How many are red?\n"
    "Problem 3: Tom had 16 apples and gave 3 to each of his 2 friends. How many apples are left?"
)
EDITED = "Problem: Tom has 16 apples, eats 3, then buys 5 bags of 4 apples. How many apples does he have?"


def scripted_world(conversation, _sampling, counter=[0]):  # noqa: B006 - a call counter for disagreeing answers
    who = role(conversation)
    if who == "ama":
        return AMA_REPLY
    if who == "suggester":
        return "Add a purchase of several bags."
    if who == "editor":
        return EDITED
    question = conversation[-1]["content"]
    counter[0] += 1
    if "guesses" in question:  # the teacher cannot agree with itself on this one
        return f"Maybe {counter[0]}.\nThe answer is {counter[0]}."
    if "friends" in question:  # agrees, but at great length
        return "Let us think. " * 200 + "\nThe answer is 10."
    if "at first" in question:
        return "13 + 3 = 16.\nThe answer is 16."
    return "16 - 3 = 13 and 5 x 4 = 20, so 13 + 20 = 33. The answer is 33"  # no final line: appended


def test_one_seed_end_to_end_keeps_consistent_short_problems_with_lineage():
    synthesis = SynthesisConfig(ask_me_anything_per_seed=3, suggester_editor_rounds=2, answers_per_problem=3)
    client = scripted_client(scripted_world)
    result = run(flows.synthesize_seed(SEED, client, client, synthesis, LINEAGE))

    counts = result.counts
    for stage, ama, se in [
        ("seeds", 1, 1),
        ("generated", 3, 1),
        ("answered", 3, 1),
        ("consistent", 2, 1),  # 'guesses' disagrees
        ("within_length", 1, 1),  # 'friends' is too long
    ]:
        assert (counts.get(stage, "ask_me_anything"), counts.get(stage, "suggester_editor")) == (ama, se), stage
    assert result.errors == {}
    by_agent = {row.family: row for row in result.rows}
    ama, se = by_agent["ask_me_anything"], by_agent["suggester_editor"]
    assert ama.question.endswith("How many apples did he have at first?")
    assert (ama.answer, ama.source, ama.id) == ("16", "synthesis:ask_me_anything", "seed-7~ask_me_anything-0")
    assert ama.solution == "13 + 3 = 16.\nThe answer is 16."
    assert (se.answer, se.source, se.id) == ("33", "synthesis:suggester_editor", "seed-7~suggester_editor-0")
    assert se.solution.endswith("The answer is 33\nThe answer is 33.")
    assert (se.run_id, se.seed) == ("run-1", 5)
    teacher_calls = [c for c in client.model.calls if role(c) == "teacher"]
    assert len(teacher_calls) == 3 * 4  # k solutions of each of the 4 new problems
    conversations = [t for t in result.trace if t["kind"] == "conversation"]
    assert sorted(t["agent"] for t in conversations) == ["ask_me_anything", "suggester_editor"]
    verdicts = sorted((t["agent"], t["verdict"]) for t in result.trace if t["kind"] == "judged")
    assert verdicts == [
        ("ask_me_anything", "answers disagree"),
        ("ask_me_anything", "kept"),
        ("ask_me_anything", "solution too long"),
        ("suggester_editor", "kept"),
    ]


def test_a_failed_conversation_is_counted_and_the_other_flow_still_yields():
    def world(conversation, sampling):
        if role(conversation) == "suggester":
            raise ConnectionError("engine went away")
        return scripted_world(conversation, sampling)

    client = scripted_client(world)
    synthesis = SynthesisConfig(ask_me_anything_per_seed=3, suggester_editor_rounds=2, answers_per_problem=3)
    result = run(flows.synthesize_seed(SEED, client, client, synthesis, LINEAGE))
    assert result.errors == {"suggester_editor": 1}
    assert "ConnectionError: engine went away" in result.first_error
    assert result.counts.get("seeds", "suggester_editor") == 1
    assert result.counts.get("generated", "suggester_editor") == 0
    assert [row.family for row in result.rows] == ["ask_me_anything"]


def test_a_known_exact_answer_is_verified_instead_of_voted():
    candidate = flows.Candidate("symbolic", 0, "Ann has 2 bags of 3 pens. How many pens?", "6", "2 x 3 = 6.")
    synthesis = SynthesisConfig(answers_per_problem=2)
    counts = flows.YieldCounts()
    client = scripted_client(["The answer is 5.", "The answer is 7."])  # wrong and disagreeing
    row = run(flows.judge_candidate(SEED, candidate, client, synthesis, LINEAGE, counts))
    assert (row.answer, row.solution) == ("6", "2 x 3 = 6.\nThe answer is 6.")
    assert counts.get("consistent", "symbolic") == 1
    assert len(client.model.calls) == 2
    # An LLM teacher's solution that reaches the exact answer is preferred to the symbolic one.
    client = scripted_client(["I think 7.\nThe answer is 7.", "Two bags of three: 6.\nThe answer is 6."])
    row = run(flows.judge_candidate(SEED, candidate, client, synthesis, LINEAGE, counts))
    assert row.solution == "Two bags of three: 6.\nThe answer is 6."
    # Without an LLM teacher (symbolic backend) the model is not asked at all.
    client = scripted_client([])
    row = run(flows.judge_candidate(SEED, candidate, client, synthesis, LINEAGE, counts, solve_verified=False))
    assert (row.answer, row.solution, client.model.calls) == ("6", "2 x 3 = 6.\nThe answer is 6.", [])


def test_symbolic_seeds_also_get_the_exact_harder_problem():
    from orca_ray.core.problems import generate_problems, make_harder

    seed = generate_problems(1, seed=4, max_steps=2)[0]
    synthesis = SynthesisConfig(ask_me_anything_per_seed=0, suggester_editor_rounds=0, symbolic_harder_rounds=2)
    client = scripted_client([])
    result = run(flows.synthesize_seed(seed, client, client, synthesis, LINEAGE, solve_verified=False))
    expected = make_harder(make_harder(seed, seed=1), seed=2)
    (row,) = result.rows
    assert (row.question, row.answer, row.solution) == (expected.question, expected.answer, expected.solution)
    assert (row.family, row.source) == ("symbolic_harder", "synthesis:symbolic_harder")
    assert row.question != seed.question
    assert result.counts.get("kept", "symbolic_harder") == 0  # the last two stages are counted over all shards
    assert result.counts.get("within_length", "symbolic_harder") == 1
    # A seed the generator did not write (GSM8K, agents' output) has no exact transform.
    assert flows.symbolic_harder_candidates(SEED, rounds=1) == []
    assert flows.symbolic_harder_candidates(seed, rounds=0) == []


def test_seeds_past_agent_seeds_get_only_the_exact_transform():
    from orca_ray.core.problems import generate_problems

    seed = generate_problems(1, seed=4, max_steps=2)[0]
    synthesis = SynthesisConfig(ask_me_anything_per_seed=2, suggester_editor_rounds=1, symbolic_harder_rounds=1)
    client = scripted_client([])  # any agent turn would fail: no reply is scripted
    result = run(
        flows.synthesize_seed(seed, client, client, synthesis, LINEAGE, solve_verified=False, run_agents=False)
    )
    assert client.model.calls == [] and result.errors == {}
    assert [row.family for row in result.rows] == ["symbolic_harder"]
    assert result.counts.get("seeds", prompts.ASK_ME_ANYTHING) == 0


# ---------------------------------------------------------------- the clients


def test_chat_messages_merge_consecutive_turns_of_one_role():
    chat = to_chat_messages(
        [
            SystemMessage(content="sys"),
            UserMessage(content="task", source="user"),
            UserMessage(content="suggestion", source="suggester"),
            AssistantMessage(content="rewrite", source="editor"),
        ]
    )
    assert chat == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "task\n\nsuggestion"},
        {"role": "assistant", "content": "rewrite"},
    ]


class FakeEngine:
    """Stands for a Ray actor handle: `chat.remote(...)` returns an awaitable, as an ObjectRef is."""

    def __init__(self, name: str):
        self.name = name
        self.requests: list = []
        self.chat = self

    def remote(self, conversations, sampling, adapter=None):
        self.requests.append((conversations, sampling))

        async def reply():
            text = f"{self.name}: {conversations[0][-1]['content']}"
            return [[Completion(text, num_tokens=7, finish_reason="length")]]

        return reply()


def test_engine_client_takes_engines_in_turn_with_its_sampling():
    engines = [FakeEngine("a"), FakeEngine("b")]
    client = LocalChatClient(EngineCompletions(engines), sampling={"temperature": 0.7, "max_tokens": 64})
    messages = [SystemMessage(content="s"), UserMessage(content="q", source="user")]

    async def three():
        first = await client.create(messages)
        second = await client.create(messages, extra_create_args={"max_tokens": 8, "n": 5})
        third = await client.create(messages)
        return first, second, third

    first, second, third = run(three())
    assert (first.content, second.content, third.content) == ("a: q", "b: q", "a: q")
    assert first.finish_reason == "length" and first.usage.completion_tokens == 7
    assert engines[0].requests[0] == ([[{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]],
                                      {"temperature": 0.7, "max_tokens": 64})  # fmt: skip
    assert engines[1].requests[0][1] == {"temperature": 0.7, "max_tokens": 8}  # 'n' is not ours to pass
    assert client.total_usage().completion_tokens == 21
    assert client.model_info["function_calling"] is False
    with pytest.raises(ValueError, match="no tools"):
        run(client.create(messages, tools=[{"name": "python", "parameters": {}}]))


def test_openai_factory_needs_model_info_and_takes_the_key_from_the_named_variable(monkeypatch, caplog):
    teacher = TeacherConfig(backend="openai", model="my-served-model", base_url="http://127.0.0.1:9/v1",
                            api_key_env="ORCA_TEST_KEY")  # fmt: skip
    monkeypatch.setenv("ORCA_TEST_KEY", "sk-test-secret-123")
    client = ClientFactory("openai", teacher=teacher)(temperature=0.7, max_tokens=32)
    assert client.model_info["family"] == "unknown"  # a model name OpenAI does not know needs model_info
    assert client._client.api_key == "sk-test-secret-123"  # noqa: SLF001 - the key reached the HTTP client
    monkeypatch.delenv("ORCA_TEST_KEY")
    ClientFactory("openai", teacher=teacher)(temperature=0.7, max_tokens=32)
    assert "$ORCA_TEST_KEY is not set" in caplog.text
    assert "sk-test-secret" not in caplog.text
    assert not re.search(r"sk-test", repr(ClientFactory("openai", teacher=teacher)))


# ---------------------------------------------------------------- model output is text, never code


def test_code_in_model_replies_is_never_executed(tmp_path, monkeypatch):
    created = []
    original = flows.AssistantAgent

    def recording_agent(*args, **kwargs):
        created.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(flows, "AssistantAgent", recording_agent)
    marker = tmp_path / "executed"
    code = f"```python\nopen({str(marker)!r}, 'w').write('x')\n```"
    client = scripted_client([f"Try this:\n{code}", f"Problem 1: {code}\nHow many apples are left?"] * 4)
    run(flows.suggester_editor(SEED.question, client, rounds=2))
    run(flows.ask_me_anything(SEED.question, SEED.answer, scripted_client([code]), n=1))
    assert not marker.exists()
    assert len(created) == 3  # suggester, editor, ask-me-anything: none given a tool, a workbench or a code runner
    for kwargs in created:
        assert not {"tools", "workbench", "code_executor", "handoffs"} & {k for k, v in kwargs.items() if v}

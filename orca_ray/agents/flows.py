"""The Agent-Instruct flows on AutoGen: Ask Me Anything, the Suggester-Editor team, and the teacher's k solutions
of every new problem, judged by the pure filters into kept rows and yield counts.

The agents are AutoGen `AssistantAgent`s with no tools: they read and write text, and nothing a model writes is
ever executed. Prompts and reply parsing live in `orca_ray.agents.prompts`; filters in
`orca_ray.core.synthesis_filters`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import TextMessage
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.model_context import BufferedChatCompletionContext
from autogen_core.models import ChatCompletionClient, SystemMessage, UserMessage

from orca_ray.agents import prompts
from orca_ray.config import SynthesisConfig
from orca_ray.core.answers import extract_final_answer
from orca_ray.core.prompts import teacher_messages
from orca_ray.core.synthesis_filters import (
    Consensus,
    YieldCounts,
    consensus,
    verify_with_reference,
    with_final_line,
    within_length,
)
from orca_ray.schemas import Lineage, Problem

log = logging.getLogger(__name__)

SOURCE_PREFIX = "synthesis:"
SYMBOLIC_HARDER = "symbolic_harder"  # the symbolic teacher's exact 'make it harder', verified, not voted


@dataclass(frozen=True)
class Turn:
    source: str  # 'user' for the task, else the agent's name
    content: str


@dataclass(frozen=True)
class FlowResult:
    """What one agent conversation produced: its new problems and the whole conversation, in order."""

    agent: str
    problems: list[str]
    transcript: list[Turn]


def _transcript(messages) -> list[Turn]:
    return [Turn(m.source, m.content) for m in messages if isinstance(m, TextMessage)]


async def ask_me_anything(question: str, answer: str | None, client: ChatCompletionClient, n: int) -> FlowResult:
    """One seed problem -> up to `n` new problems about the same situation, each asking for another quantity."""
    agent = AssistantAgent(
        prompts.ASK_ME_ANYTHING,
        model_client=client,
        system_message=prompts.ASK_ME_ANYTHING_SYSTEM,
        description="Writes new problems that ask for other quantities of a seed problem's situation.",
    )
    result = await agent.run(task=prompts.ask_me_anything_task(question, answer, n))
    transcript = _transcript(result.messages)
    replies = [t.content for t in transcript if t.source == prompts.ASK_ME_ANYTHING]
    problems = prompts.parse_numbered_problems(replies[-1], limit=n) if replies else []
    return FlowResult(prompts.ASK_ME_ANYTHING, problems, transcript)


async def suggester_editor(question: str, client: ChatCompletionClient, rounds: int) -> FlowResult:
    """`rounds` of Suggester -> Editor on one problem; the result is the Editor's latest rewrite that reads as a
    problem (none when no rewrite does).

    Each agent sees only what it needs, which keeps the conversation inside a small model's context: the
    Suggester the latest problem, the Editor the latest problem and the latest suggestions."""
    suggester = AssistantAgent(
        prompts.SUGGESTER,
        model_client=client,
        system_message=prompts.SUGGESTER_SYSTEM,
        model_context=BufferedChatCompletionContext(buffer_size=1),
        description="Suggests ways to make a problem harder without writing it.",
    )
    editor = AssistantAgent(
        prompts.EDITOR,
        model_client=client,
        system_message=prompts.EDITOR_SYSTEM,
        model_context=BufferedChatCompletionContext(buffer_size=2),
        description="Rewrites the problem following the suggestions.",
    )
    team = RoundRobinGroupChat([suggester, editor], max_turns=2 * rounds)
    result = await team.run(task=prompts.suggester_editor_task(question))
    transcript = _transcript(result.messages)
    rewrites = [prompts.parse_edited_problem(t.content) for t in transcript if t.source == prompts.EDITOR]
    latest = next((p for p in reversed(rewrites) if p), None)
    return FlowResult(prompts.SUGGESTER_EDITOR, [latest] if latest else [], transcript)


async def solve(question: str, client: ChatCompletionClient, k: int) -> list[str]:
    """The teacher's k solutions of one problem, asked concurrently (sampled: they may disagree)."""
    messages = [
        SystemMessage(content=m["content"])
        if m["role"] == "system"
        else UserMessage(content=m["content"], source="user")
        for m in teacher_messages(question)
    ]
    results = await asyncio.gather(*(client.create(messages) for _ in range(k)))
    return [r.content if isinstance(r.content, str) else "" for r in results]


# ---------------------------------------------------------------- one seed, end to end


@dataclass
class SeedResult:
    """The rows one seed's conversations kept (before deduplication) and what each stage counted."""

    rows: list[Problem] = field(default_factory=list)
    counts: YieldCounts = field(default_factory=YieldCounts)
    errors: dict[str, int] = field(default_factory=dict)
    attempts: int = 0  # model calls that could fail: agent conversations and candidates' solution rounds
    first_error: str | None = None
    trace: list[dict] = field(default_factory=list)  # every conversation and every judged problem, for reading


@dataclass(frozen=True)
class Candidate:
    """A new problem on its way through the filters; `reference` is its exact answer when the symbolic teacher
    knows it (then it is verified against it instead of by agreement)."""

    agent: str
    index: int
    question: str
    reference: str | None = None
    reference_solution: str | None = None


def symbolic_harder_candidates(seed: Problem, rounds: int) -> list[Candidate]:
    """The seed made harder `rounds` times by the symbolic teacher, with its exact answer and solution; none for
    a seed the symbolic generator did not write (make_harder rebuilds a problem from its id and family).

    >>> from orca_ray.core.problems import generate_problems
    >>> (c,) = symbolic_harder_candidates(generate_problems(1, seed=3)[0], rounds=2)
    >>> c.agent, c.reference is not None
    ('symbolic_harder', True)
    """
    from orca_ray.core.problems import make_harder

    if rounds <= 0:
        return []
    problem = seed
    try:
        for round_seed in range(1, rounds + 1):
            problem = make_harder(problem, seed=round_seed)
    except ValueError:  # not a symbolic problem, or no harder step fits it
        return []
    return [Candidate(SYMBOLIC_HARDER, 0, problem.question, problem.answer, problem.solution)]


def _judge(candidate: Candidate, solutions: list[str], synthesis: SynthesisConfig, use_math_verify: bool) -> Consensus:
    if candidate.reference is not None:
        return verify_with_reference(
            solutions, candidate.reference, question=candidate.question, use_math_verify=use_math_verify
        )
    return consensus(
        solutions, question=candidate.question, agreement=synthesis.agreement, use_math_verify=use_math_verify
    )


async def judge_candidate(
    seed: Problem,
    candidate: Candidate,
    answer_client: ChatCompletionClient,
    synthesis: SynthesisConfig,
    lineage: Lineage,
    counts: YieldCounts,
    use_math_verify: bool = True,
    trace: list[dict] | None = None,
    solve_verified: bool = True,
) -> Problem | None:
    """Solve a candidate k times, apply self-consistency (or the symbolic check) and the length limit: the row
    when it survives, else None. Every stage it passes is counted in `counts`; `trace` gets what was decided.

    A candidate with an exact answer is solved only with `solve_verified` (an LLM teacher, whose solution that
    reaches the answer is preferred); otherwise its own exact solution is used as it is."""
    agent = candidate.agent
    ask = candidate.reference is None or solve_verified
    solutions = await solve(candidate.question, answer_client, synthesis.answers_per_problem) if ask else []
    decision = _judge(candidate, solutions, synthesis, use_math_verify)
    verdict, row = _decide(seed, candidate, solutions, decision, synthesis, lineage, counts)
    if trace is not None:
        answers = [extract_final_answer(s) for s in solutions]
        trace.append({"kind": "judged", "seed": seed.id, "agent": agent, "question": candidate.question,
                      "answers": answers, "verdict": verdict, "lengths": [len(s) for s in solutions]})  # fmt: skip
    return row


def _decide(seed, candidate, solutions, decision, synthesis, lineage, counts) -> tuple[str, Problem | None]:
    agent = candidate.agent
    if decision.answered or decision.verified:
        counts.add("answered", agent)
    else:
        return "no readable answer", None
    if decision.answer is None:
        return "answers disagree", None
    counts.add("consistent", agent)
    if decision.solution_index is not None:
        solution = with_final_line(solutions[decision.solution_index], decision.answer)
    elif candidate.reference_solution:
        solution = with_final_line(candidate.reference_solution, decision.answer)
    else:
        return "no solution reaches the exact answer", None
    if not within_length(solution, synthesis.max_solution_chars):
        return "solution too long", None
    counts.add("within_length", agent)
    return "kept", Problem(
        id=f"{seed.id}~{agent}-{candidate.index}",
        question=candidate.question,
        answer=decision.answer,
        solution=solution,
        family=agent,
        run_id=lineage.run_id,
        iteration=lineage.iteration,
        policy_version=lineage.policy_version,
        source=SOURCE_PREFIX + agent,
        seed=lineage.seed,
    )


def _record_error(result: SeedResult, agent: str, seed: Problem, err: Exception) -> None:
    # One line: AutoGen puts the whole traceback of a failed group chat into the message.
    message = f"{type(err).__name__}: {str(err).split(chr(10) + 'Traceback', 1)[0].strip()[:300]}"
    log.warning("seed %s, %s: conversation failed: %s", seed.id, agent, message)
    result.errors[agent] = result.errors.get(agent, 0) + 1
    result.first_error = result.first_error or f"seed {seed.id}, {agent}: {message}"
    result.trace.append({"kind": "error", "seed": seed.id, "agent": agent, "error": message})


async def _bounded(limit: asyncio.Semaphore | None, work):
    if limit is None:
        return await work
    async with limit:
        return await work


async def synthesize_seed(
    seed: Problem,
    agent_client: ChatCompletionClient,
    answer_client: ChatCompletionClient,
    synthesis: SynthesisConfig,
    lineage: Lineage,
    *,
    use_math_verify: bool = True,
    limit: asyncio.Semaphore | None = None,
    solve_verified: bool = True,
    run_agents: bool = True,
) -> SeedResult:
    """Both agent flows on one seed, then the teacher's k solutions and the filters on every new problem.

    Seeds from the symbolic generator also get `symbolic_harder_candidates` (see judge_candidate for
    `solve_verified`). `limit` bounds the conversations in flight across seeds (an agent conversation, or one
    problem's k solutions, holds one slot). A failed conversation is counted in `errors` and does not stop the
    others. `run_agents=False`: only the symbolic transform (synthesis.agent_seeds limits the agents' seeds)."""
    result = SeedResult()
    flows = {}
    if run_agents and synthesis.ask_me_anything_per_seed > 0:
        n = synthesis.ask_me_anything_per_seed
        flows[prompts.ASK_ME_ANYTHING] = ask_me_anything(seed.question, seed.answer, agent_client, n)
    if run_agents and synthesis.suggester_editor_rounds > 0:
        rounds = synthesis.suggester_editor_rounds
        flows[prompts.SUGGESTER_EDITOR] = suggester_editor(seed.question, agent_client, rounds)
    candidates = symbolic_harder_candidates(seed, synthesis.symbolic_harder_rounds)
    for agent in dict.fromkeys([*flows, *(c.agent for c in candidates)]):
        result.counts.add("seeds", agent)
    result.attempts += len(flows)
    outcomes = await asyncio.gather(*(_bounded(limit, flow) for flow in flows.values()), return_exceptions=True)
    for agent, outcome in zip(flows, outcomes, strict=True):
        if isinstance(outcome, Exception):
            _record_error(result, agent, seed, outcome)
        elif isinstance(outcome, BaseException):  # cancelled or interrupted: not a model's failure
            raise outcome
        else:
            candidates += [Candidate(agent, i, q) for i, q in enumerate(outcome.problems)]
            turns = [[t.source, t.content] for t in outcome.transcript]
            result.trace.append({"kind": "conversation", "seed": seed.id, "agent": agent, "turns": turns,
                                 "problems": outcome.problems})  # fmt: skip
    for candidate in candidates:
        result.counts.add("generated", candidate.agent)
    result.attempts += sum(c.reference is None or solve_verified for c in candidates)  # those a model solves

    async def judge(candidate: Candidate) -> Problem | None:
        try:
            work = judge_candidate(
                seed,
                candidate,
                answer_client,
                synthesis,
                lineage,
                result.counts,
                use_math_verify,
                result.trace,
                solve_verified,
            )
            return await _bounded(limit, work)
        except Exception as err:  # noqa: BLE001 - one failed answer does not sink the seed
            _record_error(result, candidate.agent, seed, err)
            return None

    rows = await asyncio.gather(*(judge(c) for c in candidates))  # in candidate order, whenever each finishes
    result.rows = [row for row in rows if row is not None]
    return result

"""Which problems each stage sees: SFT's demonstrations, each iteration's practice slice."""

from __future__ import annotations

import pytest

from orca_ray.core.practice import iteration_slice, split_for_practice


def test_practice_never_meets_a_demonstrated_problem_when_split():
    problems = [f"p{i}" for i in range(10)]
    shown, practised = split_for_practice(problems, 6)
    assert shown == problems[:6] and practised == problems[6:]
    slices = [iteration_slice(practised, k, 2) for k in (1, 2)]
    assert slices == [["p6", "p7"], ["p8", "p9"]]  # each iteration its own, none demonstrated
    assert not set(shown) & {p for s in slices for p in s}


def test_no_split_shares_every_problem_and_a_split_that_leaves_nothing_is_refused():
    assert split_for_practice(["a", "b"], None) == (["a", "b"], ["a", "b"])
    with pytest.raises(ValueError, match=r"training.sft.max_problems \(2\) leaves none"):
        split_for_practice(["a", "b"], 2)


def test_without_sft_nothing_is_set_aside_for_it():
    # A preset's training.sft.max_problems with the SFT stage turned off: every problem is practised, and a value
    # that would leave none for practice is not an error (bench/overlap.py runs the demo preset that way).
    assert split_for_practice(["a", "b", "c"], 1, sft_enabled=False) == (["a", "b", "c"], ["a", "b", "c"])
    assert split_for_practice(["a", "b"], 5, sft_enabled=False) == (["a", "b"], ["a", "b"])


def test_a_shard_is_done_only_once_its_verdicts_are_written_last(tmp_path, monkeypatch):
    from orca_ray.core import round_files
    from orca_ray.schemas import KTOExample, Verdict, write_rows

    def killed_at_the_verdicts(path, rows, row_type):
        if row_type is Verdict:
            raise KeyboardInterrupt("killed")  # the worker dies after the shard's preferences and counts
        return write_rows(path, rows, row_type)

    monkeypatch.setattr(round_files, "write_rows", killed_at_the_verdicts)
    with pytest.raises(KeyboardInterrupt):
        round_files.write_shard(tmp_path, 0, [], KTOExample, {"examples": 3}, [])
    assert round_files.done_shards(tmp_path, 2) == set()  # sampled again on resume, not half-counted
    monkeypatch.setattr(round_files, "write_rows", write_rows)
    round_files.write_shard(tmp_path, 0, [], KTOExample, {"examples": 3}, [])
    assert round_files.done_shards(tmp_path, 2) == {0}
    assert round_files.preference_files(tmp_path, {0}) == [tmp_path / "preferences" / "shard-00000.parquet"]
    assert round_files.shard_counts(tmp_path, 1) is None

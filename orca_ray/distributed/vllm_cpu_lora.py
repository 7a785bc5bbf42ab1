"""A vLLM plugin that makes LoRA on vLLM's CPU backend cost what the adapter costs, not what the batch costs.

vLLM's CPU backend applies LoRA with PyTorch ops (vllm.lora.ops.torch_ops) that gather a copy of the adapter's
weight matrix for every token in the batch (`lora_weights[token_lora_indices]`, then an einsum), in every LoRA
layer and on every decoding step, whether or not the tokens have an adapter: a sampler engine started with
enable_lora ran 4.7x slower than without it (SmolLM2, 128 sequences x 128 tokens, max_lora_rank 64, 2 cores:
181 against 847 tok/s), before any adapter was loaded. The tokens of one batch almost always share one or two
adapters (a shard is sampled with one policy version), so this computes each group of tokens that shares an
adapter with one matrix product against that adapter's weights. The result is the same sum per token; only the
order of the additions can differ, as between any two matrix-product kernels.

vLLM loads it in every process it starts (engine core, workers) through the `vllm.general_plugins` entry point
of orca-ray's pyproject.toml; `VLLM_PLUGINS=""` turns it off (bench/vllm_cpu_lora.py compares the two). It changes
nothing on GPU, where vLLM uses its Triton kernels instead.
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


def register() -> None:
    """The entry point vLLM calls in each of its processes; safe to call more than once."""
    try:
        from vllm.platforms import current_platform

        if not current_platform.is_cpu():
            return
        from vllm.lora.ops import torch_ops
        from vllm.lora.ops.torch_ops import lora_ops
        from vllm.lora.punica_wrapper import punica_cpu
    except ImportError as exc:  # another vLLM layout: keep vLLM's own ops
        log.warning("orca-ray's CPU LoRA ops not installed (%s); vLLM's own are used", exc)
        return
    # sgmv_* (prefill) call bgmv_* through lora_ops' globals; PunicaWrapperCPU imported bgmv_* by name.
    for module in (lora_ops, torch_ops, punica_cpu):
        for op in (bgmv_shrink, bgmv_expand, bgmv_expand_slice):
            if hasattr(module, op.__name__):
                setattr(module, op.__name__, op)

"""TRL's fused LM head on CPU scores only the labelled positions (learner_worker.score_labelled_positions_only).

Guards the learner's speed patch: if TRL renames the decision, the patch reports it is off and this fails; if
the compact path changed the loss, the comparison below fails."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def _loss(model, input_ids, labels):
    return model(input_ids=input_ids, labels=labels, fused_lm_head=True).loss


def test_compact_scoring_keeps_the_loss_and_its_gradient():
    from transformers import AutoModelForCausalLM
    from trl.trainer import utils as trl_utils

    from orca_ray.distributed.learner_worker import score_labelled_positions_only
    from orca_ray.models import prepare_model

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(prepare_model("tiny-llama"), dtype=torch.float32)
    trl_utils.add_fused_lm_head(model, outputs=("log_probs",))
    input_ids = torch.randint(0, model.config.vocab_size, (3, 12))
    labels = input_ids.clone()
    labels[:, :7] = -100  # the prompt
    labels[2, 10:] = -100  # padding

    full_loss = _loss(model, input_ids, labels)
    full_loss.backward()
    full_grad = model.get_output_embeddings().weight.grad.clone()
    model.zero_grad()
    original = trl_utils._use_triton
    try:
        assert score_labelled_positions_only() is True
        assert trl_utils._use_triton(torch.device("cpu")) is True
        assert score_labelled_positions_only() is True and trl_utils._use_triton.orca_ray_compact  # idempotent
        compact_loss = _loss(model, input_ids, labels)
        compact_loss.backward()
    finally:
        trl_utils._use_triton = original
    torch.testing.assert_close(compact_loss, full_loss)
    torch.testing.assert_close(model.get_output_embeddings().weight.grad, full_grad)

"""What a LoRA adapter costs vLLM's CPU backend: tokens/s of a bare `vllm.LLM.chat` (64 symbolic problems, greedy,
64 tokens each, ignore_eos) without LoRA, with an adapter at a given `max_lora_rank`, and with vLLM's reserved
scheduler core given back (VLLM_CPU_NUM_OF_RESERVED_CPU=0). One configuration per process (an engine per process):

    .venv/bin/python bench/vllm_cpu_lora.py reserve1 0                        # no LoRA
    .venv/bin/python bench/vllm_cpu_lora.py reserve1 16 runs/<id>/sft/adapter  # adapter, max_lora_rank 16
    .venv/bin/python bench/vllm_cpu_lora.py reserve0 16 runs/<id>/sft/adapter  # the same on both cores

Prints one `RESULT {...}` line with tok_s.
"""

import json
import os
import sys
import time


def main():
    mode = sys.argv[1]  # reserve1 (vLLM's default) | reserve0
    lora_rank = int(sys.argv[2])
    adapter = sys.argv[3] if len(sys.argv) > 3 else None
    if mode == "reserve0":
        os.environ["VLLM_CPU_NUM_OF_RESERVED_CPU"] = "0"
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    from orca_ray.core.problems import generate_problems
    from orca_ray.core.prompts import student_messages
    from orca_ray.models import prepare_model

    problems = generate_problems(64, seed=7, max_steps=3)
    lora_args = dict(enable_lora=True, max_lora_rank=lora_rank) if lora_rank else {}
    llm = LLM(str(prepare_model("smollm2-135m-instruct")), max_model_len=768, seed=0, **lora_args)
    conversations = [student_messages(p.question) for p in problems]
    sampling = SamplingParams(max_tokens=64, temperature=0.0, ignore_eos=True)
    lora = LoRARequest("adapter", 1, adapter) if adapter else None
    llm.chat(conversations[:4], sampling, use_tqdm=False, lora_request=lora)  # warm-up
    start = time.perf_counter()
    outputs = llm.chat(conversations, sampling, use_tqdm=False, lora_request=lora)
    seconds = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    result = {"mode": mode, "lora_rank": lora_rank, "adapter": bool(adapter), "tokens": tokens,
              "seconds": round(seconds, 1), "tok_s": round(tokens / seconds, 1)}  # fmt: skip
    print("RESULT", json.dumps(result))


if __name__ == "__main__":
    main()

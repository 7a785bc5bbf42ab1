"""What orca-ray's vLLM CPU plugin (orca_ray/distributed/vllm_cpu_ops.py) buys: tokens/s of a bare
`vllm.LLM.chat` with the plugin and without it (`VLLM_PLUGINS=""`), each in its own process, alternately:

- `sampler`: what the pipeline's samplers run, LoRA enabled with an adapter loaded, temperature 0.7, top_p 0.95;
- `lora-greedy`: LoRA enabled with the adapter, greedy (the plugin's LoRA ops alone);
- `base-greedy`: no LoRA, greedy: a control, which the plugin should leave as it is.

    .venv/bin/python bench/vllm_cpu_ops.py                   # SmolLM2, 16 problems x 4 samples, 64 tokens
    .venv/bin/python bench/vllm_cpu_ops.py --problems 32 --max-tokens 128

The adapter is a rank-16 PEFT adapter on every linear layer with small random weights (no trained adapter is
needed to measure speed). Prints one line per run; the last line is `ratio=<sampler tok/s with the plugin over
without>`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CASES = {
    "sampler": dict(lora=True, temperature=0.7, top_p=0.95),
    "lora-greedy": dict(lora=True, temperature=0.0, top_p=1.0),
    "base-greedy": dict(lora=False, temperature=0.0, top_p=1.0),
}


def make_adapter(directory: str) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from orca_ray.models import prepare_model

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(prepare_model("smollm2-135m-instruct")))
    lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False)
    peft_model = get_peft_model(model, lora)
    for name, weight in peft_model.named_parameters():
        if "lora_B" in name:
            weight.data.mul_(0.02)  # a small change: the model stays fluent
    peft_model.save_pretrained(directory)


def run_case(args) -> dict:
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    from orca_ray.core.problems import generate_problems
    from orca_ray.core.prompts import student_messages
    from orca_ray.models import prepare_model

    case = CASES[args.case]
    lora_args = dict(enable_lora=True, max_lora_rank=64, max_loras=2) if case["lora"] else {}
    llm = LLM(
        str(prepare_model("smollm2-135m-instruct")), max_model_len=1024, seed=0, gpu_memory_utilization=0.3, **lora_args
    )
    lora = LoRARequest("adapter", 1, args.adapter) if case["lora"] else None
    # Greedy decoding takes one sample per prompt: then as many prompts as samples otherwise.
    n = args.n if case["temperature"] > 0 else 1
    problems = generate_problems(args.problems * args.n // n, seed=7, max_steps=3)
    conversations = [student_messages(p.question) for p in problems]
    sampling = SamplingParams(
        n=n, max_tokens=args.max_tokens, temperature=case["temperature"], top_p=case["top_p"], ignore_eos=True
    )
    llm.chat(conversations[:2], sampling, use_tqdm=False, lora_request=lora)  # warm-up
    start = time.perf_counter()
    outputs = llm.chat(conversations, sampling, use_tqdm=False, lora_request=lora)
    seconds = time.perf_counter() - start
    tokens = sum(len(c.token_ids) for o in outputs for c in o.outputs)
    return {"tokens": tokens, "seconds": round(seconds, 1), "tok_s": round(tokens / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=16)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, of: " + ", ".join(CASES))
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--adapter", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print("RESULT", json.dumps(run_case(args)), flush=True)
        return

    with tempfile.TemporaryDirectory() as adapter:
        make_adapter(adapter)
        speeds: dict[tuple[str, bool], float] = {}
        for case in args.cases.split(","):
            for plugin in (True, False):
                env = dict(os.environ, VLLM_CPU_NUM_OF_RESERVED_CPU=os.environ.get("VLLM_CPU_NUM_OF_RESERVED_CPU", "0"))
                if not plugin:
                    env["VLLM_PLUGINS"] = ""
                command = [sys.executable, __file__, "--case", case, "--adapter", adapter, "--problems",
                           str(args.problems), "--n", str(args.n), "--max-tokens", str(args.max_tokens)]  # fmt: skip
                done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
                lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
                if done.returncode or not lines:
                    sys.exit(f"{case} (plugin {'on' if plugin else 'off'}) failed:\n{done.stderr[-3000:]}")
                result = json.loads(lines[-1].removeprefix("RESULT "))
                speeds[case, plugin] = result["tok_s"]
                print(f"{case} plugin={'on' if plugin else 'off'}: {result}", flush=True)
            print(f"{case}: {speeds[case, True] / speeds[case, False]:.2f}x with the plugin", flush=True)
    first = args.cases.split(",")[0]
    print(f"ratio={speeds[first, True] / speeds[first, False]:.2f}")


if __name__ == "__main__":
    main()

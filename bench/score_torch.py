#!/usr/bin/env python3
"""Prompt-scoring throughput of PyTorch/transformers, eager attention, bf16,
on the GPU: the reference bench/gpu.sh compares gomerge's device forward
pass with. It scores DOCS documents of LEN tokens at once (the log-prob of
every token given the ones before it, as gomerge's LogProbsBatch does) and
prints tokens/s over ITERS timed passes after one warm-up pass.

    python3 bench/score_torch.py MODEL_DIR [DOCS [LEN [ITERS]]]
"""
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    path = sys.argv[1]
    docs = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 512
    iters = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.bfloat16, attn_implementation="eager").cuda().eval()
    vocab = model.config.vocab_size
    # The same ids as internal/cuda's BenchmarkScoring.
    ids = torch.tensor([[(i * 7919 + j * 104729 + 13) % vocab for j in range(n)] for i in range(docs)], device="cuda")

    def score():
        with torch.inference_mode():
            logits = model(ids).logits[:, :-1].float()
            lp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None])
            return lp.cpu()

    score()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        score()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(f"torch {torch.__version__} transformers eager bf16 {torch.cuda.get_device_name()}: "
          f"{docs}x{n} tokens, {iters * docs * n / dt:.0f} tokens/s")


if __name__ == "__main__":
    main()

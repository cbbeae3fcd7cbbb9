"""Full fine-tuning, LoRA and QLoRA of the same base model in one run: peak RSS, weight memory, tokens/s, trainable params.

    .venv/bin/python benchmarks/adapters.py [--model smollm2-135m] [--steps 4] [--batch 4] [--seq 128] [--methods full,lora,qlora]

Each method trains in its own fresh process (so peak RSS is its own) with the project's Trainer on the same data
(PubMedQA SFT examples of the embedded default, answer tokens only), the same steps, batch, sequence length and
precision (bf16 autocast; QLoRA computes in `models.qlora_compute_dtype()`). Weight memory is the model's
`get_memory_footprint()` after loading (QLoRA: the 4-bit base). Tokens/s count the steps after the first (warm-up).
Expectation checked and printed: QLoRA's weight memory is at most half of LoRA's fp32 base.
Writes benchmarks/results/adapters.json (or --out).
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
ROOT = Path(__file__).resolve().parents[1]


def one(a) -> dict:
    "Train one method in this process; returns its measurements."
    import torch, transformers
    transformers.logging.set_verbosity_error()
    from lmresearch.config import TrainConfig
    from lmresearch.core import seed_everything
    from lmresearch.models import load_tokenizer, pad_token_id
    from lmresearch.tracking import Run
    from lmresearch.train import Trainer
    from lmresearch.domains.adapters import adapter_model, domain_examples, load_base
    from lmresearch.domains.prepare import prepare_domains, read_domain
    tmp = Path(tempfile.mkdtemp(prefix='bench-adapters-'))
    prepare_domains(tmp / 'data', only='medicine', max_sft_per_domain=(a.steps + 1) * a.batch * 2)
    tok = load_tokenizer(a.model)
    ex = domain_examples(read_domain(tmp / 'data', 'medicine', 'sft', 'train')[:(a.steps + 1) * a.batch], tok, a.seq)
    seed_everything(0)
    base = load_base(a.model, a.one)
    weights_mb = base.get_memory_footprint() / 2**20
    model = adapter_model(base, a.one)
    cfg = TrainConfig(max_steps=a.steps + 1, batch_size=a.batch, seq_len=a.seq, precision='bf16', lr=1e-4, log_every=1,
                      eval_every=0, save_every=0, batching='group', warmup=0.0)
    run = Run.create(tmp / 'run', tensorboard=False)
    tr = Trainer(model, cfg, run, ex, None, pad_id=pad_token_id(tok), progress=False)
    tr._train_step()                                        # warm-up step (allocations, first bf16 kernels)
    t0, seen = time.perf_counter(), 0
    for _ in range(a.steps):
        before = tr.state['window']['tokens']; tr._train_step(); seen += tr.state['window']['tokens'] - before
    dt = time.perf_counter() - t0
    return {'method': a.one, 'weights_mb': round(weights_mb, 1), 'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            'tokens_per_s': round(seen / dt, 1), 'step_s': round(dt / a.steps, 2), **tr.counts}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default='smollm2-135m'); ap.add_argument('--steps', type=int, default=4)
    ap.add_argument('--batch', type=int, default=4); ap.add_argument('--seq', type=int, default=128)
    ap.add_argument('--methods', default='full,lora,qlora'); ap.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results' / 'adapters.json'))
    ap.add_argument('--one', default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one: print(json.dumps(one(a))); return
    from lmresearch.core import system_info, atomic_write_json
    load0, rows = os.getloadavg(), []
    for m in a.methods.split(','):
        cmd = [sys.executable, __file__, '--one', m, '--model', a.model, '--steps', str(a.steps), '--batch', str(a.batch), '--seq', str(a.seq)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode: sys.exit(f'{m} failed:\n{r.stderr[-3000:]}')
        rows.append(json.loads(r.stdout.strip().splitlines()[-1])); print(rows[-1], flush=True)
    by = {r['method']: r for r in rows}
    print(f"\n{'method':<7} {'weights MB':>10} {'peak RSS MB':>11} {'tok/s':>7} {'trainable':>12} {'total':>12}")
    for r in rows: print(f"{r['method']:<7} {r['weights_mb']:>10.1f} {r['peak_rss_mb']:>11.1f} {r['tokens_per_s']:>7.1f} {r['trainable_params']:>12,} {r['total_params']:>12,}")
    ratios = {}
    if 'lora' in by and 'qlora' in by:
        ratios['qlora_over_lora_weights'] = by['qlora']['weights_mb'] / by['lora']['weights_mb']
        ratios['qlora_over_lora_tokens_per_s'] = by['qlora']['tokens_per_s'] / by['lora']['tokens_per_s']
        ok = ratios['qlora_over_lora_weights'] <= 0.5
        print(f"QLoRA weight memory / LoRA fp32 base: {ratios['qlora_over_lora_weights']:.3f} "
              f"({'at most half: as expected' if ok else 'MORE than half: expectation not met'})")
    if 'full' in by and 'lora' in by: ratios['lora_over_full_peak_rss'] = by['lora']['peak_rss_mb'] / by['full']['peak_rss_mb']
    atomic_write_json(a.out, {'command': ' '.join(sys.argv), 'args': vars(a), 'rows': rows, 'ratios': ratios,
                              'loadavg_before': load0, 'loadavg_after': os.getloadavg(), 'system': system_info()})
    print(f'wrote {a.out}')


if __name__ == '__main__':
    main()

"""Training throughput: lmresearch's Trainer against the transformers Trainer, in one run.

    .venv/bin/python benchmarks/train_throughput.py [--quick] [--models gpt2-small,smollm2] [--dtypes fp32,bf16]

Same model (same initial weights), same data (packed rows of exactly --seq tokens, so no padding),
same batch size, sequence length, precision, optimizer (torch AdamW, fused) and thread count.
Tokens/s come from the wall time between the end of the first warm-up steps and the last step.
MFU = achieved model FLOP/s over a matmul peak measured here, in the same dtype, with the same
threads (model FLOPs per token: 6 x matmul parameters + 12 x layers x width x seq for attention).
Writes benchmarks/results/train_throughput.json (or --out).
"""
import argparse, copy, gc, json, os, sys, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
import torch

ROOT = Path(__file__).resolve().parents[1]


def matmul_peak(dtype: torch.dtype, sizes=(1024, 2048), reps: int = 5) -> float:
    "Best FLOP/s of square matmuls in `dtype` on this machine (same thread count as the training)."
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        for _ in range(reps):
            t = time.perf_counter(); a @ b; dt = time.perf_counter() - t
            best = max(best, 2 * n ** 3 / dt)
    return best


def flops_per_token(model, seq: int) -> float:
    "6 x (weights used in matmuls, output layer included) + attention (12 x layers x width x seq)."
    c = model.config
    emb = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    seen, n = set(), 0
    for p in model.parameters():
        if id(p) in seen or id(p) in emb or p.ndim < 2: continue
        seen.add(id(p)); n += p.numel()
    out = model.get_output_embeddings().weight.numel()   # tied to the embedding in GPT-2 and SmolLM2: a matmul all the same
    layers = getattr(c, 'num_hidden_layers', None) or c.n_layer
    width = getattr(c, 'hidden_size', None) or c.n_embd
    return 6 * (n + (out if id(model.get_output_embeddings().weight) in emb else 0)) + 12 * layers * width * seq


def make_model(name: str):
    from lmresearch.models import build_tiny, load_model, load_tokenizer
    if name == 'gpt2-small':   # GPT-2 124M shape, random init
        return build_tiny('gpt2', layers=12, width=768, heads=12, vocab_size=50257, positions=1024, seed=0), load_tokenizer('gpt2-tokenizer')
    if name == 'smollm2':
        return load_model('smollm2-135m', dtype='fp32'), load_tokenizer('smollm2-135m')
    raise SystemExit(f'unknown model {name}')


def rows(tok, seq: int, n: int) -> list[dict]:
    from lmresearch.core import package_dir
    from lmresearch.train import encode_texts, pack_examples
    lee = [t.strip() for t in (package_dir('gensim') / 'test' / 'test_data' / 'lee_background.cor').read_text().splitlines() if t.strip()]
    packed = [r for r in pack_examples(encode_texts(lee, tok, seq), seq) if len(r['input_ids']) == seq]
    return (packed * (n // len(packed) + 1))[:n]


def run_ours(model, data, a, precision: str) -> float:
    from lmresearch.config import TrainConfig
    from lmresearch.tracking import Run
    from lmresearch.train import Trainer
    steps = a.warmup + a.steps
    cfg = TrainConfig(lr=1e-4, batch_size=a.batch, max_steps=steps, warmup=0, precision=precision, seq_len=a.seq, batching='pack',
                      log_every=1, keep_last=1, schedule='linear', clip=1.0)
    with tempfile.TemporaryDirectory() as d:
        run = Run.create(Path(d) / 'r', tensorboard=False)
        t = Trainer(model, cfg, run, data, None, pad_id=0, progress=False)
        stamps = {}
        step = t._train_step
        def timed(self):
            out = step(); stamps[self.state['step']] = time.perf_counter(); return out
        t._train_step = timed.__get__(t)
        t.save = lambda best=False: None                     # no checkpoint at the end: HF side saves none either
        t.fit()
        t.acc.unwrap_model(t.pmodel, keep_fp32_wrapper=False)
    return a.steps * a.batch * a.seq / (stamps[steps] - stamps[a.warmup])


def run_hf(model, data, a, precision: str) -> float:
    from transformers import Trainer, TrainingArguments, TrainerCallback, default_data_collator
    steps = a.warmup + a.steps
    stamps = {}
    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw): stamps[state.global_step] = time.perf_counter()
    ds = [{'input_ids': torch.tensor(r['input_ids']), 'attention_mask': torch.ones(a.seq, dtype=torch.long),
           'labels': torch.tensor(r['input_ids'])} for r in data]
    with tempfile.TemporaryDirectory() as d:
        args = TrainingArguments(output_dir=d, per_device_train_batch_size=a.batch, max_steps=steps, learning_rate=1e-4,
                                 lr_scheduler_type='linear', warmup_steps=0, max_grad_norm=1.0, use_cpu=not torch.cuda.is_available(),
                                 bf16=precision == 'bf16', report_to=[], save_strategy='no', logging_steps=10 ** 6,
                                 dataloader_num_workers=0, optim='adamw_torch_fused', seed=0, disable_tqdm=True)
        tr = Trainer(model=model, args=args, train_dataset=ds, data_collator=default_data_collator, callbacks=[Clock()])
        tr.train()
        tr.accelerator.unwrap_model(tr.model, keep_fp32_wrapper=False)
    return a.steps * a.batch * a.seq / (stamps[steps] - stamps[a.warmup])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='fewer steps, GPT-2-small only')
    p.add_argument('--models', default='gpt2-small,smollm2'); p.add_argument('--dtypes', default='fp32,bf16')
    p.add_argument('--batch', type=int, default=4); p.add_argument('--seq', type=int, default=128)
    p.add_argument('--steps', type=int, default=4); p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    p.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results' / 'train_throughput.json'))
    a = p.parse_args(argv)
    if a.quick: a.models, a.steps, a.warmup = 'gpt2-small', 2, 1
    torch.set_num_threads(a.threads)
    import transformers; transformers.logging.set_verbosity_error()
    from lmresearch.core import atomic_write_json, system_info
    load0 = os.getloadavg()
    peaks = {dt: matmul_peak(getattr(torch, {'fp32': 'float32', 'bf16': 'bfloat16'}[dt])) for dt in a.dtypes.split(',')}
    print('matmul peak GFLOP/s:', {k: round(v / 1e9, 1) for k, v in peaks.items()}, flush=True)
    results = []
    for name in a.models.split(','):
        base, tok = make_model(name)
        fpt = flops_per_token(base, a.seq)
        data = rows(tok, a.seq, a.batch * (a.warmup + a.steps))
        for i, dt in enumerate(a.dtypes.split(',')):
            res = {}
            order = ('ours', 'hf') if i % 2 == 0 else ('hf', 'ours')   # alternate who goes first (machine load drifts)
            for who in order:
                model = copy.deepcopy(base).train()   # a fresh copy per run: a model trained before in the process runs slower
                torch.manual_seed(0); gc.collect()
                res[who] = (run_ours if who == 'ours' else run_hf)(model, data, a, dt)
                del model
                print(f'{name} {dt} {who}: {res[who]:.0f} tok/s', flush=True)
            row = {'model': name, 'precision': dt, 'batch': a.batch, 'seq': a.seq, 'threads': a.threads,
                   'params': sum(p.numel() for p in base.parameters()), 'flops_per_token': fpt,
                   'lmresearch_tok_s': round(res['ours'], 1), 'transformers_tok_s': round(res['hf'], 1),
                   'ratio': round(res['ours'] / res['hf'], 3),
                   'lmresearch_mfu': round(res['ours'] * fpt / peaks[dt], 4), 'transformers_mfu': round(res['hf'] * fpt / peaks[dt], 4),
                   'peak_gflops': round(peaks[dt] / 1e9, 1)}
            results.append(row); print(row, flush=True)
        del base; gc.collect()
    by = {(r['model'], r['precision']): r for r in results}
    for m in a.models.split(','):
        if (m, 'fp32') in by and (m, 'bf16') in by:
            print(f"{m}: bf16 / fp32 speed-up (lmresearch) = {by[(m, 'bf16')]['lmresearch_tok_s'] / by[(m, 'fp32')]['lmresearch_tok_s']:.2f}x")
    out = {'benchmark': 'train_throughput', 'command': ' '.join([Path(sys.executable).name, *sys.argv]), 'args': vars(a),
           'matmul_peak_gflops': {k: round(v / 1e9, 1) for k, v in peaks.items()}, 'results': results,
           'loadavg_before': load0, 'loadavg_after': os.getloadavg(),
           'note': ('2 CPU cores; compare ratios measured in one run (load averages before/after are recorded). '
                    'Each run trains a fresh copy of the model: training one model object twice in a process made later runs slower.'),
           'system': system_info()}
    atomic_write_json(a.out, out)
    print('wrote', a.out)


if __name__ == '__main__':
    main()

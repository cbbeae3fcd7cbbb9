"""Padding benchmark: useful (non-padding) tokens/s with naive padding, length grouping and packing.

    .venv/bin/python benchmarks/padding.py [--quick]

Variable-length documents (the 300 Lee news stories, GPT-2 tokenizer, cut at --seq tokens) train
a small GPT-2 with lmresearch's Trainer three times, changing only `train.batching`:
`pad` (random batches, each padded to its longest example), `group` (length-grouped batches) and
`pack` (documents concatenated into full rows). Useful tokens/s counts only tokens that are not
padding. Writes benchmarks/results/padding.json (or --out).
"""
import argparse, os, sys, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch

ROOT = Path(__file__).resolve().parents[1]


def measure(mode: str, docs, tok, a) -> dict:
    from lmresearch.config import TrainConfig
    from lmresearch.models import build_tiny
    from lmresearch.tracking import Run
    from lmresearch.train import Trainer
    model = build_tiny('gpt2', layers=a.layers, width=a.width, heads=4, vocab_size=len(tok), positions=a.seq, seed=0)
    steps = a.warmup + a.steps
    cfg = TrainConfig(lr=1e-4, batch_size=a.batch, max_steps=steps, precision=a.precision, seq_len=a.seq, batching=mode,
                      log_every=10 ** 6, keep_last=1)
    with tempfile.TemporaryDirectory() as d:
        t = Trainer(model, cfg, Run.create(Path(d) / 'r', tensorboard=False), docs, None, pad_id=tok.eos_token_id, progress=False)
        stamps, useful, positions = {}, {}, {}
        nb, step = t._next_batch, t._train_step
        def next_batch(self):
            b = nb(); s = self.state['step'] + 1
            useful[s] = useful.get(s, 0) + int(b['attention_mask'].sum()); positions[s] = positions.get(s, 0) + b['attention_mask'].numel()
            return b
        def timed(self):
            out = step(); stamps[self.state['step']] = time.perf_counter(); return out
        t._next_batch, t._train_step = next_batch.__get__(t), timed.__get__(t)
        t.save = lambda best=False: None
        t.fit()
    span = range(a.warmup + 1, steps + 1)
    u, p = sum(useful[s] for s in span), sum(positions[s] for s in span)
    dt = stamps[steps] - stamps[a.warmup]
    return {'batching': mode, 'useful_tok_s': round(u / dt, 1), 'all_positions_per_s': round(p / dt, 1),
            'padding_fraction': round(1 - u / p, 4), 'rows': len(t.train), 'steps_timed': a.steps}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--batch', type=int, default=8); p.add_argument('--seq', type=int, default=256)
    p.add_argument('--layers', type=int, default=4); p.add_argument('--width', type=int, default=256)
    p.add_argument('--precision', default='bf16'); p.add_argument('--steps', type=int, default=10); p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results' / 'padding.json'))
    a = p.parse_args(argv)
    if a.quick: a.steps, a.warmup = 3, 1
    import transformers; transformers.logging.set_verbosity_error()
    from lmresearch.core import atomic_write_json, package_dir, system_info
    from lmresearch.models import load_tokenizer
    from lmresearch.train import encode_texts
    tok = load_tokenizer('gpt2-tokenizer')
    lee = [t.strip() for t in (package_dir('gensim') / 'test' / 'test_data' / 'lee_background.cor').read_text().splitlines() if t.strip()]
    docs = encode_texts(lee, tok, a.seq)
    lens = [len(d['input_ids']) for d in docs]
    load0 = os.getloadavg()
    res = []
    for mode in ('pad', 'group', 'pack'):
        res.append(measure(mode, docs, tok, a)); print(res[-1], flush=True)
    base = res[0]['useful_tok_s']
    for r in res: r['speedup_vs_pad'] = round(r['useful_tok_s'] / base, 2)
    out = {'benchmark': 'padding', 'command': ' '.join([Path(sys.executable).name, *sys.argv]), 'args': vars(a),
           'documents': len(docs), 'doc_tokens': {'min': min(lens), 'median': sorted(lens)[len(lens) // 2], 'max': max(lens)},
           'results': res, 'loadavg_before': load0, 'loadavg_after': os.getloadavg(),
           'note': 'CPU shared with other jobs (2 cores); numbers are noisy, the ratios are what matter', 'system': system_info()}
    atomic_write_json(a.out, out)
    for r in res: print(f"{r['batching']:>6}: {r['useful_tok_s']:8.0f} useful tok/s  padding {r['padding_fraction']:.1%}  x{r['speedup_vs_pad']}")
    print('wrote', a.out)


if __name__ == '__main__':
    main()

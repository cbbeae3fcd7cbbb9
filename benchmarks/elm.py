"""ELM line: training steps/s and peak memory of the adapter with the frozen SmolLM2-135M, LM in bf16 vs fp32
(with and without the drift term), greedy generation, and BERTScore pairs/s, in one run:

    .venv/bin/python benchmarks/elm.py [--steps 4] [--batch 8] [--lm smollm2-135m]

Each configuration runs in a fresh process (so peak RSS is its own); ratios are against fp32 in the same run.
Results: benchmarks/results/elm.json.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1')

def one(a) -> dict:
    import torch, transformers
    transformers.logging.set_verbosity_error(); transformers.logging.disable_progress_bar()
    from lmresearch.elm.data import read_split
    from lmresearch.elm.train import elm_config, build_elm, task_examples
    from lmresearch.elm.model import collate_elm
    from lmresearch.elm.evaluate import generate_summaries
    cfg = elm_config('cpu', a.data,
                     overrides={'model.name': a.lm, 'model.dtype': a.dtype, 'elm.text_drift_weight': a.drift,
                                                'elm.contrastive_weight': 0.05})
    rows, emb = read_split(a.data, 'train')
    t0 = time.perf_counter(); model = build_elm(cfg); load_s = time.perf_counter() - t0
    ex = task_examples(rows, emb, model.tokenizer, cfg.elm.max_target_tokens)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    times = []
    for i in range(a.steps + 1):                     # the first step is a warm-up, not timed
        b = collate_elm([ex[(i * a.batch + j) % len(ex)] for j in range(a.batch)], model.tokenizer.pad_token_id)
        t = time.perf_counter()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=a.dtype == 'bf16'):
            out = model.losses(b)
        model.total(out).backward(); opt.step(); opt.zero_grad()
        if i: times.append(time.perf_counter() - t)
    t = time.perf_counter()
    gen = generate_summaries(model, rows[:a.batch], emb, max_new_tokens=32, batch_size=a.batch)
    gen_s = time.perf_counter() - t
    return {'lm': a.lm, 'dtype': a.dtype, 'drift': a.drift > 0, 'batch': a.batch, 'steps': a.steps,
            'steps_per_s': a.steps / sum(times), 's_per_step': sum(times) / a.steps, 'model_load_s': load_s,
            'generate_tokens_per_s': a.batch * 32 / gen_s,
            'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            'threads': torch.get_num_threads()}

def bertscore_rate(data: str, n: int = 64) -> dict:
    from lmresearch.elm.data import read_split
    from lmresearch.bertscore import bertscore, scorer
    rows, _ = read_split(data, 'train')
    refs = [r['target_text'] for r in rows][:n]
    cands = refs[1:] + refs[:1]
    scorer(); t = time.perf_counter(); bertscore(cands, refs); s = time.perf_counter() - t
    return {'bertscore_pairs': len(refs), 'bertscore_pairs_per_s': len(refs) / s}

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--steps', type=int, default=4); p.add_argument('--batch', type=int, default=8)
    p.add_argument('--lm', default='smollm2-135m'); p.add_argument('--one', action='store_true')
    p.add_argument('--dtype',
                   default='bf16'); p.add_argument('--drift', type=float, default=0.05); p.add_argument('--data')
    a = p.parse_args()
    if a.one: print(json.dumps(one(a))); return
    from lmresearch.core import project_root, system_info
    from lmresearch.elm.data import build
    data = Path(tempfile.mkdtemp(prefix='elm-bench-')) / 'pq'
    build(project_root() / 'assets' / 'pubmedqa' / 'ori_pqal.json', data, 'CONTEXTS', 'LONG_ANSWER', max_pairs=48,
          max_summary_words=40, progress=False)
    rows = []
    for dtype, drift in (('fp32', 0.05), ('bf16', 0.05), ('bf16', 0.0)):
        cmd = [sys.executable, __file__, '--one', '--dtype', dtype, '--drift', str(drift), '--steps', str(a.steps),
               '--batch', str(a.batch), '--lm', a.lm, '--data', str(data)]
        r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f"{r['dtype']:>5} drift={str(r['drift']):5} {r['s_per_step']:6.2f} s/step ({r['steps_per_s']:.3f} steps/s), "
              f"peak RSS {r['peak_rss_mb']:.0f} MB, generation {r['generate_tokens_per_s']:.1f} tokens/s")
    base = rows[0]
    for r in rows[1:]:
        r['speedup_vs_fp32'] = base['s_per_step'] / r['s_per_step']
        print(f"{r['dtype']} drift={r['drift']}: {r['speedup_vs_fp32']:.2f}x the fp32 step rate, "
              f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}x its peak memory")
    bs = bertscore_rate(str(data))
    print(f"BERTScore (MiniLM-L6): {bs['bertscore_pairs_per_s']:.1f} pairs/s over {bs['bertscore_pairs']} pairs")
    out = Path(__file__).parent / 'results' / 'elm.json'
    out.write_text(json.dumps({'runs': rows, **bs, 'system': system_info(), 'load_average': os.getloadavg()}, indent=2, default=str))
    print('wrote', out)

if __name__ == '__main__': main()

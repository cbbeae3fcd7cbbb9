"""Masking speed on an EFCAMDAT-sized synthetic corpus (lmresearch.ilm.mask.mask_dir).

    .venv/bin/python benchmarks/ilm_mask.py [--docs 723000] [--jobs 1 2] [--peer-docs 300]

Goal (issue): 723k documents of 118-1,082 characters (mean ~328), 16 masks each, in under 2 minutes on 2 cores.
Prints examples/s per job count and the ratio against the paper's one-mask-at-a-time Python loop
(`reference_examples`, same segmentation) run in the same process; writes benchmarks/results/ilm_mask.json.
"""
import argparse, json, os, platform, random, resource, shutil, sys, tempfile, time
from pathlib import Path

import numpy as np

from lmresearch.core import atomic_write_json, system_info
from lmresearch.ilm.docs import write_documents
from lmresearch.ilm.mask import mask_dir, reference_examples

VOCAB = ('i you we they he she it is are was have has like go went my your the a an to and but because in on at school '
         'friend family work city country weekend morning food music sport holiday house day week year very really good '
         'bad big small new old happy want need think know can will would should every often sometimes usually').split()


def synthetic_docs(n: int, seed: int = 0, mean: int = 328, lo: int = 118, hi: int = 1082) -> list[str]:
    "EFCAMDAT-shaped learner-like texts: lognormal lengths clipped to [lo, hi], sentences of 4-20 words, ~12% paragraph breaks."
    rng = np.random.default_rng(seed)
    sigma = 0.55
    lens = np.clip(rng.lognormal(np.log(mean) - sigma ** 2 / 2, sigma, n), lo, hi).astype(int)
    words = np.array(VOCAB)[rng.integers(0, len(VOCAB), int(lens.sum() // 3) + 1000)].tolist()
    r = random.Random(seed)
    docs, w = [], 0
    for L in lens.tolist():
        parts, cur = [], 0
        while cur < L:
            k = r.randint(4, 20)
            s = ' '.join(words[w:w + k]); w = (w + k) % (len(words) - 30)
            s = s[0].upper() + s[1:] + r.choice('.....!?')
            parts.append(('\n' if parts and r.random() < 0.12 else ' ' if parts else '') + s); cur += len(s) + 1
        docs.append(''.join(parts)[:L].rstrip())
    return docs


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--docs', type=int, default=723_000)
    ap.add_argument('--jobs', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--peer-docs', type=int, default=300)
    ap.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'ilm_mask.json'))
    a = ap.parse_args(argv)
    t = time.perf_counter(); docs = synthetic_docs(a.docs); gen_s = time.perf_counter() - t
    lens = np.array([len(d) for d in docs])
    work = Path(tempfile.mkdtemp(prefix='lmr-bench-ilm-'))
    try:
        write_documents(docs, work / 'in' / 'train.txt')
        runs = {}
        for j in a.jobs:
            cpu0 = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
            t = time.perf_counter()
            st = mask_dir(work / 'in', work / f'out{j}', per_doc=16, retries=16, p=0.03, seed=0, jobs=j)
            s = time.perf_counter() - t
            cpu = sum(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime for r0, r1 in
                      zip(cpu0, [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]))
            runs[j] = {'seconds': s, 'cpu_seconds': cpu, 'load_average_1m': os.getloadavg()[0], 'examples': st['total']['examples'], 'examples_per_s': st['total']['examples'] / s,
                       'docs_per_s': a.docs / s, 'mask_rate': st['total']['mask_rate'],
                       'parquet_mb': (work / f'out{j}' / 'train.parquet').stat().st_size / 2 ** 20}
            print(f'jobs={j}: {s:.1f}s for {a.docs} docs -> {runs[j]["examples"]} examples '
                  f'({runs[j]["examples_per_s"]:,.0f} examples/s; {cpu:.1f} CPU-s, load {os.getloadavg()[0]:.1f}), mask rate {runs[j]["mask_rate"]:.3f}', flush=True)
        same = len({(work / f'out{j}' / 'train.parquet').read_bytes() for j in a.jobs}) == 1
        # peer: the paper's loop on a few documents
        rnd, t, n_peer = random.Random(0), time.perf_counter(), 0
        for d in docs[:a.peer_docs]: n_peer += len(reference_examples(d, 16, 16, 0.03, rng=rnd))
        peer = n_peer / (time.perf_counter() - t)
        best = max(r['examples_per_s'] for r in runs.values())
        full_s = {j: 723_000 * r['seconds'] / a.docs for j, r in runs.items()}
        cpu_full = 723_000 * runs[max(runs)]['cpu_seconds'] / a.docs   # CPU-seconds: what 2 idle cores would share
        res = {'docs': a.docs, 'chars': {'mean': float(lens.mean()), 'min': int(lens.min()), 'max': int(lens.max())},
               'generate_s': gen_s, 'runs': runs, 'identical_output_across_jobs': same,
               'peer_paper_loop_examples_per_s': peer, 'speedup_vs_paper_loop': best / peer,
               'projected_seconds_for_723k_docs': full_s, 'projected_cpu_seconds_for_723k_docs': cpu_full,
               'projected_seconds_on_2_idle_cores': cpu_full / 2,
               'goal': '723k docs x 16 masks in < 120 s on 2 cores',
               'cores': os.cpu_count(), 'cpu': system_info(())['cpu'], 'python': platform.python_version(),
               'command': ' '.join([Path(sys.executable).name, *sys.argv])}
        print(f'paper loop: {peer:,.0f} examples/s; vectorised is {best / peer:.0f}x faster; '
              f'identical across jobs: {same}; 723k docs: ' + ', '.join(f'jobs={j} {s:.0f}s' for j, s in full_s.items()) + f'; {cpu_full:.0f} CPU-s = {cpu_full / 2:.0f}s on 2 idle cores')
        atomic_write_json(a.out, res)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()

"""Time and memory of the ILM data stages before tokenization, EFCAMDAT-sized: `ilm.data.prepare`, `ilm.mask.mask_dir`.

    .venv/bin/python benchmarks/ilm_prepare.py [--docs 723000] [--jobs 2]

The corpus is benchmarks/ilm_mask.py's generator (lognormal lengths, mean ~328 characters), written as a learner CSV
with a CEFR level per row (EFCAMDAT-like shares, A1-C1) and one of 10 first languages. Each stage runs in a fresh
process; its peak memory is the peak of the resident memory of its whole process tree (the stage and its worker
processes), sampled every 50 ms. Writes benchmarks/results/ilm_prepare.json.
"""
import argparse, json, os, platform, shutil, subprocess, sys, tempfile, threading, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARES = {'A1': 0.36, 'A2': 0.29, 'B1': 0.22, 'B2': 0.10, 'C1': 0.03}    # EFCAMDAT-like: most writing is at A1-A2


def tree_rss_mb(pid: int) -> float:
    "Resident memory of `pid` and all its descendants, in MB."
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f'/proc/{p}/status').read_text().splitlines():
                if line.startswith('VmRSS:'): total += int(line.split()[1]) / 1024
            for t in os.listdir(f'/proc/{p}/task'):
                todo += [int(c) for c in Path(f'/proc/{p}/task/{t}/children').read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError): pass
    return total


def measured(cmd: list[str]) -> dict:
    "Run `cmd`, sampling its process tree's memory; its last stdout line (JSON) plus seconds and peak MB."
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak, done = [0.0], threading.Event()
    def watch():
        while not done.is_set(): peak[0] = max(peak[0], tree_rss_mb(p.pid)); time.sleep(0.05)
    w = threading.Thread(target=watch, daemon=True); w.start()
    out = p.communicate()[0]; done.set(); w.join()
    if p.returncode: raise SystemExit(f'{cmd} failed ({p.returncode})')
    return {**json.loads(out.strip().splitlines()[-1]), 'seconds': time.perf_counter() - t, 'peak_tree_rss_mb': peak[0]}


def stage(name: str, work: Path, jobs: int) -> dict:
    if name == 'prepare':
        from lmresearch.ilm.data import prepare
        st = prepare(work / 'learners.csv', work / 'prepared', seed=0)
        return {'documents': st['documents'], 'too_small_to_split': st['too_small_to_split']}
    from lmresearch.ilm.mask import mask_dir
    st = mask_dir(work / 'prepared', work / 'masked', per_doc=16, retries=16, p=0.03, seed=0, jobs=jobs)
    return {'examples': st['total']['examples'], 'mask_rate': st['total']['mask_rate']}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--docs', type=int, default=723_000)
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--out', default=str(HERE / 'results' / 'ilm_prepare.json'))
    ap.add_argument('--stage'); ap.add_argument('--work')
    a = ap.parse_args(argv)
    if a.stage: print(json.dumps(stage(a.stage, Path(a.work), a.jobs))); return
    import numpy as np, pandas as pd
    sys.path.insert(0, str(HERE))
    from ilm_mask import synthetic_docs
    from lmresearch.core import atomic_write_json, system_info
    work = Path(tempfile.mkdtemp(prefix='lmr-bench-ilm-prep-'))
    try:
        rng = np.random.default_rng(0)
        docs = synthetic_docs(a.docs)
        pd.DataFrame({'text': docs, 'cefr': rng.choice(list(SHARES), a.docs, p=list(SHARES.values())),
                      'nationality': rng.choice([f'L1-{i}' for i in range(10)], a.docs)}).to_csv(work / 'learners.csv',
                                                                                                  index=False)
        del docs
        csv_mb = (work / 'learners.csv').stat().st_size / 2**20
        me = [sys.executable, __file__, '--work', str(work), '--jobs', str(a.jobs), '--stage']
        load0 = os.getloadavg()[0]
        prep = measured(me + ['prepare'])
        print(f'prepare: {a.docs:,} rows ({csv_mb:.0f} MB CSV) in {prep["seconds"]:.0f}s, '
              f'peak {prep["peak_tree_rss_mb"]:,.0f} MB', flush=True)
        mask = measured(me + ['mask'])
        print(f'mask ({a.jobs} jobs): {mask["examples"]:,} examples in {mask["seconds"]:.0f}s, '
              f'peak {mask["peak_tree_rss_mb"]:,.0f} MB (all processes)', flush=True)
        res = {'docs': a.docs, 'csv_mb': csv_mb, 'level_shares': SHARES, 'prepare': prep, 'mask': mask,
               'load_average_1m': {'before': load0, 'after': os.getloadavg()[0]}, 'cores': os.cpu_count(),
               'cpu': system_info(())['cpu'], 'python': platform.python_version(),
               'command': ' '.join([Path(sys.executable).name, *sys.argv])}
        atomic_write_json(a.out, res)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()

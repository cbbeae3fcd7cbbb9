"""`lmr domains prepare` on a DebateSum-shaped CSV of at least 1 GB: time, rows/s and peak RSS of the streaming path,
against the in-memory path (today's algorithm before issue 17: the whole file read at once, the cap by a full sort)
on a smaller file in the same run, and a check that both give byte-identical outputs.

    .venv/bin/python benchmarks/domains_prepare.py [--gb 1.05] [--small-rows 40000] [--tmp /tmp]

The CSV has DebateSum's text columns (Full-Document, Citation, Extract, Abstract) and its bookkeeping columns (counts,
file name, tag, year). Documents are real English text re-combined: sentences of PubMedQA's abstracts (assets/) and
gensim's Wikipedia sample, 2.6 KB per row on average as in DebateSum. The files are written under --tmp and deleted
afterwards (never committed). Caps as in issue 17: 20,000 documents per source, 5,000 SFT examples per domain. Each
prepare runs in a fresh process; its peak RSS is its own `ru_maxrss`. Writes benchmarks/results/domains_prepare.json.
"""
import argparse, csv, json, os, random, resource, subprocess, sys, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ['Full-Document', 'Citation', 'Extract', 'Abstract', '#CharsDocument', '#CharsAbstract', '#CharsExtract',
           '#WordsDocument', '#WordsAbstract', '#WordsExtract', 'AbsCompressionRatio', 'ExtCompressionRatio',
           'OriginalDebateFileName', 'Tag', 'DebateCamp', 'Year']
CAPS = {'max_docs_per_source': 20000, 'max_sft_per_domain': 5000}


def sentences() -> list[str]:
    "Real English sentences: PubMedQA abstracts and the packaged Wikipedia sample."
    import re
    from lmresearch.corpora import load_corpus
    pm = json.loads((ROOT / 'assets' / 'pubmedqa' / 'ori_pqal.json').read_text())
    texts = [' '.join(v['CONTEXTS']) for v in pm.values()] + [r.text for r in load_corpus('enwiki-sample')]
    return [s for t in texts for s in re.split(r'(?<=[.!?])\s+', t) if 20 <= len(s) <= 400]


def write_csv(path: Path, target_bytes: int | None, rows: int | None, seed: int = 0) -> dict:
    "A DebateSum-shaped CSV of about `target_bytes` (or exactly `rows` rows); its size and row count."
    rng, sents, n = random.Random(seed), sentences(), 0
    with open(path, 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f); w.writerow(COLUMNS)
        while (rows is None or n < rows) and (target_bytes is None or f.tell() < target_bytes):
            doc = ' '.join(rng.choice(sents) for _ in range(rng.randint(6, 30)))
            ext, ab = ' '.join(rng.choice(sents) for _ in range(3)), rng.choice(sents)
            if n % 500 == 7: doc = doc.replace('. ', '.\n\n', 2)           # some cards hold paragraph breaks
            w.writerow([doc, f'Author {n % 997}, Journal {n % 89}, {1990 + n % 33} [{n}]', ext, ab, len(doc), len(ab),
                        len(ext), len(doc.split()), len(ab.split()), len(ext.split()), round(len(ab) / len(doc), 4),
                        round(len(ext) / len(doc), 4), f'file{n % 4000}.docx', f'tag {n % 50}', f'camp{n % 40}',
                        2013 + n % 7])
            n += 1
    return {'bytes': path.stat().st_size, 'rows': n}


def registry(csv_path: Path, out: Path) -> Path:
    "A registry with the shipped DebateSum entry pointed at `csv_path`."
    e = {'name': 'debatesum', 'domain': 'debate', 'path': str(csv_path), 'text': ['Full-Document'],
         'prompt': "Write the debate card's summary of this evidence.\n\n{Extract}", 'response': 'Abstract',
         'id': 'Citation', 'license': 'MIT'}
    out.write_text('sources:\n  - ' + json.dumps(e) + '\n')
    return out


def one(a) -> dict:
    "Prepare in this process, streaming or in memory; its seconds, records and peak RSS."
    from lmresearch.domains import prepare
    if a.in_memory:                                   # the path before issue 17: read it all, cap by a full sort
        import pandas as pd
        from lmresearch.core import stable_hash
        from lmresearch.data import Record
        from lmresearch.domains.sources import record_rows
        def rows_in_memory(s, root=None):
            df = pd.read_csv(s.path, dtype=str, keep_default_na=False)
            recs = [Record(r[s.text[0]], r, f'{s.path}#row={i}') for i, r in enumerate(df.to_dict('records'), 1)]
            return [row for r in recs for row in record_rows(s, r)]
        def cap_sorted(rows, n, seed=42):
            rows = list(rows)
            if n is None or n >= len(rows): return rows
            keep = set(sorted(range(len(rows)), key=lambda i: stable_hash('cap', seed, rows[i]['id']))[:n])
            return [r for i, r in enumerate(rows) if i in keep]
        prepare.source_rows, prepare.cap_rows = rows_in_memory, cap_sorted
    t = time.perf_counter()
    man = prepare.prepare_domains(a.out, registry=a.registry, root=a.tmp, **CAPS)
    dt = time.perf_counter() - t
    src = man['sources'][0]
    return {'seconds': round(dt, 2), 'records': src['records'], 'kept': src['kept'],
            'rows_per_s': round(src['records'] / dt, 1),
            'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run_one(reg: Path, out: Path, tmp: Path, in_memory: bool) -> dict:
    cmd = [sys.executable, __file__, '--one', '--registry', str(reg), '--out', str(out), '--tmp', str(tmp)]
    r = subprocess.run(cmd + (['--in-memory'] if in_memory else []), capture_output=True, text=True,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'})
    if r.returncode: sys.exit(f'prepare failed:\n{r.stderr[-3000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])


def outputs(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob('*.jsonl'))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--gb', type=float, default=1.05, help='size of the large CSV in GB (at least 1)')
    ap.add_argument('--small-rows', type=int, default=40000, help='rows of the small CSV (both paths run on it)')
    ap.add_argument('--tmp', default=tempfile.gettempdir(), help='where the CSVs and outputs go (deleted afterwards)')
    ap.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results' / 'domains_prepare.json'))
    ap.add_argument('--one', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--in-memory', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--registry', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one: print(json.dumps(one(a))); return
    import shutil
    from lmresearch.core import atomic_write_json, system_info
    load0, work = os.getloadavg(), Path(tempfile.mkdtemp(prefix='bench-domains-prepare-', dir=a.tmp))
    try:
        t = time.perf_counter(); small = write_csv(work / 'small.csv', None, a.small_rows)
        large = write_csv(work / 'large.csv', int(a.gb * 1e9), None); gen_s = time.perf_counter() - t
        print(f"generated: small {small['rows']} rows, {small['bytes'] / 1e6:.0f} MB; large {large['rows']} rows, "
              f"{large['bytes'] / 1e9:.2f} GB ({gen_s:.0f} s)", flush=True)
        res = {'small_stream': run_one(registry(work / 'small.csv', work / 's.yaml'), work / 'o-ss', work, False),
               'small_in_memory': run_one(registry(work / 'small.csv', work / 's.yaml'), work / 'o-sm', work, True)}
        same = outputs(work / 'o-ss') == outputs(work / 'o-sm')
        print(f"small: streaming {res['small_stream']}, in memory {res['small_in_memory']}, identical outputs: {same}",
              flush=True)
        res['large_stream'] = run_one(registry(work / 'large.csv', work / 'l.yaml'), work / 'o-ls', work, False)
        print(f"large: streaming {res['large_stream']}", flush=True)
    finally: shutil.rmtree(work, ignore_errors=True)
    ls, ss, sm = res['large_stream'], res['small_stream'], res['small_in_memory']
    ratios = {'large_peak_rss_over_file': ls['peak_rss_mb'] * 2**20 / large['bytes'],
              'large_over_small_stream_peak_rss': ls['peak_rss_mb'] / ss['peak_rss_mb'],
              'small_in_memory_over_stream_peak_rss': sm['peak_rss_mb'] / ss['peak_rss_mb'],
              'small_stream_over_in_memory_rows_per_s': ss['rows_per_s'] / sm['rows_per_s']}
    ok = same and ls['peak_rss_mb'] < 1024
    under = 'under' if ls['peak_rss_mb'] < 1024 else 'OVER'
    print(f"peak RSS {ls['peak_rss_mb']:.0f} MB on {large['bytes'] / 1e9:.2f} GB ({under} 1 GB); "
          f"{ls['rows_per_s']:.0f} rows/s; ratios {json.dumps({k: round(v, 3) for k, v in ratios.items()})}")
    args = {**vars(a), 'out': os.path.relpath(a.out, ROOT)}
    atomic_write_json(a.out, {'command': ' '.join(sys.argv), 'args': args, 'caps': CAPS,
                              'files': {'small': small, 'large': large, 'generate_s': round(gen_s, 1)},
                              'results': res, 'identical_outputs_small': same, 'ratios': ratios, 'ok': ok,
                              'threads': 1, 'loadavg_before': load0, 'loadavg_after': os.getloadavg(),
                              'system': system_info()})
    print(f'wrote {a.out}')
    if not ok: sys.exit(1)


if __name__ == '__main__':
    main()

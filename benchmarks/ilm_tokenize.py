"""Tokenizing and formatting ILM examples into the token store (lmresearch.ilm.store), EFCAMDAT-sized.

    .venv/bin/python benchmarks/ilm_tokenize.py [--docs 723000] [--peer-examples 20000] [--read-batches 2000]

Goal (issue 8 §2): 723k documents x 16 masks tokenized and formatted into the store in under 10 minutes on 2 cores,
peak RSS under 3 GB. The corpus and the masks are those of benchmarks/ilm_mask.py (same generator, mask_dir with
p = 0.03, 16 masks per document). Each measured phase runs in a fresh process, so its peak RSS is its own:

  store  token_store(masked, 'train', GPT-2 tokenizer + ILM tokens): examples/s, peak RSS, bytes on disk per example
  read   what a training job holds: store_examples (open, select, view, seq_len 256) + compact_batch_order over every
         example + `--read-batches` batches of 24 collated by IlmObjective: batches/s, peak RSS (and its anonymous part)
  list   today's path on a slice (`--peer-examples` examples): the (doc, spans) items of split_items and
         ilm_training_examples, examples/s and memory per example (RSS growth while they are held); and whether the
         store's examples equal them

The JSON (benchmarks/results/ilm_tokenize.json by default) has every number, the ratios store/list of examples/s and
of memory per example, and, when --docs is below 723,000, the projection to 723k documents (linear in documents).
"""
import argparse, json, os, platform, shutil, subprocess, sys, tempfile, threading, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL_DOCS = 723_000


class Memory:
    """Peak RSS of this process (VmHWM: the kernel's high-water mark of this process's own memory; `ru_maxrss` is not
    used, since it keeps the parent's size from before `exec`), and the peaks of its anonymous memory and of its
    file-backed pages (memory maps; shared and reclaimable), sampled every 50 ms; in MB."""
    def __init__(self):
        self.anon_peak, self.file_peak, self._stop = 0.0, 0.0, False
        self._t = threading.Thread(target=self._watch, daemon=True); self._t.start()
    @staticmethod
    def status(key: str) -> float:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith(key + ':'): return int(line.split()[1]) / 1024
        return float('nan')
    def _watch(self):
        while not self._stop: self.sample(); time.sleep(0.05)
    def sample(self):
        self.anon_peak = max(self.anon_peak, self.status('RssAnon'))
        self.file_peak = max(self.file_peak, self.status('RssFile'))
    def report(self) -> dict:
        self._stop = True; self._t.join(); self.sample()
        return {'peak_rss_mb': self.status('VmHWM'), 'peak_anon_rss_mb': self.anon_peak,
                'peak_file_rss_mb': self.file_peak, 'rss_now_mb': self.status('VmRSS')}


def tokenizer():
    from lmresearch.models import load_tokenizer
    from lmresearch.ilm.model import add_ilm_tokens
    tok = load_tokenizer('gpt2-tokenizer'); add_ilm_tokens(tok)
    return tok


def phase_store(work: Path) -> dict:
    from lmresearch.ilm.store import token_store
    tok = tokenizer()
    mem, cpu0, t = Memory(), time.process_time(), time.perf_counter()
    st = token_store(work / 'masked', 'train', tok, progress=True)
    s = time.perf_counter() - t
    disk = sum(f.stat().st_size for f in st.path.iterdir())
    return {'seconds': s, 'cpu_seconds': time.process_time() - cpu0, 'examples': len(st),
            'tokens': st.manifest['tokens'],
            'skipped': st.manifest['skipped']['count'], 'examples_per_s': len(st) / s, 'built': st.built,
            'disk_mb': disk / 2**20, 'disk_bytes_per_example': disk / len(st), 'shards': len(st.manifest['shards']),
            'load_average_1m': os.getloadavg()[0], **mem.report()}


def phase_read(work: Path, batches: int) -> dict:
    from lmresearch.ilm.model import IlmObjective
    from lmresearch.ilm.store import compact_batch_order, store_examples
    tok = tokenizer()
    mem, base = Memory(), Memory.status('VmRSS')
    t = time.perf_counter()
    view = store_examples(work / 'masked', 'train', tok, 256, train_on='infill+context')
    order = compact_batch_order(view.lengths, 24, 0, 0, group=True)
    setup = time.perf_counter() - t
    held = view.index.nbytes + view.lengths.nbytes + view.store.lengths.nbytes + order.order.nbytes + order.perm.nbytes
    obj, n, t = IlmObjective(two_means=True), 0, time.perf_counter()
    for k in range(min(batches, len(order))):
        b = obj.collate([view[i] for i in order[k]], tok.pad_token_id); n += len(b['input_ids'])
    s = time.perf_counter() - t
    return {'examples': len(view), 'setup_seconds': setup, 'batches': min(batches, len(order)), 'batch_examples': n,
            'examples_per_s': n / s, 'rss_after_imports_mb': base, 'held_bytes_per_example': held / len(view),
            **mem.report()}


def phase_list(work: Path, n: int) -> dict:
    """Today's path on the first `n` examples: items as split_items makes them, then ilm_training_examples; timed, then
    made again under tracemalloc to count the bytes they hold (the documents' text, shared by all, excluded)."""
    import tracemalloc, warnings
    import pyarrow.parquet as pq
    from lmresearch.ilm.docs import read_documents
    from lmresearch.ilm.mask import SPAN_TYPES
    from lmresearch.ilm.model import ilm_training_examples
    tok = tokenizer()
    docs = read_documents(work / 'masked' / 'train.txt')
    df = next(pq.ParquetFile(work / 'masked' / 'train.parquet').iter_batches(batch_size=n)).to_pandas()
    rows = list(zip(df['doc'], df['example'], df['type'], df['offset'], df['length']))
    def make():
        items = [{'doc': docs[d], 'spans': [(SPAN_TYPES[a], int(b), int(c)) for a, b, c in zip(ty, o, l)],
                  'doc_id': int(d), 'example': int(e), 'level': 'B1'} for d, e, ty, o, l in rows]
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            t = time.perf_counter()
            ex = ilm_training_examples(items, tok, 256, train_on='infill+context')
        return items, ex, time.perf_counter() - t
    t = time.perf_counter(); items, ex, s = make(); t_items = time.perf_counter() - t - s
    del items
    tracemalloc.start(); kept = make()[:2]; held = tracemalloc.get_traced_memory()[0]; tracemalloc.stop()
    del kept
    from lmresearch.ilm.store import store_examples                 # the store gives the same examples
    view = store_examples(work / 'masked', 'train', tok, 256, train_on='infill+context')
    same = all({k: v.tolist() for k, v in view[i].items()} == e for i, e in enumerate(ex))
    return {'examples': len(ex), 'items_seconds': t_items, 'format_seconds': s, 'examples_per_s': len(ex) / s,
            'held_mb': held / 2**20, 'bytes_per_example': held / len(ex), 'store_identical': same}


def child(phase: str, work: Path, arg: int) -> dict:
    cmd = [sys.executable, __file__, '--phase', phase, '--work', str(work), '--arg', str(arg)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--docs', type=int, default=FULL_DOCS)
    ap.add_argument('--peer-examples', type=int, default=20_000)
    ap.add_argument('--read-batches', type=int, default=2000)
    ap.add_argument('--mask-jobs', type=int, default=2)
    ap.add_argument('--out', default=str(HERE / 'results' / 'ilm_tokenize.json'))
    ap.add_argument('--phase'); ap.add_argument('--work'); ap.add_argument('--arg', type=int, default=0)
    a = ap.parse_args(argv)
    if a.phase:
        work = Path(a.work)
        res = {'store': lambda: phase_store(work), 'read': lambda: phase_read(work, a.arg),
               'list': lambda: phase_list(work, a.arg)}[a.phase]()
        print(json.dumps(res)); return
    sys.path.insert(0, str(HERE))
    from ilm_mask import synthetic_docs
    from lmresearch.core import atomic_write_json, system_info
    from lmresearch.ilm.docs import write_documents
    from lmresearch.ilm.mask import mask_dir
    work = Path(tempfile.mkdtemp(prefix='lmr-bench-ilm-tok-'))
    try:
        t = time.perf_counter(); docs = synthetic_docs(a.docs); gen_s = time.perf_counter() - t
        write_documents(docs, work / 'in' / 'train.txt'); del docs
        t = time.perf_counter()
        ms = mask_dir(work / 'in', work / 'masked', per_doc=16, retries=16, p=0.03, seed=0, jobs=a.mask_jobs)
        mask_s = time.perf_counter() - t
        print(f'{a.docs:,} documents generated in {gen_s:.0f}s, masked in {mask_s:.0f}s: '
              f'{ms["total"]["examples"]:,} examples', flush=True)
        load0 = os.getloadavg()[0]
        store = child('store', work, 0)
        print(f'store: {store["examples"]:,} examples in {store["seconds"]:.0f}s ({store["examples_per_s"]:,.0f}/s, '
              f'{store["cpu_seconds"]:.0f} CPU-s), peak RSS {store["peak_rss_mb"]:,.0f} MB (anonymous '
              f'{store["peak_anon_rss_mb"]:,.0f} MB), {store["disk_bytes_per_example"]:.0f} bytes/example on disk',
              flush=True)
        again = child('store', work, 0)
        read = child('read', work, a.read_batches)
        print(f'read: view of {read["examples"]:,} examples + order in {read["setup_seconds"]:.1f}s, '
              f'{read["held_bytes_per_example"]:.1f} bytes/example held; {read["examples_per_s"]:,.0f} examples/s '
              f'collated; peak RSS {read["peak_rss_mb"]:,.0f} MB (anonymous {read["peak_anon_rss_mb"]:,.0f} MB, '
              f'after imports {read["rss_after_imports_mb"]:,.0f} MB)', flush=True)
        peer = child('list', work, a.peer_examples)
        print(f'list path: {peer["examples_per_s"]:,.0f} examples/s, {peer["bytes_per_example"]:,.0f} bytes/example '
              f'held; the store\'s first {peer["examples"]:,} examples identical: {peer["store_identical"]}',
              flush=True)
        scale = FULL_DOCS / a.docs
        res = {
            'docs': a.docs, 'examples': ms['total']['examples'], 'generate_s': gen_s, 'mask_s': mask_s,
            'store': store, 'store_second_job': {k: again[k] for k in ('seconds', 'built', 'peak_rss_mb')},
            'read': read, 'list_peer': peer,
            'ratio_examples_per_s_store_vs_list': store['examples_per_s'] / peer['examples_per_s'],
            'ratio_memory_per_example_list_vs_store_disk': peer['bytes_per_example'] / store['disk_bytes_per_example'],
            'ratio_memory_per_example_list_vs_job_held': peer['bytes_per_example'] / read['held_bytes_per_example'],
            'list_path_gb_for_all_examples': peer['bytes_per_example'] * ms['total']['examples'] / 1e9,
            'projected_store_seconds_for_723k_docs': store['seconds'] * scale,
            'projected': a.docs != FULL_DOCS,
            'goal': '723k docs x 16 masks into the store in < 600 s on 2 cores, peak RSS < 3 GB',
            'load_average_1m': {'before': load0, 'after': os.getloadavg()[0]},
            'cores': os.cpu_count(), 'cpu': system_info(())['cpu'], 'python': platform.python_version(),
            'command': ' '.join([Path(sys.executable).name, *sys.argv]),
        }
        print(f'store vs list: {res["ratio_examples_per_s_store_vs_list"]:.1f}x examples/s; memory per example '
              f'{res["ratio_memory_per_example_list_vs_store_disk"]:.0f}x smaller on disk, '
              f'{res["ratio_memory_per_example_list_vs_job_held"]:.0f}x smaller held by a job; list path for all '
              f'{ms["total"]["examples"]:,} examples: {res["list_path_gb_for_all_examples"]:.1f} GB')
        if res['projected']: print(f'projected to 723k documents: {res["projected_store_seconds_for_723k_docs"]:.0f}s')
        atomic_write_json(a.out, res)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()

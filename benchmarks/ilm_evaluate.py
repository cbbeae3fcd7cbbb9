"""An ILM evaluation job at EFCAMDAT's size, scored from the token store (lmresearch.ilm.experiment.evaluate_ilm).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ilm_evaluate.py [--docs 723000] [--peer-examples 20000]

Goal (issue 17 §2): an evaluation job on the test split of a 723k-document corpus (72.3k test documents x 16 masks,
~1.16M examples) with peak RSS under 3 GB. Before, evaluation formatted every test example of a level as Python lists
(`format_example` dicts, ~8 KB each) before scoring; now it reads them from the memory-mapped store one batch at a time.

The corpus and masks are those of benchmarks/ilm_mask.py (the same generator, p = 0.03, 16 masks per document); only
the test split (10% of --docs) is made, with levels A1-C1 in turn. The model is a 1-layer GPT-2 (width 32) over a
4,096-token BPE trained on the corpus (tokens per example close to GPT-2's), so the forward passes cost little and the
measurement is the evaluation's own memory: the store, the per-example and per-answer sums, the per-document frames and
the bootstrap CIs. Each phase runs in a fresh process, so its peak RSS is its own:

  eval  evaluate_ilm over every test example of every level (mixture test set, 3 masks): seconds, examples/s,
        peak RSS (and its anonymous part)
  list  the old path's memory on a slice (`--peer-examples` examples): format_example dicts held (tracemalloc),
        bytes per example, projected to every test example
"""
import argparse, json, os, platform, shutil, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL_DOCS = 723_000
sys.path.insert(0, str(HERE))
from ilm_tokenize import Memory           # VmHWM peak RSS and sampled anonymous / file-backed peaks


def tokenizer(work: Path):
    from transformers import PreTrainedTokenizerFast
    from lmresearch.ilm.model import add_ilm_tokens
    tok = PreTrainedTokenizerFast(tokenizer_file=str(work / 'bpe.json'), eos_token='<|endoftext|>',
                                  pad_token='<|endoftext|>')
    add_ilm_tokens(tok)
    return tok


def model(vocab: int):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=2048, n_embd=32, n_layer=1, n_head=2, bos_token_id=0,
                                      eos_token_id=0)).eval()


def phase_eval(work: Path) -> dict:
    import torch
    from lmresearch.ilm.experiment import evaluate_ilm
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    tok = tokenizer(work)
    m = model(len(tok))
    mem, base, t = Memory(), Memory.status('VmRSS'), time.perf_counter()
    res = evaluate_ilm(m, work / 'data', tokenizer=tok, batch_size=32, max_tokens=2048, n_resamples=200,
                       progress=True)
    s = time.perf_counter() - t
    n = int(res.summary.loc[res.summary['mask'] == 'infill_textonly', 'examples'].sum())
    return {'seconds': s, 'examples': n, 'examples_per_s': n / s, 'docs': int(res.per_doc['doc'].nunique()),
            'per_doc_rows': len(res.per_doc), 'per_type_rows': len(res.per_type), 'rss_after_imports_mb': base,
            'load_average_1m': os.getloadavg()[0], **mem.report()}


def phase_list(work: Path, n: int) -> dict:
    "The old path: `format_example` of the first `n` test examples, held as the old evaluation held a level's."
    import tracemalloc
    from lmresearch.ilm.experiment import split_items
    from lmresearch.ilm.model import format_example
    tok = tokenizer(work)
    items = split_items(work / 'data', 'test', 'all')[:n]
    tracemalloc.start()
    t = time.perf_counter()
    exs = [format_example(x['doc'], x['spans'], tok) for x in items]
    s, held = time.perf_counter() - t, tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {'examples': len(exs), 'seconds': s, 'held_mb': held / 2**20, 'bytes_per_example': held / len(exs)}


def child(phase: str, work: Path, arg: int = 0) -> dict:
    cmd = [sys.executable, __file__, '--phase', phase, '--work', str(work), '--arg', str(arg)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def make_data(work: Path, docs: int) -> dict:
    "The test split of a `docs`-document corpus: documents with levels, masked 16 times; a BPE tokenizer trained on it."
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
    from ilm_mask import synthetic_docs
    from lmresearch.core import atomic_write_text
    from lmresearch.ilm.docs import write_documents
    from lmresearch.ilm.mask import mask_dir
    n = docs // 10
    t = time.perf_counter(); texts = synthetic_docs(n, seed=1); gen_s = time.perf_counter() - t
    pre = work / 'data' / 'prepared'
    for split, k in (('test', n), ('train', 1), ('valid', 1)):
        write_documents(texts[:k], pre / f'{split}.txt')
        levels = ['A1', 'A2', 'B1', 'B2', 'C1']
        atomic_write_text(pre / f'{split}.meta.jsonl', ''.join(json.dumps({'level': levels[i % 5], 'l1': 'unknown'})
                                                               + '\n' for i in range(k)))
    t = time.perf_counter()
    ms = mask_dir(pre, work / 'data' / 'masked', per_doc=16, retries=16, p=0.03, seed=0, jobs=2)
    mask_s = time.perf_counter() - t
    bpe = Tokenizer(models.BPE()); bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts[:20000], trainers.BpeTrainer(vocab_size=4096, special_tokens=['<|endoftext|>'],
                                                               initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.save(str(work / 'bpe.json'))
    return {'test_docs': n, 'test_examples': ms['splits']['test']['examples'], 'generate_s': gen_s, 'mask_s': mask_s}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--docs', type=int, default=FULL_DOCS)
    ap.add_argument('--peer-examples', type=int, default=20_000)
    ap.add_argument('--out', default=str(HERE / 'results' / 'ilm_evaluate.json'))
    ap.add_argument('--phase'); ap.add_argument('--work'); ap.add_argument('--arg', type=int, default=0)
    a = ap.parse_args(argv)
    if a.phase:
        res = {'eval': lambda: phase_eval(Path(a.work)), 'list': lambda: phase_list(Path(a.work), a.arg)}[a.phase]()
        print(json.dumps(res)); return
    from lmresearch.core import atomic_write_json, system_info
    work = Path(tempfile.mkdtemp(prefix='lmr-bench-ilm-eval-'))
    try:
        load0 = os.getloadavg()[0]
        data = make_data(work, a.docs)
        print(f'{data["test_docs"]:,} test documents, {data["test_examples"]:,} examples', flush=True)
        ev = child('eval', work)
        print(f'eval: {ev["examples"]:,} examples in {ev["seconds"]:.0f}s ({ev["examples_per_s"]:,.0f}/s), peak RSS '
              f'{ev["peak_rss_mb"]:,.0f} MB (anonymous {ev["peak_anon_rss_mb"]:,.0f} MB)', flush=True)
        peer = child('list', work, a.peer_examples)
        per_example = ev['peak_anon_rss_mb'] * 2**20 / ev['examples']
        res = {'docs': a.docs, **data, 'eval': ev, 'list_peer': peer,
               'list_path_gb_for_all_test_examples': peer['bytes_per_example'] * data['test_examples'] / 1e9,
               'ratio_list_bytes_per_example_vs_eval_peak_anon_bytes_per_example': peer['bytes_per_example']
               / per_example,
               'goal': 'an evaluation job on the test split of 723k documents (16 masks each): peak RSS < 3 GB',
               'met': ev['peak_rss_mb'] < 3 * 1024, 'load_average_1m': {'before': load0, 'after': os.getloadavg()[0]},
               'threads': os.environ.get('OMP_NUM_THREADS'), 'cores': os.cpu_count(), 'cpu': system_info(())['cpu'],
               'python': platform.python_version(), 'command': ' '.join([Path(sys.executable).name, *sys.argv])}
        print(f'list path: {peer["bytes_per_example"]:,.0f} bytes per example held, '
              f'{res["list_path_gb_for_all_test_examples"]:.1f} GB for all {data["test_examples"]:,} test examples; '
              f'the store-based job peaked at {ev["peak_rss_mb"] / 1024:.2f} GB')
        atomic_write_json(a.out, res)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()

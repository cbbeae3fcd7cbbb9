"""Load time of each offline asset in a fresh process: `.venv/bin/python benchmarks/asset_load_times.py`.

Cached loads first, then the first load (GGUF conversion, corpus parse) into a temporary `LMR_CACHE`.
"""
import os, time, tempfile
os.environ['HF_HUB_OFFLINE'] = '1'
t = time.perf_counter(); import torch, transformers; print(f'import torch+transformers {time.perf_counter()-t:.2f}s')
from lmresearch.models import load_model, load_tokenizer
from lmresearch.corpora import load_corpus, CORPORA
def tm(label, f):
    t = time.perf_counter(); r = f(); print(f'{label:<40} {time.perf_counter()-t:6.2f}s'); return r
tm('gpt2-tokenizer', lambda: load_tokenizer('gpt2-tokenizer'))
tm('minilm-l6 model+tokenizer', lambda: (load_model('minilm-l6'), load_tokenizer('minilm-l6')))
tm('smollm2-135m cached model+tokenizer', lambda: (load_model('smollm2-135m'), load_tokenizer('smollm2-135m')))
for n in CORPORA:
    if n != 'hats-analogies': tm(f'corpus {n} (cached)', lambda: load_corpus(n))
os.environ['LMR_CACHE'] = tempfile.mkdtemp()
tm('smollm2-135m first load (GGUF conversion)', lambda: load_model('smollm2-135m'))
for n in CORPORA:
    if n != 'hats-analogies': tm(f'corpus {n} (first parse)', lambda: load_corpus(n))

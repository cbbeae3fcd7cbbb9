"""The ILM token store across processes: two jobs share one store (the second does not rebuild it), a writer killed
mid-way leaves no store behind, a damaged store is rebuilt or refused with a clear error, and the vectorised
formatting equals `format_example` on random documents and spans (hypothesis)."""
import json, os, subprocess, sys, textwrap, warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

os.environ.setdefault('HF_HUB_OFFLINE', '1')
from lmresearch.ilm.mask import SPAN_TYPES
from lmresearch.ilm.model import IlmError, add_ilm_tokens, format_example
from lmresearch.ilm.store import MANIFEST, MaskBlock, StoreError, TokenStore, format_block, token_store
from test_ilm_model import doc_and_spans                  # random documents (multi-byte text) and spans

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def tok():
    from lmresearch.models import load_tokenizer
    t = load_tokenizer('gpt2-tokenizer')
    add_ilm_tokens(t)
    return t


@pytest.fixture(scope='module')
def masked(tmp_path_factory) -> Path:
    "A mask_dir output of 60 Lee news stories, 4 masks each."
    from lmresearch.corpora import load_corpus
    from lmresearch.ilm.docs import write_documents
    from lmresearch.ilm.mask import mask_dir
    d = tmp_path_factory.mktemp('ilm-store')
    write_documents([r.text for r in load_corpus('lee-news')[:60]], d / 'in' / 'train.txt')
    mask_dir(d / 'in', d / 'masked', per_doc=4, p=0.05, seed=0)
    return d / 'masked'


JOB = textwrap.dedent('''
    import json, sys, time
    from lmresearch.models import load_tokenizer
    from lmresearch.ilm.model import add_ilm_tokens
    from lmresearch.ilm.store import token_store
    tok = load_tokenizer('gpt2-tokenizer'); add_ilm_tokens(tok)
    t = time.time()
    st = token_store(sys.argv[1], 'train', tok, root=sys.argv[2], block_docs=8)
    print(json.dumps({'built': st.built, 'path': str(st.path), 'examples': len(st), 'start': t, 'end': time.time(),
                      'first': st[0]['input_ids'].tolist(), 'last': st[len(st) - 1]['input_ids'].tolist()}))
''')


def run_jobs(masked: Path, root: Path, n: int = 2) -> list[dict]:
    "Start `n` jobs at once, each asking for the same store; their reports."
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    procs = [subprocess.Popen([sys.executable, '-c', JOB, str(masked), str(root)], stdout=subprocess.PIPE, text=True,
                              env=env) for _ in range(n)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    return [json.loads(o.strip().splitlines()[-1]) for o in outs]


def test_two_jobs_share_one_store(masked, tmp_path):
    "Two jobs started together: one writes the store, the other waits for it and reuses it; a third job later too."
    root = tmp_path / 'stores'
    a, b = run_jobs(masked, root)
    assert sorted([a['built'], b['built']]) == [False, True]          # exactly one job wrote it
    assert a['path'] == b['path'] and a['examples'] == b['examples'] > 100
    assert (a['first'], a['last']) == (b['first'], b['last'])
    stores = [p for p in root.iterdir() if p.is_dir()]
    assert stores == [Path(a['path'])]                                # one store, no temp folder left
    mtime = (Path(a['path']) / MANIFEST).stat().st_mtime_ns
    (c,) = run_jobs(masked, root, 1)
    assert c['built'] is False and c['path'] == a['path']
    assert (Path(a['path']) / MANIFEST).stat().st_mtime_ns == mtime    # not rewritten
    TokenStore(a['path'], verify=True)                                # every file matches its digest


KILLED = textwrap.dedent('''
    import os, sys
    import lmresearch.ilm.store as s
    from lmresearch.models import load_tokenizer
    from lmresearch.ilm.model import add_ilm_tokens
    tok = load_tokenizer('gpt2-tokenizer'); add_ilm_tokens(tok)
    done, real = [], s.format_block
    def dies_on_third_block(*a):
        done.append(1)
        if len(done) == 3: os._exit(9)                                 # as if killed: no cleanup runs
        return real(*a)
    s.format_block = dies_on_third_block
    s.token_store(sys.argv[1], 'train', tok, root=sys.argv[2], block_docs=8)
''')


def test_killed_writer_leaves_no_store(masked, tmp_path, tok):
    "A writer that dies mid-way leaves only its temp folder; the next job sweeps it and writes the store."
    root = tmp_path / 'stores'
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    p = subprocess.run([sys.executable, '-c', KILLED, str(masked), str(root)], env=env)
    assert p.returncode == 9
    left = [x.name for x in root.iterdir() if x.is_dir()]
    assert len(left) == 1 and '.tmp-' in left[0]                      # no folder under the store's own name
    st = token_store(masked, 'train', tok, root=root)
    assert st.built and [x.name for x in root.iterdir() if x.is_dir()] == [st.path.name]


def test_damaged_store_is_rebuilt_or_refused(masked, tmp_path, tok):
    root = tmp_path / 'stores'
    st = token_store(masked, 'train', tok, root=root, shard_tokens=5_000, block_docs=8)
    n, shard = len(st), st.path / 'ids-00001.bin'
    assert len(st.manifest['shards']) > 2
    shard.write_bytes(shard.read_bytes()[:100])                        # truncated
    with pytest.raises(StoreError, match=r'ids-00001\.bin: 100 bytes, expected .*a truncated or partial store'):
        token_store(masked, 'train', tok, root=root, broken='raise')
    with pytest.warns(UserWarning, match='rebuilding it'):
        again = token_store(masked, 'train', tok, root=root)
    assert again.built and len(again) == n and again.path == st.path
    (again.path / MANIFEST).unlink()                                   # a folder without manifest: partial
    with pytest.raises(StoreError, match='no manifest.json: not a token store, or its writer stopped before the end'):
        TokenStore(again.path)
    with pytest.warns(UserWarning, match='rebuilding it'):
        assert token_store(masked, 'train', tok, root=root).built
    man = json.loads((again.path / MANIFEST).read_text())
    man['format'] = 0                                                  # written by another version of the code
    (again.path / MANIFEST).write_text(json.dumps(man))
    with pytest.raises(StoreError, match='store format 0, this code reads 1: rebuild it'):
        token_store(masked, 'train', tok, root=root, broken='raise')


def test_store_follows_its_inputs(masked, tmp_path, tok):
    "Other masks (or another tokenizer) give another store; the old one is left to its readers."
    import shutil
    from lmresearch.ilm.mask import mask_dir
    other = tmp_path / 'masked2'
    mask_dir(masked.parent / 'in', other, per_doc=4, p=0.05, seed=1)
    root = tmp_path / 'stores'
    a, b = token_store(masked, 'train', tok, root=root), token_store(other, 'train', tok, root=root)
    assert a.path != b.path and a.built and b.built
    shutil.copytree(masked, tmp_path / 'copy')                         # the same content elsewhere: the same key
    assert token_store(tmp_path / 'copy', 'train', tok, root=root).path == a.path


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(doc_and_spans(), min_size=1, max_size=4))
def test_format_block_equals_format_example(tok, items):
    "Random documents (multi-byte characters, whitespace runs) and spans: the same sequence, or both refuse."
    docs = [d for d, _ in items]
    spans = [sorted(s, key=lambda x: x[1]) for _, s in items]
    flat = [x for s in spans for x in s]
    col = lambda k: np.array([x[k] if k else SPAN_TYPES.index(x[0]) for x in flat], np.int64)
    m = MaskBlock(doc=np.arange(len(docs)), example=np.zeros(len(docs), np.int64),
                  n_spans=np.array([len(s) for s in spans]), type=col(0), offset=col(1), length=col(2))
    b = format_block(docs, m, tok)
    want = []
    for d, s in zip(docs, spans):
        try: want.append(format_example(d, s, tok))
        except IlmError: pass
    assert len(b.offsets) - 1 == len(want) and len(b.skipped) == len(docs) - len(want)
    for k, w in enumerate(want):
        assert b.ids[b.offsets[k]:b.offsets[k + 1]].tolist() == w['input_ids']
        assert int(b.sep[k]) == w['target_types'].index(3)

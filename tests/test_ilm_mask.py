"Property tests and process-count invariance of ILM masking (lmresearch.ilm.mask)."
import json, random, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from lmresearch.ilm.docs import write_documents, read_documents
from lmresearch.ilm.mask import (MaskError, SPAN_TYPES, apply_spans, fill, mask_documents, mask_dir, mask_probs, read_masks,
                                 render, segment, segment_regex, iter_examples)

ALPHABET = 'ab Z9 .!?"\'’”)]-,\n\té_'
texts = st.text(alphabet=ALPHABET, min_size=0, max_size=60)


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, min_size=1, max_size=5))
def test_segment_matches_regex(docs):
    a, b = segment(docs), segment_regex(docs)
    for f in ('doc_len', 'para', 'para_doc', 'sent', 'sent_para', 'word', 'word_sent'):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f


def _examples(res):
    out = {}
    for d, e, t, o, l in zip(*(res[k].tolist() for k in ('doc', 'example', 'type', 'offset', 'length'))):
        out.setdefault((d, e), []).append((t, o, l))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=200).filter(str.strip), min_size=1, max_size=6),
       st.sampled_from(['hierarchical', 'word', 'ngram', 'sentence', 'paragraph', 'document']),
       st.floats(0.01, 0.6), st.integers(0, 2**31))
def test_fill_reproduces_and_no_overlap(docs, mode, p, seed):
    res = mask_documents(docs, per_doc=4, retries=4, p=p, seed=seed, mode=mode)
    seen = set()
    for (d, e), spans in _examples(res).items():
        doc = docs[d]
        spans_sorted = sorted(spans, key=lambda s: s[1])
        for (_, o1, l1), (_, o2, _) in zip(spans_sorted, spans_sorted[1:]): assert o2 >= o1 + l1
        assert all(0 <= o and l > 0 and o + l <= len(doc) for _, o, l in spans)
        pieces, answers = apply_spans(doc, spans)
        assert fill(pieces, answers) == doc
        assert len(render(doc, spans).split('[blank:')) == len(spans) + 1 or '[blank:' in doc
        key = (d, tuple(spans)); assert key not in seen; seen.add(key)     # masks of a document are distinct
    assert res['stats']['examples'] == len(_examples(res))


def _doc(rng, n_sent):
    words = 'the a cat dog sat on mat and then ran far away quickly'.split()
    return ' '.join(' '.join(rng.choice(words) for _ in range(rng.randint(3, 15))).capitalize() + '.' for _ in range(n_sent))


def test_rates_match_p():
    rng = random.Random(0)
    docs = [_doc(rng, rng.randint(2, 6)) for _ in range(400)]
    u = segment(docs)
    n_words, n_sents = len(u.word), len(u.sent)
    # raw draws of the masking function (before the distinct-mask filter, which favours non-empty masks)
    from lmresearch.ilm.mask import draw_masks
    R = 100
    cand = np.repeat(np.arange(len(docs)), R)
    sp = draw_masks(u, cand, mask_probs(0.05, 'word'), np.random.default_rng(1))
    assert abs(len(sp['offset']) / (n_words * R) - 0.05) < 0.002            # word-only: share of words masked is p
    sp = draw_masks(u, cand, mask_probs(0.1, 'sentence'), np.random.default_rng(2))
    assert abs(len(sp['offset']) / (n_sents * R) - 0.1) < 0.005             # sentence-only: share of sentences is p
    # hierarchical: whole documents masked with probability p (checked on raw draws, no acceptance filter)
    sp = draw_masks(u, np.repeat(np.arange(len(docs)), 200), mask_probs(0.03), np.random.default_rng(3))
    n_doc = (sp['type'] == 0).sum() / (len(docs) * 200)
    assert abs(n_doc - 0.03) < 0.003
    # n-gram share of word-level blanks is one half, lengths 1..8
    ng, w = (sp['type'] == 3).sum(), (sp['type'] == 4).sum()
    assert abs(ng / (ng + w) - 0.5) < 0.02


def test_jobs_invariance_and_files(tmp_path):
    rng = random.Random(1)
    src = tmp_path / 'docs'; src.mkdir()
    write_documents([_doc(rng, rng.randint(1, 8)) for _ in range(700)], src / 'train.txt')
    write_documents([_doc(rng, 3) for _ in range(90)], src / 'test.txt')
    a = mask_dir(src, tmp_path / 'a', seed=7, jobs=1, block_size=128)
    b = mask_dir(src, tmp_path / 'b', seed=7, jobs=2, block_size=128)
    for split in ('train', 'test'):
        assert (tmp_path / 'a' / f'{split}.parquet').read_bytes() == (tmp_path / 'b' / f'{split}.parquet').read_bytes()
        assert read_documents(tmp_path / 'a' / f'{split}.txt') == read_documents(src / f'{split}.txt')
    assert a['total'] == b['total']
    c = mask_dir(src, tmp_path / 'c', seed=8, block_size=128)
    assert (tmp_path / 'c' / 'train.parquet').read_bytes() != (tmp_path / 'a' / 'train.parquet').read_bytes()
    df = read_masks(tmp_path / 'a', 'train')
    assert len(df) == a['splits']['train']['examples'] and df['doc'].max() == 699
    assert 0.05 < a['total']['mask_rate'] < 0.3
    saved = json.loads((tmp_path / 'a' / 'stats.json').read_text())
    assert saved['splits']['train']['spans'] == a['splits']['train']['spans']
    assert sum(1 for _ in iter_examples(tmp_path / 'a', 'test')) == a['splits']['test']['examples']


@pytest.mark.parametrize('p', [0, 1, -0.5, 2, float('nan')])
def test_bad_p(tmp_path, p):
    (tmp_path / 'd').mkdir(); write_documents(['Some text here.'], tmp_path / 'd' / 'train.txt')
    with pytest.raises(MaskError, match=r'p must be a number in \(0, 1\)'):
        mask_dir(tmp_path / 'd', tmp_path / 'o', p=p)


def test_cli_style_errors(tmp_path):
    with pytest.raises(MaskError, match='no such folder'): mask_dir(tmp_path / 'missing', tmp_path / 'o')
    with pytest.raises(MaskError, match='jobs must be an int >= 1'):
        (tmp_path / 'd').mkdir(); write_documents(['x y z.'], tmp_path / 'd' / 'train.txt'); mask_dir(tmp_path / 'd', tmp_path / 'o', jobs=0)

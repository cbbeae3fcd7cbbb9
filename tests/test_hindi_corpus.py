"Hindi corpus preparation (lmresearch.hindi.corpus): properties of the normalisation, files and bad input."
import json
import unicodedata

import pytest
from hypothesis import example, given, settings, strategies as st

from lmresearch.data import DataError, Record
from lmresearch.hindi.corpus import (ZERO_WIDTH, clean_documents, count_words, normalize_hindi, prepare_corpus,
                                     read_hindi, read_sentences,
                                     sample_budget, split_sentences)

DEVA = st.text(alphabet='कखगजडढफयनरळ\u093c\u0958\u095b\u0929ािीुेोंः्। ॥|?!\u200c\u200d ab', max_size=40)


@settings(max_examples=200, deadline=None)
@given(DEVA)
@example('\u094d\u200c\u093c')   # virama, ZWNJ, nukta: NFC must order the marks after the ZWNJ is gone
def test_normalize_is_idempotent_and_clean(t):
    n = normalize_hindi(t)
    assert normalize_hindi(n) == n
    assert not any(c in n for c in ZERO_WIDTH)
    assert not any('\u0958' <= c <= '\u095f' or c in '\u0929\u0931\u0934' for c in n)   # one nukta form
    assert ' ।' not in n and ' ॥' not in n and '।।' not in n


@settings(max_examples=200, deadline=None)
@given(DEVA)
def test_sentences_keep_the_words(t):
    n = normalize_hindi(t)
    sents = split_sentences(n)
    assert sum(map(count_words, sents)) == count_words(n)
    pos = 0
    for s in sents:                      # each sentence is a piece of the text, in order
        pos = n.index(s, pos) + len(s)


def test_prepare_is_deterministic_and_disjoint(tmp_path):
    recs = [Record(f'वाक्य संख्या {i} यहाँ है। दूसरा वाक्य {i} भी है?', source=f'd{i}') for i in range(200)]
    a = prepare_corpus(tmp_path / 'a', recs, words='1500', seed=3)
    b = prepare_corpus(tmp_path / 'b', recs, words='1500', seed=3)
    assert a == b
    assert (tmp_path / 'a' / 'train.txt').read_bytes() == (tmp_path / 'b' / 'train.txt').read_bytes()
    docs = [json.loads(l) for l in (tmp_path / 'a' / 'documents.jsonl').read_text().splitlines()]
    assert len({d['id'] for d in docs}) == len(docs)
    assert a['table'][-1]['words'] <= 1500
    sents = {s: read_sentences(tmp_path / 'a', s) for s in ('train', 'valid', 'test')}
    assert not set(sents['train']) & set(sents['test'])
    assert all(unicodedata.is_normalized('NFC', s) or '\u093c' in s for s in sents['train'])


def test_budget_nested():
    docs = [{'id': str(i), 'sentences': ['एक दो तीन।'] * (1 + i % 5)} for i in range(100)]
    small, big = sample_budget(docs, 60), sample_budget(docs, 300)
    ids = lambda ds: {d['id'] for d in ds}
    assert ids(small) - {small[-1]['id']} <= ids(big)


def test_invalid_utf8_names_file_and_line(tmp_path):
    (tmp_path / 'x.jsonl').write_bytes('{"text": "ठीक है।"}\n'.encode() + b'{"text": "\xe0\xa4"}\n')
    with pytest.raises(DataError, match=r'x\.jsonl:2: invalid UTF-8'):
        read_hindi(tmp_path)


def test_nothing_left_is_an_error(tmp_path):
    with pytest.raises(DataError, match='no Hindi sentences'):
        prepare_corpus(tmp_path, [Record('English only!', source='e')])

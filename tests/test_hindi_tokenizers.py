"Hindi tokenizers (lmresearch.hindi.tokenizers): reproducible training, the store, saving, framing, digits, bad input."
import json, subprocess, sys

import pytest

from lmresearch.models import load_tokenizer
from lmresearch.hindi.tokenizers import (KINDS, TokenizerError, analyse_tokenizer, split_suffix, tokenizer_store,
                                        train_tokenizer)

TRAIN = [f'लड़के और लड़कियाँ {w} में खेलते हैं।' for w in ('घर', 'बाग', 'मैदान', 'स्कूल', 'गली', 'कमरे')] * 20


@pytest.fixture(scope='module')
def corpus():
    from lmresearch.corpora import hindi_text
    from lmresearch.hindi.corpus import clean_documents
    docs, _ = clean_documents(hindi_text()[:300])
    return [s for d in docs for s in d['sentences']]


@pytest.mark.parametrize('kind', KINDS)
def test_train_save_load_roundtrip(kind, corpus, tmp_path):
    vocab = 300
    tok = train_tokenizer(kind, corpus, vocab, tmp_path / kind)
    back = load_tokenizer(tmp_path / kind)
    assert len(back) == vocab and back.mask_token == '<mask>' and back.pad_token == '<pad>'
    s = 'लड़कियाँ घर में खेलते हैं।'
    assert back(s)['input_ids'] == tok(s)['input_ids']
    a = analyse_tokenizer(back, [s, 'लड़के xyz में।'])
    assert a['fertility'] >= 1 and 0 <= a['split_share'] <= 1 and a['words'] == 8
    if kind != 'unigram': assert a['unk_rate'] > 0          # Latin letters never seen in training
    ids = back('घर १२')['input_ids']                           # framed as in training; digits normalised, known
    assert (ids[0], ids[-1]) == (back.bos_token_id, back.eos_token_id) and back.unk_token_id not in ids
    assert back.tokenize('१२') == back.tokenize('12')


TRAIN_CODE = ('import sys; from lmresearch.hindi.corpus import read_sentences; '
              'from lmresearch.hindi.tokenizers import train_tokenizer; '
              'print(train_tokenizer(sys.argv[1], read_sentences(sys.argv[2]), int(sys.argv[3])).backend_tokenizer.to_str())')


@pytest.mark.parametrize('kind', KINDS)
def test_training_twice_in_two_processes_gives_one_vocabulary(kind, tmp_path):
    "The `tokenizers` trainers break ties in hash-map order (issue 1794): each process got another vocabulary."
    from lmresearch.hindi.corpus import prepare_corpus
    prepare_corpus(tmp_path / 'c', words='40k')
    runs = [subprocess.run([sys.executable, '-c', TRAIN_CODE, kind, str(tmp_path / 'c'), '1500'], capture_output=True,
                           text=True, check=True).stdout for _ in range(2)]
    a, b = (json.loads(r)['model'] for r in runs)
    assert a['vocab'] == b['vocab'] and a.get('merges') == b.get('merges')


def test_store_trains_once_per_corpus_kind_and_size(corpus, tmp_path):
    (tmp_path / 'c').mkdir(); (tmp_path / 'c' / 'train.txt').write_text('\n'.join(corpus), encoding='utf-8')
    p = tokenizer_store(tmp_path / 'c', 'bpe', 300)
    stamp = (p / 'tokenizer.json').stat().st_mtime_ns
    assert tokenizer_store(tmp_path / 'c', 'bpe', 300) == p and (p / 'tokenizer.json').stat().st_mtime_ns == stamp
    assert tokenizer_store(tmp_path / 'c', 'bpe', 310) != p and tokenizer_store(tmp_path / 'c', 'unigram', 300) != p
    (tmp_path / 'c' / 'train.txt').write_text('\n'.join(corpus[:-5]), encoding='utf-8')
    assert tokenizer_store(tmp_path / 'c', 'bpe', 300) != p             # another corpus: another key


def test_vocab_too_large_is_an_error():
    with pytest.raises(TokenizerError, match=r'vocabulary of 5000 asked, but .* allow only \d+'):
        train_tokenizer('wordpiece', TRAIN, 5000)
    with pytest.raises(TokenizerError, match=r'alone need \d+|not large enough'):
        train_tokenizer('unigram', TRAIN, 20)
    with pytest.raises(TokenizerError, match='bpe, unigram, wordpiece'):
        train_tokenizer('spm', TRAIN, 20)


def test_suffix_analyser():
    assert split_suffix('जाएगा') == ('जा', 'एगा')
    assert split_suffix('किताबों') == ('किताब', 'ों')
    assert split_suffix('नदी') == ('नद', 'ी')
    assert split_suffix('है') == ('है', '')

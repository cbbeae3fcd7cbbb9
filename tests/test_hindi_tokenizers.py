"Hindi tokenizers (lmresearch.hindi.tokenizers): training, saving, loading, analysis and bad input."
import pytest

from lmresearch.models import load_tokenizer
from lmresearch.hindi.tokenizers import KINDS, TokenizerError, analyse_tokenizer, split_suffix, train_tokenizer

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

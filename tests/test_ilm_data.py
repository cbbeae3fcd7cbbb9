"ILM data preparation (lmresearch.ilm.data): bad input, stability, the demo CSV and a real check on CEFR-SP."
import csv, json

import pytest

from lmresearch.data import DataError
from lmresearch.ilm.docs import read_documents
from lmresearch.ilm.data import build_cefr_sp_csv, build_demo_csv, detokenize, prepare, normalize_level, SPLITS


def _csv(path, rows, header=('text', 'cefr', 'l1')):
    with open(path, 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f); w.writerow(header); w.writerows(rows)
    return path


def _rows(n=200):
    return [(f'Essay {i}. I like my school and my friend number {i}.', ['A1', 'a2', '3', 'B2', 'c1'][i % 5], ['es', 'zh'][i % 2]) for i in range(n)]


def test_missing_columns(tmp_path):
    f = _csv(tmp_path / 'a.csv', [('hi', 'x')], header=('body', 'grade'))
    with pytest.raises(DataError, match=r'a\.csv: no text column .*available: .body., .grade.'):
        prepare(f, tmp_path / 'o')
    f = _csv(tmp_path / 'b.csv', [('hi', 'x')], header=('text', 'grade'))
    with pytest.raises(DataError, match='no level column'):
        prepare(f, tmp_path / 'o')
    assert not (tmp_path / 'o').exists()


def test_unknown_levels_listed(tmp_path):
    f = _csv(tmp_path / 'a.csv', _rows(20) + [('text x', 'Z9', 'es'), ('text y', 'advanced', 'es')])
    with pytest.raises(DataError, match=r"not CEFR levels: 'Z9' \(1 rows\), 'advanced' \(1 rows\).*Values found: '3', 'A1'"):
        prepare(f, tmp_path / 'o')


def test_filter_sample_and_stable_split(tmp_path):
    f = _csv(tmp_path / 'a.csv', _rows(300) + [('   ', 'A1', 'es'), ('', 'B1', 'zh')])
    full = prepare(f, tmp_path / 'full', seed=3)
    assert full['skipped']['empty_text'] == 2 and full['levels_found'] == {'A1': 60, 'A2': 60, 'B1': 60, 'B2': 60, 'C1': 60}
    assert sum(full['documents'].values()) == 300 and all(full['documents'][s] > 0 for s in SPLITS)
    assert full['chars']['train']['n'] == full['documents']['train']
    with pytest.raises(DataError, match=r"no rows with level C2 \(levels found: \{'A1': 60"):
        prepare(f, tmp_path / 'x', level='C2')
    only = prepare(f, tmp_path / 'b1', level='3', seed=3)
    assert all(set(only['levels'][s]) == {'B1'} for s in SPLITS)
    smp = prepare(f, tmp_path / 'smp', sample_size=50, seed=3)
    assert sum(smp['documents'].values()) == 50
    split_of = {d: s for s in SPLITS for d in read_documents(tmp_path / 'full' / f'{s}.txt')}
    moved = [d for s in SPLITS for d in read_documents(tmp_path / 'smp' / f'{s}.txt') if split_of[d] != s]
    assert len(moved) <= 2 * 5     # sampled documents keep their split, but for the repair of a level left without one
    assert all(set(smp['levels'][s]) == set(full['levels_found']) for s in SPLITS)   # every level in every split
    # row order does not change the splits
    f2 = _csv(tmp_path / 'rev.csv', list(reversed(_rows(300))))
    prepare(f2, tmp_path / 'rev', seed=3)
    for s in SPLITS:
        assert sorted(read_documents(tmp_path / 'rev' / f'{s}.txt')) == sorted(read_documents(tmp_path / 'full' / f'{s}.txt'))


def test_invalid_encoding_rows_reported(tmp_path):
    f = tmp_path / 'enc.csv'
    body = b'text,cefr\n' + b''.join(f'Essay number {i} is fine,B1\n'.encode() for i in range(40))
    f.write_bytes(body + b'Bad \xe9 essay,B1\nAlso \xff bad,A2\n')
    with pytest.warns(UserWarning, match=r'skipped 2 rows with invalid UTF-8: rows \[41, 42\]'):
        st = prepare(f, tmp_path / 'o')
    assert st['skipped']['invalid_encoding'] == 2
    assert [(b['row'], b['line']) for b in st['invalid_encoding_rows']] == [(41, 42), (42, 43)]
    assert json.loads((tmp_path / 'o' / 'stats.json').read_text())['skipped']['invalid_encoding'] == 2


def test_demo_csv_says_estimated(tmp_path):
    prov = build_demo_csv(tmp_path / 'demo.csv', corpora=('lee-news',))
    assert prov['levels_estimated'] and set(prov['levels']) == {'A1', 'A2', 'B1', 'B2', 'C1'}
    assert min(prov['levels'].values()) >= 50
    st = prepare(tmp_path / 'demo.csv', tmp_path / 'o', level='A1')
    assert st['levels_estimated'] is True and 'quintiles' in st['level_method']
    assert json.loads((tmp_path / 'o' / 'stats.json').read_text())['levels_estimated'] is True


def test_cefr_sp_real_levels(tmp_path, shared_data):
    "CEFR-SP (human labels, two annotators) through the same prepare step; level = the higher label, C2 -> C1."
    rows = []
    for part in ('train', 'dev', 'test'):
        for line in (shared_data / 'cefr_sp' / f'CEFR-SP_Wikiauto_{part}.txt').read_text(encoding='utf-8').splitlines():
            if not line.strip(): continue
            sent, a, b = line.split('\t')
            rows.append((sent, min(5, max(int(a), int(b))), 'unknown'))
    f = _csv(tmp_path / 'cefr_sp.csv', rows, header=('sentence', 'label', 'l1'))
    st = prepare(f, tmp_path / 'o', columns='text=sentence,level=label')
    assert st['levels_estimated'] is False and st['level_method'] == "given in column 'label'"
    assert set(st['levels_found']) == {'A1', 'A2', 'B1', 'B2', 'C1'}
    assert sum(st['documents'].values()) + st['skipped']['empty_text'] == len(rows) == 7453
    assert 0.77 < st['documents']['train'] / len(rows) < 0.83
    b2 = prepare(f, tmp_path / 'b2', level='B2', columns='text=sentence,level=label', sample_size=500, seed=1)
    assert sum(b2['documents'].values()) == 500 and set(b2['levels']['test']) == {'B2'}


def test_cefr_sp_documents(tmp_path, shared_data):
    "The study's CEFR-SP documents: 5 detokenized sentences of one level (the lower label, C2 -> C1), levels given."
    import pandas as pd
    prov = build_cefr_sp_csv(tmp_path / 'sp.csv', shared_data / 'cefr_sp')
    df = pd.read_csv(tmp_path / 'sp.csv')
    assert prov['sentences'] == 7453 and prov['levels_estimated'] is False and len(df) == prov['rows'] == 1488
    assert set(df['cefr']) == {'A1', 'A2', 'B1', 'B2', 'C1'} and not df['text'].str.contains(r' [.,;:](?: |$)').any()
    assert (df['text'].str.count(r'[.!?](?= |$)') >= 5).mean() > 0.9               # five sentences each, nearly all
    st = prepare(tmp_path / 'sp.csv', tmp_path / 'o')
    assert st['levels_estimated'] is False and 'lower of the two labels' in st['level_method']
    assert detokenize("It 's red , ( and ) \" big \" .") == 'It\'s red, (and) "big".'

"""Property tests for lmresearch.data: order-invariant splits, stratified allocation, readers."""
import csv, io, json, tempfile, warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from lmresearch.data import (DataError, Record, read_records, split_records, stratified_sample, allocate,
                             records_to_frame, frame_to_records)

SET = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# text rich in the characters that matter here: newlines, carriage returns, BOMs, quotes, commas, non-ASCII
chars = st.one_of(st.sampled_from(['\n', '\n', '\r', '\ufeff', ' ', '\t', ',', '"', 'é', '語']),
                  st.characters(blacklist_categories=('Cs',)))
texts = st.text(chars, max_size=40)
recs = st.lists(st.builds(lambda i, w: Record(f'text {i}', {'writer': w}, f'some/dir/f.csv#row={i}'),
                          st.integers(1, 10**6), st.integers(0, 20)), max_size=60, unique_by=lambda r: r.source)


@SET
@given(recs, st.randoms(use_true_random=False), st.integers(0, 3), st.sampled_from([None, 'writer', 'text']))
def test_split_is_a_partition_and_order_invariant(rs, rnd, seed, key):
    sp = split_records(rs, valid=0.2, test=0.3, seed=seed, key=key)
    assert set(sp) == {'train', 'valid', 'test'}
    assert sorted(r.source for v in sp.values() for r in v) == sorted(r.source for r in rs)
    shuffled = rs[:]; rnd.shuffle(shuffled)
    sp2 = split_records(shuffled, valid=0.2, test=0.3, seed=seed, key=key)
    assert {k: sorted(r.source for r in v) for k, v in sp2.items()} == {k: sorted(r.source for r in v) for k, v in sp.items()}
    if key == 'writer':
        where = {r.meta['writer']: k for k, v in sp.items() for r in v}
        assert all(where[r.meta['writer']] == k for k, v in sp.items() for r in v)


def test_split_fractions_are_approximately_right():
    rs = [Record(f'Sentence {i}.', {}, f'c.txt:{i}') for i in range(1, 20001)]
    sp = split_records(rs, valid=0.15, test=0.05, seed=3)
    assert abs(len(sp['valid']) / 20000 - 0.15) < 0.01 and abs(len(sp['test']) / 20000 - 0.05) < 0.01
    # adding records never moves an old one
    more = split_records(rs + [Record('New.', {}, f'd.txt:{i}') for i in range(1, 500)], valid=0.15, test=0.05, seed=3)
    for k in sp: assert more[k][:len(sp[k])] == sp[k]


def test_split_does_not_depend_on_folder_or_cwd(tmp_path, monkeypatch):
    (tmp_path / 'corpus').mkdir()
    (tmp_path / 'corpus' / 'lines.txt').write_text('\n'.join(f'Line {i} of a short story.' for i in range(200)))
    a = split_records(read_records(tmp_path / 'corpus' / 'lines.txt'))
    monkeypatch.chdir(tmp_path / 'corpus')
    b = split_records(read_records('lines.txt'))
    assert {k: [r.text for r in v] for k, v in a.items()} == {k: [r.text for r in v] for k, v in b.items()}


@SET
@given(st.dictionaries(st.sampled_from('ABCDEFG'), st.integers(1, 50), min_size=1), st.integers(0, 400))
def test_allocation_is_largest_remainder(sizes, n):
    alloc = allocate(sizes, n)
    total = sum(sizes.values())
    assert sum(alloc.values()) == min(n, total)
    for k, v in sizes.items():
        assert 0 <= alloc[k] <= v
        if n < total: assert abs(alloc[k] - n * v / total) < 1


@SET
@given(st.lists(st.sampled_from(['A1', 'A2', 'B1', 'C1']), min_size=1, max_size=80), st.integers(0, 100), st.integers(0, 5),
       st.randoms(use_true_random=False))
def test_stratified_sample_proportions_and_order_invariance(levels, n, seed, rnd):
    rs = [Record(f'Essay {i}.', {'level': lv}, f'e.csv#row={i}') for i, lv in enumerate(levels, 1)]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        smp = stratified_sample(rs, n, by='level', seed=seed)
    assert len(smp) == min(n, len(rs)) and (len(w) == 1) == (n > len(rs))
    counts = pd.Series([r.meta['level'] for r in smp], dtype=object).value_counts()
    for lv, size in pd.Series(levels).value_counts().items():
        assert abs(counts.get(lv, 0) - min(n, len(rs)) * size / len(rs)) < 1
    shuffled = rs[:]; rnd.shuffle(shuffled)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert sorted(r.source for r in stratified_sample(shuffled, n, by='level', seed=seed)) == sorted(r.source for r in smp)
    df = stratified_sample(records_to_frame(rs), n, by=['level'], seed=seed) if n <= len(rs) else None
    if df is not None: assert list(df['source']) == [r.source for r in smp]


rows = st.lists(st.tuples(texts, st.sampled_from(['A1', 'B2', 'C1'])), min_size=1, max_size=20)


@SET
@given(rows)
def test_csv_jsonl_parquet_round_trip(rws):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        buf = io.StringIO(newline='')
        w = csv.writer(buf); w.writerow(['level', 'text']); w.writerows([(lv, t) for t, lv in rws])
        (d / 'a.csv').write_bytes(buf.getvalue().encode())
        (d / 'a.jsonl').write_text(''.join(json.dumps({'text': t, 'level': lv}) + '\n' for t, lv in rws))
        (d / 'a.json').write_text(json.dumps({'data': [{'text': t, 'level': lv} for t, lv in rws]}))
        pd.DataFrame({'text': [t for t, _ in rws], 'level': [lv for _, lv in rws]}).to_parquet(d / 'a.parquet')
        want = [(t, {'level': lv}) for t, lv in rws]
        for name in ['a.csv', 'a.jsonl', 'a.json', 'a.parquet']:
            got = read_records(d / name)
            assert [(r.text, r.meta) for r in got] == want, name
        assert frame_to_records(records_to_frame(got)) == got


@SET
@given(st.lists(st.text(st.characters(blacklist_categories=('Cs',), blacklist_characters='\n'), min_size=1, max_size=20)
                .filter(str.strip), min_size=1, max_size=15), st.data())
def test_invalid_utf8_names_the_line(lines, data):
    bad = data.draw(st.integers(0, len(lines) - 1))
    raw = [l.encode() for l in lines]
    raw[bad] = raw[bad] + b'\xff' + b' tail'
    with tempfile.TemporaryDirectory() as d:
        for suffix, body in [('txt', raw), ('jsonl', [json.dumps({'text': l}, ensure_ascii=False).encode()[:-2] + (b'\xff' if i == bad else b'') + b'"}'
                                                      for i, l in enumerate(lines)])]:
            p = Path(d) / f'x.{suffix}'
            p.write_bytes(b'\n'.join(body) + b'\n')
            with pytest.raises(DataError, match=rf'x\.{suffix}:{bad + 1}: invalid UTF-8 at line {bad + 1}'):
                read_records(p)


def test_errors_name_file_and_place(tmp_path):
    cases = {'missing.csv': (None, 'missing.csv: no such file'),
             'e.csv': (b'', 'e.csv: empty file'),
             'h.csv': (b'text\n', 'empty file'),
             'c.csv': (b'body\nA sentence.\n', "c.csv: no column 'text' (available: 'body')"),
             'j.jsonl': (b'{"text": "ok"}\n{"text": \n', 'j.jsonl:2: invalid JSON'),
             'o.json': (b'{"meta": 1}', 'o.json: expected a list of objects'),
             'b.txt': (b'\n\n', 'b.txt: empty file')}
    for name, (body, msg) in cases.items():
        if body is not None: (tmp_path / name).write_bytes(body)
        with pytest.raises(DataError, match=msg.replace('(', r'\(').replace(')', r'\)')):
            read_records(tmp_path / name)

"""IndicGLUE loaders (lmresearch.hindi.indicglue) on small files written here by hand in each released format, the
errors for absent files and bad rows, and `lmr hindi indicglue` on a tiny model."""
import json
from pathlib import Path

import pytest

from lmresearch.hindi.indicglue import TASKS, IndicGlueError, load_task, missing_files, select_tasks

# One small file per released split, in the shapes AI4Bharat's processors (Indic-BERT-v1 fine_tune/data/processors.py)
# and the Hugging Face indic_glue script read: see nbs/46_hindi_indicglue.ipynb for the sources.
BBC_TRAIN = (  # CSV without a header: label,text; quoted fields may hold commas, quotes and line breaks
    'india,"दिल्ली में आज बारिश हुई, और यातायात धीमा रहा।"\n'
    'pakistan,"इस्लामाबाद में सरकार ने नए नियम ""तुरंत"" लागू किए।"\n'
    'entertainment,"नई फ़िल्म का गीत रिलीज़ हुआ।\nदर्शकों ने उसे पसंद किया।"\n'
    'india,"संसद का सत्र सोमवार से शुरू होगा।"\n')
BBC_TEST = 'pakistan,"लाहौर में क्रिकेट मैच खेला गया।"\nindia,"मुंबई में नया पुल खुला।"\n'
HEADLINES = [  # a JSON array: content, optionA..optionD, correctOption
    {'content': 'राजधानी में आज सुबह से तेज़ बारिश हो रही है। कई सड़कों पर पानी भर गया।',
     'optionA': 'क्रिकेट टीम ने मैच जीता', 'optionB': 'राजधानी में तेज़ बारिश, सड़कों पर पानी',
     'optionC': 'सोने के दाम बढ़े', 'optionD': 'नई फ़िल्म रिलीज़', 'correctOption': 'B'},
    {'content': 'भारतीय टीम ने आख़िरी ओवर में मैच जीत लिया।', 'optionA': 'भारत ने रोमांचक मैच जीता',
     'optionB': 'बाज़ार में गिरावट', 'optionC': 'मौसम साफ़ रहेगा', 'optionD': 'चुनाव की तारीख़ घोषित',
     'correctOption': 'A'}]
WSTP = [  # a JSON array: sectionText, titleA..titleD, correctTitle, url
    {'sectionText': 'उनका जन्म 1869 में पोरबंदर में हुआ था। उनके पिता दीवान थे।', 'titleA': 'प्रारंभिक जीवन',
     'titleB': 'मृत्यु', 'titleC': 'सम्मान', 'titleD': 'राजनीतिक जीवन', 'correctTitle': 'titleA',
     'url': 'https://hi.wikipedia.org/wiki/x'}]
CLOZE = {'cloze_data': [  # one JSON object; <MASK> in the question; an item with an empty option is skipped
    {'question': 'ताजमहल <MASK> शहर में स्थित है। यह सफ़ेद संगमरमर से बना है।', 'answer': 'आगरा',
     'options': ['दिल्ली', 'आगरा', 'जयपुर', 'लखनऊ'], 'title': 'ताजमहल', 'category': 'स्थान',
     'out_of_context_options': ['पेरिस', 'लंदन', 'टोक्यो']},
    {'question': 'गंगा <MASK> से निकलती है।', 'answer': 'गंगोत्री', 'options': ['गंगोत्री', '', 'शिमला', 'पुणे'],
     'title': 'गंगा', 'category': 'स्थान', 'out_of_context_options': None}]}
WNLI_HEAD = 'index,sentence1,sentence2,label\n'   # CSV with a header; test.csv has no label column
WNLI_ROWS = ['0,"राम ने श्याम को किताब दी क्योंकि वह पढ़ना चाहता था।","श्याम पढ़ना चाहता था।",1\n',
             '1,"मेज़ पर रखा गिलास गिर गया क्योंकि वह किनारे पर था।","मेज़ किनारे पर थी।",0\n']
COPA = [  # JSON Lines: premise, choice1, choice2, question, label; the first row is copa.hi's example on the HF card
    {'premise': 'मैंने सेल्समैन की पिच पर शक किया।', 'choice1': 'मैंने उसका प्रस्ताव ठुकरा दिया।',
     'choice2': 'उन्होंने मुझे उत्पाद खरीदने के लिए राजी किया।', 'question': 'effect', 'label': 0},
    {'premise': 'लड़की के पैर में चोट लग गई।', 'choice1': 'वह सीढ़ियों से गिर गई।', 'choice2': 'उसने गाना गाया।',
     'question': 'cause', 'label': 0, 'idx': 1}]


def _jsonl(rows): return ''.join(json.dumps(r, ensure_ascii=False) + '\n' for r in rows)


def write_release(root: Path) -> Path:
    files = {
        'bbc-articles/hi/hi-train.csv': BBC_TRAIN, 'bbc-articles/hi/hi-test.csv': BBC_TEST,
        'indicnlp-articles-headlines/hi/hi-train.json': json.dumps(HEADLINES[:1], ensure_ascii=False),
        'indicnlp-articles-headlines/hi/hi-valid.json': json.dumps(HEADLINES[:1], ensure_ascii=False),
        'indicnlp-articles-headlines/hi/hi-test.json': json.dumps(HEADLINES, ensure_ascii=False, indent=2),
        'wiki-section-titles/hi/hi-test.json': json.dumps(WSTP, ensure_ascii=False),
        'wiki-cloze/hi.json': json.dumps(CLOZE, ensure_ascii=False),
        'wnli-translated/hi/train.csv': WNLI_HEAD + ''.join(WNLI_ROWS),
        'wnli-translated/hi/dev.csv': WNLI_HEAD + ''.join(WNLI_ROWS[::-1]),
        'wnli-translated/hi/test.csv': 'index,sentence1,sentence2\n' + WNLI_ROWS[0].rsplit(',', 1)[0] + '\n',
        'copa-translated/hi/train.jsonl': _jsonl(COPA), 'copa-translated/hi/val.jsonl': _jsonl(COPA),
        'copa-translated/hi/test.jsonl': _jsonl([{k: v for k, v in r.items() if k != 'label'} for r in COPA]),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding='utf-8')
    return root


@pytest.fixture
def release(tmp_path):
    return write_release(tmp_path / 'indicglue')


def test_news_genre_csv(release):
    d = load_task(release, 'bbca')
    assert [e.label for e in d['train']] == ['india', 'pakistan', 'entertainment', 'india']
    assert d['train'][0].text == 'दिल्ली में आज बारिश हुई, और यातायात धीमा रहा।'      # a quoted comma
    assert '"तुरंत"' in d['train'][1].text and '\n' in d['train'][2].text                 # "" and a line break
    assert [e.where.rsplit(':', 1)[1] for e in d['train']] == ['1', '2', '3', '5']       # the line each row starts on
    assert d.labels() == ['entertainment', 'india', 'pakistan'] and len(d['test']) == 2 and 'valid' not in d.splits


def test_headlines_json(release):
    d = load_task(release, 'headlines')
    e = d['test'][0]
    assert (e.label, e.options[1], e.context.split()[0]) == ('B', 'राजधानी में तेज़ बारिश, सड़कों पर पानी', 'राजधानी')
    assert [x.label for x in d['test']] == ['B', 'A'] and e.where.endswith('hi-test.json item 0')
    assert set(d.splits) == {'train', 'valid', 'test'}


def test_section_titles_json(release):
    d = load_task(release, 'wstp')                      # only the scored test file is needed (zero-shot)
    e = d['test'][0]
    assert (e.label, e.options[0], e.meta['url']) == ('titleA', 'प्रारंभिक जीवन', 'https://hi.wikipedia.org/wiki/x')
    assert list(d.splits) == ['test']


def test_cloze_json(release):
    d = load_task(release, 'csqa')
    assert d.skipped == {'test': 1} and len(d['test']) == 1                  # the item with an empty option
    e = d['test'][0]
    assert (e.label, e.context, e.after) == ('option2', 'ताजमहल ', ' शहर में स्थित है।')   # the rest of the sentence
    assert e.options == ('दिल्ली', 'आगरा', 'जयपुर', 'लखनऊ')


def test_wnli_csv(release):
    d = load_task(release, 'wnli')
    assert [e.label for e in d['train']] == ['entailment', 'not_entailment']   # GLUE: 1 = entailment
    assert d['train'][0].text_b == 'श्याम पढ़ना चाहता था।' and d['valid'][0].where.endswith('dev.csv:2')
    assert [e.label for e in d['test']] == [None]                             # test labels withheld


def test_copa_jsonl(release):
    d = load_task(release, 'copa')
    a, b = d['valid']
    assert (a.label, a.context) == ('choice1', 'मैंने सेल्समैन की पिच पर शक किया इसलिए')
    assert b.context.endswith('क्योंकि') and b.options == ('वह सीढ़ियों से गिर गई।', 'उसने गाना गाया।')
    assert [e.label for e in d['test']] == [None, None]


def test_missing_folder(tmp_path):
    with pytest.raises(IndicGlueError, match='no such folder. IndicGLUE data does not ship'):
        load_task(tmp_path / 'nowhere', 'copa')


@pytest.mark.parametrize('task', list(TASKS))
def test_missing_file_names_the_expected_files(release, task):
    t = TASKS[task]
    p = t.paths(release)[t.eval_split]
    p.unlink()
    with pytest.raises(IndicGlueError) as e:
        load_task(release, task)
    msg = str(e.value)
    assert str(p) in msg and str(release) in msg and t.archive in msg
    assert all(f'{t.folder}/{f}' in msg for f in t.files.values())           # every file the task expects
    assert missing_files(release, task) == [p]


@pytest.mark.parametrize('task, rel, edit, message', [
    ('bbca', 'bbc-articles/hi/hi-train.csv', lambda t: t + 'india,एक,दो\n',
     'hi-train.csv:6: 3 comma-separated fields, expected 2 (label, text)'),
    ('bbca', 'bbc-articles/hi/hi-test.csv', lambda t: t + ',"बिना लेबल"\n', 'hi-test.csv:3: empty label'),
    ('headlines', 'indicnlp-articles-headlines/hi/hi-test.json', lambda t: t.replace('"correctOption": "A"', '"correctOption": "E"'),
     "hi-test.json item 1: field 'correctOption': 'E' is not one of A, B, C, D"),
    ('headlines', 'indicnlp-articles-headlines/hi/hi-test.json', lambda t: t.replace('"optionD"', '"option_d"', 1),
     "hi-test.json item 0: missing field 'optionD'"),
    ('wstp', 'wiki-section-titles/hi/hi-test.json', lambda t: t.replace('"sectionText"', '"text"'),
     "hi-test.json item 0: missing field 'sectionText'"),
    ('wstp', 'wiki-section-titles/hi/hi-test.json', lambda t: '{' + t, 'hi-test.json:1:2: not valid JSON'),
    ('csqa', 'wiki-cloze/hi.json', lambda t: t.replace('"answer": "आगरा"', '"answer": "पटना"'),
     "hi.json item 0: field 'answer': 'पटना' is not one of the options"),
    ('csqa', 'wiki-cloze/hi.json', lambda t: t.replace('<MASK>', '___', 1), "hi.json item 0: field 'question' has no <MASK>"),
    ('wnli', 'wnli-translated/hi/train.csv', lambda t: t.replace(',0\n', ',no\n'),
     "train.csv:3: field 'label': 'no' is not one of 0, 1"),
    ('wnli', 'wnli-translated/hi/dev.csv', lambda t: t.replace('label', 'gold'), "dev.csv:2: missing field 'label'"),
    ('wnli', 'wnli-translated/hi/dev.csv', lambda t: t + '9,"एक"\n', 'dev.csv:4: 2 comma-separated fields, the header has 4'),
    ('copa', 'copa-translated/hi/val.jsonl', lambda t: t.replace('"label": 0', '"label": 2', 1),
     "val.jsonl:1: field 'label': 2 is not one of 0, 1"),
    ('copa', 'copa-translated/hi/val.jsonl', lambda t: t.replace('"question": "cause"', '"question": "why"'),
     "val.jsonl:2: field 'question': 'why' is not one of cause, effect"),
    ('copa', 'copa-translated/hi/train.jsonl', lambda t: t.replace('"choice2"', '"choice_2"', 1),
     "train.jsonl:1: missing field 'choice2'"),
    ('copa', 'copa-translated/hi/train.jsonl', lambda t: t + '{"premise": \n', 'train.jsonl:3: not a JSON line'),
])
def test_bad_row_names_file_row_and_field(release, task, rel, edit, message):
    p = release / rel
    p.write_text(edit(p.read_text(encoding='utf-8')), encoding='utf-8')
    with pytest.raises(IndicGlueError, match=message.replace('(', r'\(').replace(')', r'\)')):
        load_task(release, task)


def test_invalid_utf8_names_file_and_line(release):
    p = release / 'wnli-translated/hi/train.csv'
    p.write_bytes(WNLI_HEAD.encode() + b'0,"\xe0\xa4",x,1\n')
    with pytest.raises(Exception, match=r'train\.csv:2: invalid UTF-8'):
        load_task(release, 'wnli')


def test_default_selection_lists_what_is_absent(release):
    (release / 'wiki-cloze' / 'hi.json').unlink()
    have, absent = select_tasks(release)
    assert have == ['bbca', 'headlines', 'wstp', 'wnli', 'copa'] and list(absent) == ['csqa']
    assert 'wiki-cloze/hi.json' in absent['csqa']


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    "A run directory holding a tiny GPT-2 trained for a few steps on packaged Devdas text (`run_hindi`)."
    from lmresearch.corpora import hindi_text
    from lmresearch.hindi.corpus import prepare_corpus
    from lmresearch.hindi.experiment import hindi_config, run_hindi
    tmp = tmp_path_factory.mktemp('indicglue-run')
    prepare_corpus(tmp / 'corpus', hindi_text()[-600:], words='5k')
    run_hindi(hindi_config(overrides={'hindi.corpus_dir': str(tmp / 'corpus'), 'hindi.vocab_size': 500,
                                      'hindi.eval_sentences': 10, 'train.max_steps': 4, 'train.eval_every': 4,
                                      'train.batch_size': 8, 'train.seq_len': 64}), tmp / 'run')
    return tmp / 'run'


def test_cli_writes_json_and_table(release, tiny_run, capsys):
    from lmresearch.cli import main
    assert main(['hindi', 'indicglue', '--run', str(tiny_run), '--data', str(release)]) == 0
    out = capsys.readouterr().out
    assert 'wstp' in out and 'indicglue.json' in out
    res = json.loads((tiny_run / 'indicglue.json').read_text(encoding='utf-8'))
    assert [t['task'] for t in res['tasks']] == list(TASKS) and res['not_evaluated'] == {}
    bbca = res['tasks'][0]
    assert bbca['eval_examples'] == 2 and bbca['method'].startswith('linear probe')
    assert {c['label'] for c in bbca['per_class']} <= {'entertainment', 'india', 'pakistan'}
    for t in res['tasks']:
        assert 0 <= t['accuracy'] <= 1 and 0 <= t['macro_f1'] <= 1 and 0 <= t['weighted_f1'] <= 1
        assert sum(c['support'] for c in t['per_class']) == t['eval_examples']
    assert res['tasks'][3]['eval_examples'] == 1 and res['tasks'][3]['method'].startswith('zero-shot')
    md = (tiny_run / 'indicglue.md').read_text(encoding='utf-8')
    assert '| task | kind |' in md and '## Per class' in md


def test_cli_names_tasks_and_reports_absent_data(release, tiny_run, tmp_path, capsys):
    from lmresearch.cli import main
    assert main(['hindi', 'indicglue', '--run', str(tiny_run), '--data', str(release), '--tasks', 'copa', 'wnli',
                 '--max-eval', '1', '--out', str(tmp_path)]) == 0
    res = json.loads((tmp_path / 'indicglue.json').read_text(encoding='utf-8'))
    assert [t['task'] for t in res['tasks']] == ['copa', 'wnli'] and res['settings']['max_eval'] == 1
    assert [t['eval_examples'] for t in res['tasks']] == [1, 1]
    capsys.readouterr()
    assert main(['hindi', 'indicglue', '--run', str(tiny_run), '--data', str(tmp_path / 'none')]) == 2
    assert 'IndicGLUE data does not ship' in capsys.readouterr().err
    (release / 'copa-translated/hi/val.jsonl').unlink()
    assert main(['hindi', 'indicglue', '--run', str(tiny_run), '--data', str(release), '--tasks', 'copa']) == 2
    err = capsys.readouterr().err
    assert 'copa-translated/hi/val.jsonl' in err and 'copa-translated archive' in err
    assert main(['hindi', 'indicglue', '--run', str(tiny_run), '--data', str(release), '--tasks', 'xnli']) == 2
    assert 'expected one of bbca, headlines, wstp, csqa, wnli, copa' in capsys.readouterr().err

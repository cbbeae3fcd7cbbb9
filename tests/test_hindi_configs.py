"Hindi configs (configs/hindi/*.yaml, configs/batches/hindi.yaml): every shipped file validates; bad keys are named."
from pathlib import Path

import pytest

from lmresearch.config import ConfigError
from lmresearch.hindi.experiment import HindiExperimentConfig, hindi_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / 'configs' / 'hindi').glob('*.yaml'))


def test_configs_exist():
    assert len(CONFIGS) >= 4


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_shipped_config_validates(path):
    cfg = hindi_config(path)
    assert isinstance(cfg, HindiExperimentConfig) and cfg.name == f'hindi-{path.stem}'
    if path.stem != 'cpu-study':         # named for its batch (hindi-study.yaml), which trains a GPT-2 with it
        assert cfg.hindi.arch in path.stem and cfg.hindi.tokenizer in path.stem


def test_study_batch_trains_a_gpt2_and_its_commented_bert_set_still_loads(tmp_path):
    "The study trains the GPT-2 alone; uncommenting the BERT set (the chapter says how) gives a valid second job."
    from lmresearch.batch import expand_jobs, load_batch
    src = ROOT / 'configs' / 'batches' / 'hindi-study.yaml'
    train = lambda p: [j.params.get('arch') for j in expand_jobs(load_batch(p), tmp_path) if j.id.startswith('train')]
    assert train(src) == ['gpt2']
    assert hindi_config(ROOT / 'configs' / 'hindi' / 'cpu-study.yaml').hindi.words is None   # all the packaged text
    (tmp_path / 'with-bert.yaml').write_text(src.read_text().replace('      # - {arch: bert', '      - {arch: bert'))
    assert train(tmp_path / 'with-bert.yaml') == ['gpt2', 'bert']


def test_bad_values_name_file_and_key(tmp_path):
    p = tmp_path / 'bad.yaml'
    p.write_text('preset: tiny\nhindi:\n  curriculum: random\n')
    with pytest.raises(ConfigError, match=r"bad\.yaml.*hindi\.curriculum.*'none', 'length', 'morphology', 'combined'"):
        hindi_config(p)
    p.write_text('preset: tiny\nhindi:\n  sise: tiny\n')
    with pytest.raises(ConfigError, match=r'hindi\.sise'):
        hindi_config(p)


def test_batch_grid_is_tokenizer_x_model_x_curriculum(tmp_path):
    from lmresearch.batch import expand_jobs, load_batch
    jobs = expand_jobs(load_batch(ROOT / 'configs' / 'batches' / 'hindi.yaml'), tmp_path)
    train = [j for j in jobs if j.id.startswith('train')]
    assert len(jobs) == 9 and len(train) == 8
    assert {(j.params['tokenizer'], j.params['arch'], j.params['curriculum']) for j in train} == \
        {(t, a, c) for t in ('bpe', 'wordpiece') for a in ('gpt2', 'bert') for c in ('none', 'morphology')}


def test_pairs_take_a_field_mapping(tmp_path):
    "`hindi.pair_fields` maps our names to a pairs file's columns, as `lmr hindi score --fields` does."
    p = tmp_path / 'c.yaml'
    p.write_text('preset: tiny\nhindi:\n  pairs: mine.jsonl\n  pair_fields: {good: ok, bad: not_ok}\n')
    assert hindi_config(p).hindi.pair_fields == {'good': 'ok', 'bad': 'not_ok'}
    assert hindi_config(overrides=['hindi.pair_fields.good=g']).hindi.pair_fields == {'good': 'g'}
    p.write_text('preset: tiny\nhindi:\n  pair_fields: [ok, not_ok]\n')
    with pytest.raises(ConfigError, match=r'hindi\.pair_fields'):
        hindi_config(p)

"Property tests of lmresearch.config: round trips of random valid configs, override precedence, shipped presets."
import dataclasses, os, re, tempfile, typing
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Literal, Union

import pytest, yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from lmresearch.config import (ConfigError, read_yaml, ExperimentConfig, config_hash, flatten, from_dict, list_presets,
                               load_config, load_preset, merge, parse_overrides, save_config, to_dict)

# ---- a strategy for any valid instance of a config dataclass, driven by its type hints and metadata

_text = st.text(st.characters(blacklist_categories=('Cs',)), max_size=20)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False), _text)

def _num(tp, meta):
    lo = meta.get('ge', meta.get('gt'))
    hi = meta.get('le', meta.get('lt'))
    if tp is int:
        return st.integers(min_value=None if lo is None else lo + ('gt' in meta), max_value=None if hi is None else hi - ('lt' in meta))
    return st.floats(min_value=lo, max_value=hi, exclude_min='gt' in meta, exclude_max='lt' in meta, allow_nan=False, allow_infinity=False)

def strategy(tp, meta=None):
    "Valid values of annotation `tp` under field metadata `meta`."
    meta = meta or {}
    o, args = typing.get_origin(tp), typing.get_args(tp)
    if 'choices' in meta: return st.sampled_from(meta['choices'])
    if is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return st.builds(tp, **{f.name: strategy(hints[f.name], f.metadata) for f in fields(tp)})
    if o is Union: return st.one_of(*[st.none() if a is type(None) else strategy(a, meta) for a in args])
    if o is Literal: return st.sampled_from(args)
    if tp is bool: return st.booleans()
    if tp in (int, float): return _num(tp, meta)
    if tp is str: return _text
    if o is list: return st.lists(strategy(args[0]), max_size=4)
    if tp is dict: return st.dictionaries(_text, _scalar, max_size=3)
    raise NotImplementedError(tp)

configs = strategy(ExperimentConfig)

@given(configs)
@settings(max_examples=150, deadline=None)
def test_round_trip_dict(cfg):
    d = to_dict(cfg)
    assert from_dict(ExperimentConfig, d) == cfg
    assert from_dict(ExperimentConfig, parse_overrides(flatten(d))) == cfg  # flat (papermill) form too
    assert config_hash(from_dict(ExperimentConfig, d)) == config_hash(cfg)

# a saved config names a real preset (or none): load_config lays the file over that preset
saved_configs = st.tuples(configs, st.sampled_from([None, 'tiny', 'cpu', 'gpu'])).map(lambda t: dataclasses.replace(t[0], preset=t[1]))

@given(saved_configs)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_yaml_file(cfg):
    with tempfile.TemporaryDirectory() as d:
        p = save_config(cfg, Path(d) / 'c.yaml')
        assert load_config(p) == cfg
        assert yaml.safe_load(p.read_text()) == to_dict(cfg)

# ---- precedence: defaults < preset < file < overrides, for random values on random layers

@contextmanager
def fake_root(presets: dict):
    "A temporary project root (via LMR_ROOT) holding the given presets."
    old = os.environ.get('LMR_ROOT')
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / 'configs' / 'presets').mkdir(parents=True)
        for name, body in presets.items(): (Path(d) / 'configs' / 'presets' / f'{name}.yaml').write_text(yaml.safe_dump(body))
        os.environ['LMR_ROOT'] = d
        try: yield Path(d)
        finally:
            if old is None: os.environ.pop('LMR_ROOT', None)
            else: os.environ['LMR_ROOT'] = old

KEYS = {'train.lr': st.floats(1e-6, 1.0), 'train.batch_size': st.integers(1, 64), 'model.name': st.sampled_from(['gpt2', 'tiny-llama', 'x/y']),
        'seed': st.integers(0, 10**6), 'train.schedule': st.sampled_from(['linear', 'cosine', 'constant'])}
layer = st.fixed_dictionaries({}, optional=KEYS)

@given(layer, layer, layer, st.booleans())
@settings(max_examples=80, deadline=None)
def test_override_precedence(pre, file, over, cli_strings):
    with fake_root({'p': parse_overrides(pre)}) as root:
        fp = root / 'exp.yaml'
        fp.write_text(yaml.safe_dump(merge({'preset': 'p'}, parse_overrides(file))))
        ov = [f'{k}={v!r}' if isinstance(v, str) else f'{k}={v}' for k, v in over.items()] if cli_strings else over
        cfg = load_config(fp, overrides=ov)
    got, default = flatten(cfg), flatten(ExperimentConfig())
    for k in KEYS:
        expect = over.get(k, file.get(k, pre.get(k, default[k])))
        assert got[k] == expect, (k, pre, file, over)
    assert cfg.preset == 'p'

def test_override_beats_everything_and_is_blamed():
    with fake_root({'p': {'train': {'lr': 0.5}}}) as root:
        fp = root / 'e.yaml'
        fp.write_text('preset: p\ntrain:\n  lr: 0.25\n')
        assert load_config(fp).train.lr == 0.25
        assert load_config(fp, overrides=['train.lr=0.125']).train.lr == 0.125
        assert load_config(fp, overrides={'train.lr': 1e-4}).train.lr == 1e-4
        with pytest.raises(ConfigError, match=r'^override: train.lr: must be > 0'): load_config(fp, overrides={'train.lr': 0})
        fp.write_text('preset: p\ntrain:\n  lr: zero\n')
        with pytest.raises(ConfigError, match=f"^{fp}: train.lr: expected float, got 'zero'"): load_config(fp)
        (root / 'configs' / 'presets' / 'p.yaml').write_text('train:\n  lrr: 1\n')
        fp.write_text('preset: p\n')
        with pytest.raises(ConfigError, match=r'p\.yaml: train\.lrr: unknown key \(did you mean lr\?\)'): load_config(fp)

# ---- every leaf field rejects a value of the wrong type, naming its key path

def _leaves(cls, prefix=''):
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        k = f'{prefix}{f.name}'
        if is_dataclass(hints[f.name]): yield from _leaves(hints[f.name], k + '.')
        else: yield k, hints[f.name]

@pytest.mark.parametrize('key,tp', list(_leaves(ExperimentConfig)))
def test_wrong_type_names_key(key, tp):
    wrong = {'x': 1} if typing.get_origin(tp) is list else [1]
    with pytest.raises(ConfigError, match='^' + re.escape(key) + ': expected'):
        from_dict(ExperimentConfig, parse_overrides({key: wrong}))

# ---- the shipped presets

def test_shipped_presets_listed():
    assert list_presets() == ['cpu', 'gpu', 'tiny']

@pytest.mark.parametrize('name', ['tiny', 'cpu', 'gpu'])
def test_shipped_preset_loads(name):
    cfg = load_preset(name)
    assert isinstance(cfg, ExperimentConfig) and cfg.preset == name
    raw = read_yaml(Path(__file__).parents[1] / 'configs' / 'presets' / f'{name}.yaml')
    assert raw.get('preset') == name
    assert from_dict(ExperimentConfig, raw) == cfg  # the file alone is valid and complete for its keys
    assert cfg.train.seq_len <= cfg.model.positions or not cfg.model.name.startswith('tiny-')

def test_preset_values():
    tiny, cpu, gpu = load_preset('tiny'), load_preset('cpu'), load_preset('gpu')
    assert tiny.model.name == 'tiny-gpt2' and (tiny.model.layers, tiny.model.width, tiny.model.heads) == (2, 64, 2)
    assert tiny.model.tokenizer == 'gpt2-tokenizer'
    assert cpu.model.name == 'smollm2-135m'
    assert (gpu.model.name, gpu.train.batch_size, gpu.train.seq_len, gpu.train.lr) == ('gpt2', 24, 256, 5e-5)

def test_unknown_preset_lists_available():
    with pytest.raises(ConfigError, match="unknown preset 'nope'; available: cpu, gpu, tiny"): load_preset('nope')
    with pytest.raises(ConfigError, match='unknown preset'): load_preset('../presets/tiny')


def test_one_yaml_reader():
    "No module but config reads YAML itself (issue 18): every other read goes through config.load_yaml / read_yaml."
    root = Path(__file__).parents[1]
    bad = [f'{p.relative_to(root)}:{i}' for p in sorted((root / 'lmresearch').rglob('*.py')) if p.name != 'config.py'
           for i, l in enumerate(p.read_text(encoding='utf-8').splitlines(), 1)
           if 'yaml.safe_load(' in l or 'yaml.load(' in l or 'yaml.full_load(' in l or 'config import _' in l]
    assert not bad, bad

def test_duplicate_keys_in_a_config_file(tmp_path):
    (tmp_path / 'd.yaml').write_text('train:\n  lr: 1e-4\n  lr: 2e-4\n')
    with pytest.raises(ConfigError, match=r"d\.yaml: line 3: key 'lr' given twice \(first on line 2\)"):
        load_config(tmp_path / 'd.yaml')

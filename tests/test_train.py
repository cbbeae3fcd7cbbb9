"Trainer integration tests: kill -9 and resume, accumulation equivalence, schedules, bad input, bf16, peft."
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path

import pytest
import torch

os.environ.setdefault('HF_HUB_OFFLINE', '1')
from lmresearch.config import TrainConfig, from_dict, to_dict
from lmresearch.core import package_dir, seed_everything
from lmresearch.tracking import Run
from lmresearch.train import (CheckpointError, TIME_KEYS, Trainer, TrainError, collate, encode_texts, latest_checkpoint,
                              list_checkpoints, make_scheduler, read_checkpoint, train_from_config)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def tok():
    from lmresearch.models import load_tokenizer
    return load_tokenizer('gpt2-tokenizer')


@pytest.fixture(scope='module')
def lee():
    p = package_dir('gensim') / 'test' / 'test_data' / 'lee_background.cor'
    return [t.strip() for t in p.read_text().splitlines() if t.strip()]


def tiny(tok, seed=0, dropout=0.0, width=32):
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=width, n_layer=2, n_head=2,
                                      resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout))


def strip(rows): return [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in rows]


# --- kill -9 and resume ------------------------------------------------------------------------
SCRIPT = textwrap.dedent('''
    import os, sys, time, torch
    os.environ['HF_HUB_OFFLINE'] = '1'
    torch.set_num_threads(1)
    from pathlib import Path
    from lmresearch.config import TrainConfig
    from lmresearch.core import package_dir, seed_everything
    from lmresearch.models import load_tokenizer
    from lmresearch.tracking import Run
    from lmresearch import train as T
    from transformers import GPT2Config, GPT2LMHeadModel
    run_dir, resume, slow = Path(sys.argv[1]), sys.argv[2] == '1', float(sys.argv[3])
    tok = load_tokenizer('gpt2-tokenizer')
    lee = [t.strip() for t in (package_dir('gensim') / 'test' / 'test_data' / 'lee_background.cor').read_text().splitlines() if t.strip()]
    docs = T.encode_texts(lee[:80], tok, 32)
    seed_everything(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2))  # dropout 0.1: RNG matters
    cfg = TrainConfig(lr=3e-3, batch_size=4, grad_accum=2, max_steps=14, warmup=0.2, eval_every=4, save_every=3, keep_last=2,
                      log_every=2, seq_len=32, batching='group', eval_batches=3)
    run = Run.open(run_dir) if resume else Run.create(run_dir, config={'train': {}}, seed=0, tensorboard=False)
    if slow:
        step = T.Trainer._train_step
        def slowed(self): time.sleep(slow); return step(self)
        T.Trainer._train_step = slowed
    T.Trainer(model, cfg, run, docs[:-16], docs[-16:], pad_id=tok.eos_token_id, progress=False).fit(resume=resume)
    run.finish()
''')


def _py(args, **kw):
    env = dict(os.environ, PYTHONHASHSEED='0', OMP_NUM_THREADS='1')
    return subprocess.Popen([sys.executable, '-c', SCRIPT, *map(str, args)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_kill_and_resume_is_exact(tmp_path):
    full = _py([tmp_path / 'full', 0, 0])
    killed = _py([tmp_path / 'killed', 0, 0.4])
    ck = tmp_path / 'killed' / 'checkpoints'
    t0 = time.time()
    while not (ck.is_dir() and any(p.name == 'ckpt-000006' for p in list_checkpoints(ck))):
        assert killed.poll() is None, killed.communicate()[1][-3000:]
        assert time.time() - t0 < 120, 'no checkpoint appeared'
        time.sleep(0.05)
    time.sleep(0.5)                                           # let it get a little beyond the checkpoint
    killed.send_signal(signal.SIGKILL); killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert Run.open(tmp_path / 'killed').status == 'running'
    step_killed = int(latest_checkpoint(ck).name.split('-')[1])
    assert 6 <= step_killed < 14                              # killed mid-run
    out, err = full.communicate(timeout=300)
    assert full.returncode == 0, err[-3000:]
    res = _py([tmp_path / 'killed', 1, 0]); out, err = res.communicate(timeout=300)
    assert res.returncode == 0, err[-3000:]
    a = read_checkpoint(latest_checkpoint(tmp_path / 'full' / 'checkpoints'))
    b = read_checkpoint(latest_checkpoint(ck))
    assert a['state']['step'] == b['state']['step'] == 14
    assert a['model'].keys() == b['model'].keys()
    assert all(torch.equal(a['model'][k], b['model'][k]) for k in a['model'])             # bitwise
    ra, rb = Run.open(tmp_path / 'full').read_metrics(), Run.open(tmp_path / 'killed').read_metrics()
    assert strip(ra) == strip(rb) and any('valid_loss' in r for r in ra)
    assert Run.open(tmp_path / 'killed').status == 'completed'


# --- accumulation ------------------------------------------------------------------------------
def _train(tok, docs, tmp, name, **kw):
    cfg = TrainConfig(lr=1e-3, max_steps=3, warmup=0, clip=None, log_every=1, seq_len=32, batching='pad', keep_last=1, **kw)
    run = Run.create(tmp / name, config={'train': to_dict(cfg)}, tensorboard=False)
    m = tiny(tok)
    summary = Trainer(m, cfg, run, docs, None, pad_id=tok.eos_token_id, progress=False).fit()
    return m, run.read_metrics(), summary


def test_accumulation_equals_big_batch(tok, lee, tmp_path):
    docs = encode_texts(lee[:40], tok, 32)
    assert len({len(d['input_ids']) for d in docs}) > 3             # variable lengths: padding differs between the two
    m1, r1, _ = _train(tok, docs, tmp_path, 'accum', batch_size=3, grad_accum=4)
    m2, r2, _ = _train(tok, docs, tmp_path, 'big', batch_size=12, grad_accum=1)
    for p, q in zip(m1.parameters(), m2.parameters()): torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    l1, l2 = [r['loss'] for r in r1 if 'loss' in r], [r['loss'] for r in r2 if 'loss' in r]
    assert len(l1) == 3 and l1 == pytest.approx(l2, rel=1e-5)
    g1, g2 = [r['grad_norm'] for r in r1 if 'grad_norm' in r], [r['grad_norm'] for r in r2 if 'grad_norm' in r]
    assert g1 == pytest.approx(g2, rel=1e-4)


def test_loss_mask_excludes_positions(tok):
    m = tiny(tok).eval()
    ex = {'input_ids': tok('The cat sat on the mat and looked out of the window.')['input_ids']}
    n = len(ex['input_ids'])
    masked = dict(ex, loss_mask=[0] * (n // 2) + [1] * (n - n // 2))
    from lmresearch.train import causal_lm_loss_sum, count_targets
    b = collate([masked], 0)
    with torch.no_grad():
        logits = m(input_ids=b['input_ids']).logits
    lp = torch.log_softmax(logits[0].float(), -1)
    by_hand = -sum(lp[t - 1, ex['input_ids'][t]] for t in range(n // 2, n))
    assert count_targets(b['labels']) == n - n // 2
    torch.testing.assert_close(causal_lm_loss_sum(logits, b['labels']), by_hand, rtol=1e-5, atol=1e-5)


# --- schedules ---------------------------------------------------------------------------------
@pytest.mark.parametrize('kind', ['linear', 'cosine', 'constant'])
@pytest.mark.parametrize('warmup', [0, 0.25, 5])
def test_schedule_shapes(kind, warmup):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    s = make_scheduler(opt, kind, 20, warmup)
    lrs = []
    for _ in range(21): lrs.append(opt.param_groups[0]['lr']); opt.step(); s.step()
    assert lrs.pop() == (2.0 if kind == 'constant' else 0)       # the end of the schedule
    w = 5
    if warmup: assert lrs[0] == 0 and all(a < b for a, b in zip(lrs[:w], lrs[1:w + 1])) and lrs[w] == pytest.approx(2.0)
    else: assert lrs[0] == pytest.approx(2.0)
    tail = lrs[w if warmup else 0:]
    if kind == 'constant': assert all(x == pytest.approx(2.0) for x in tail)
    else: assert all(a > b for a, b in zip(tail, tail[1:]))
    if kind == 'cosine' and not warmup: assert lrs[10] == pytest.approx(1.0)      # half way down at mid-training


# --- bad input ---------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def finished(tok, lee, tmp_path_factory):
    d = tmp_path_factory.mktemp('finished')
    docs = encode_texts(lee[:40], tok, 32)
    cfg = TrainConfig(lr=1e-3, batch_size=4, max_steps=4, save_every=2, log_every=2, seq_len=32)
    run = Run.create(d / 'run', config={'train': to_dict(cfg)}, tensorboard=False)
    Trainer(tiny(tok), cfg, run, docs, None, pad_id=tok.eos_token_id, progress=False).fit()
    return d / 'run', cfg, docs


def _snapshot(d): return {p: p.read_bytes() for p in Path(d).rglob('*') if p.is_file()}


def test_corrupt_checkpoint_is_a_clear_error(tok, finished, tmp_path):
    import shutil
    run_dir, cfg, docs = finished
    d = tmp_path / 'run'; shutil.copytree(run_dir, d)
    ck = latest_checkpoint(d / 'checkpoints')
    (ck / 'model.safetensors').write_bytes((ck / 'model.safetensors').read_bytes()[:1000])     # truncated
    before = _snapshot(d)
    with pytest.raises(CheckpointError, match='model.safetensors'):
        Trainer(tiny(tok), cfg, Run.open(d), docs, None, pad_id=0, progress=False).fit(resume=True)
    assert _snapshot(d) == before                                    # nothing overwritten


def test_checkpoint_from_other_shape(tok, finished):
    run_dir, cfg, docs = finished
    before = _snapshot(run_dir)
    with pytest.raises(CheckpointError, match=r'different model shape: \d+ shape mismatch.*checkpoint \(96,\) vs model \(192,\)'):
        Trainer(tiny(tok, width=64), cfg, Run.open(run_dir), docs, None, pad_id=0, progress=False).fit(resume=True)
    assert _snapshot(run_dir) == before


def test_missing_file_and_missing_run_dir(tmp_path):
    (tmp_path / 'c.yaml').write_text('preset: tiny\ndata:\n  train: nowhere.txt\n')
    with pytest.raises(TrainError, match='data.train: nowhere.txt does not exist'):
        train_from_config(tmp_path / 'c.yaml', tmp_path / 'run')
    assert not (tmp_path / 'run').exists()
    with pytest.raises(TrainError, match='cannot resume: no such run directory'):
        train_from_config(tmp_path / 'c.yaml', tmp_path / 'other', resume=True)
    assert not (tmp_path / 'other').exists()
    from lmresearch.core import LMRError
    with pytest.raises(LMRError, match='missing.yaml'):
        train_from_config(tmp_path / 'missing.yaml', tmp_path / 'run')


def test_fp16_without_gpu_and_patience_without_valid(tok, lee, tmp_path):
    docs = encode_texts(lee[:10], tok, 32)
    run = Run.create(tmp_path / 'r', tensorboard=False)
    if not torch.cuda.is_available():
        with pytest.raises(TrainError, match='fp16 needs a GPU'):
            Trainer(tiny(tok), TrainConfig(precision='fp16'), run, docs, pad_id=0)
    with pytest.raises(TrainError, match='train.patience'):
        Trainer(tiny(tok), TrainConfig(patience=2), run, docs, pad_id=0)


# --- precision, early stopping, peft -----------------------------------------------------------
def test_bf16_early_stopping_and_keep_last(tok, lee, tmp_path):
    docs = encode_texts(lee[:60], tok, 32)
    cfg = TrainConfig(lr=3e-2, batch_size=4, max_steps=40, precision='bf16', eval_every=2, patience=2, keep_last=1,
                      save_every=1, log_every=1, seq_len=32, schedule='constant', eval_batches=2,
                      early_stopping_metric='valid_ppl')
    run = Run.create(tmp_path / 'r', config={'train': to_dict(cfg)}, tensorboard=False)
    s = Trainer(tiny(tok), cfg, run, docs[:-8], docs[-8:], pad_id=0, progress=False).fit()
    rows = run.read_metrics()
    assert all(r['loss'] == r['loss'] for r in rows if 'loss' in r)  # finite, not NaN
    if s['stopped_early']: assert s['steps'] < 40
    names = [p.name for p in list_checkpoints(run.path('checkpoints'))]
    assert len(names) <= 2 and f"ckpt-{s['steps']:06d}" in names and Path(s['best_checkpoint']).name in names
    assert 0 <= rows[-2].get('padding_fraction', rows[-1].get('padding_fraction', 0)) < 1


def test_peft_model_logs_trainable_and_resumes(tok, lee, tmp_path):
    import peft
    docs = encode_texts(lee[:30], tok, 32)
    def model():
        return peft.get_peft_model(tiny(tok), peft.LoraConfig(r=4, target_modules=['c_attn'], fan_in_fan_out=True))
    cfg = TrainConfig(lr=1e-2, batch_size=4, max_steps=6, save_every=3, log_every=3, seq_len=32)
    run = Run.create(tmp_path / 'r', config={'train': to_dict(cfg)}, tensorboard=False)
    seed_everything(0); m = model()
    s = Trainer(m, cfg, run, docs, pad_id=0, progress=False).fit(stop_at=4)
    assert 0 < s['trainable_params'] < s['total_params'] / 10
    assert run.read_metrics()[0]['trainable_params'] == s['trainable_params']
    c = read_checkpoint(latest_checkpoint(run.path('checkpoints')))
    assert c['trainable_only'] and all('lora' in k for k in c['model'])
    seed_everything(0); m2 = model()
    s2 = Trainer(m2, cfg, Run.open(run.dir), docs, pad_id=0, progress=False).fit(resume=True)
    assert s2['steps'] == 6

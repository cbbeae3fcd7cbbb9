"""The Trainer on 2 processes (`lmr train` under torchrun, gloo on the CPU) against 1 process at the same global batch:
the same losses, one set of metrics and checkpoints written by the main process, and exact resume on 2 processes."""
import json, os, shutil, subprocess
from pathlib import Path

import pytest
import torch

os.environ.setdefault('HF_HUB_OFFLINE', '1')
from lmresearch.core import atomic_write_text, load_safetensors, package_dir
from lmresearch.tracking import Run
from lmresearch.train import TIME_KEYS, list_checkpoints, torchrun_command, train_from_config

# 48 Lee stories -> 275 training examples of <= 32 tokens (275 = 68 x 4 + 3: the last global batch is shared 2 + 1)
# and 29 validation examples (8 global batches, the last of one example: one process evaluates it, the other nothing).
CONFIG = '''preset: tiny
model: {{name: {model}}}
data: {{train: lee.txt}}
tracking: {{tensorboard: false}}
train: {{max_steps: 8, batch_size: 4, seq_len: 32, batching: group, log_every: 2, eval_every: 4, eval_batches: 8,
         save_every: 2, keep_last: 10, lr: 3.0e-3, warmup: 2}}
'''
CKPT_FILES = ['model.safetensors', 'optim.pt', 'rng-0.json', 'rng-0.safetensors', 'rng-1.json', 'rng-1.safetensors',
              'trainer_state.json']


def torchrun(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONHASHSEED='0')
    p = subprocess.run(torchrun_command(list(args), processes=2), env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    return p


def metrics(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in Run.open(run_dir).read_metrics()]


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "The same config trained on 1 process with batches of 4 and on 2 processes with 2 each (a global batch of 4)."
    from transformers import GPT2Config, GPT2LMHeadModel
    from lmresearch.models import load_tokenizer
    d = tmp_path_factory.mktemp('dist')
    tok = load_tokenizer('gpt2-tokenizer')
    torch.manual_seed(0)   # no dropout: each process draws its own masks, which would make the runs differ
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                       resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    model.save_pretrained(d / 'tiny'); tok.save_pretrained(d / 'tiny')
    lee = (package_dir('gensim') / 'test' / 'test_data' / 'lee_background.cor').read_text().splitlines()
    (d / 'lee.txt').write_text('\n'.join([t.strip() for t in lee if t.strip()][:48]) + '\n')
    (d / 'exp.yaml').write_text(CONFIG.format(model=d / 'tiny'))
    one = train_from_config(d / 'exp.yaml', d / 'one', progress=False)
    two = torchrun('train', d / 'exp.yaml', '--run-dir', d / 'two', '--set', 'train.batch_size=2')
    return d, one, two


def test_two_processes_give_the_losses_of_one(runs):
    d, one, two = runs
    m1, m2 = metrics(d / 'one'), metrics(d / 'two')
    assert m1[0]['examples'] == m2[0]['examples'] == 275
    assert [sorted(r) for r in m1] == [sorted(r) for r in m2] and len(m1) == 7    # the same rows, each once
    n = 0
    for a, b in zip(m1, m2):
        assert a['step'] == b['step']
        for k in ('loss', 'valid_loss', 'grad_norm', 'lr'):
            if k in a: assert b[k] == pytest.approx(a[k], rel=1e-6, abs=1e-7), (a['step'], k); n += 1
        for k in ('epoch', 'valid_tokens', 'examples'):   # the same examples: global batches shared, not cut
            if k in a: assert a[k] == b[k], (a['step'], k)
    assert n == 4 * 3 + 2 and m1[-1]['valid_tokens'] > 0          # 4 logged steps, 2 evaluations
    assert m1[-2]['loss'] < m1[1]['loss'] - 0.1                    # it trains
    w1, w2 = (load_safetensors(d / k / 'model' / 'model.safetensors') for k in ('one', 'two'))
    assert w1.keys() == w2.keys()
    for k in w1: torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5)
    s2 = json.loads(two.stdout)                                    # the summary, printed once
    assert (one['processes'], s2['processes']) == (1, 2)
    assert s2['valid_loss'] == pytest.approx(one['valid_loss'], rel=1e-6)


def test_one_set_of_files_written_by_the_main_process(runs):
    d, one, two = runs
    names = [p.name for p in list_checkpoints(d / 'two' / 'checkpoints')]
    assert names == [p.name for p in list_checkpoints(d / 'one' / 'checkpoints')]
    assert names == [f'ckpt-00000{i}' for i in (2, 4, 6, 8)]
    for n in names:
        assert sorted(f.name for f in (d / 'two' / 'checkpoints' / n).iterdir()) == CKPT_FILES   # a random state each
    assert not list((d / 'two' / 'checkpoints').glob('*.tmp')) and not list((d / 'two').glob('*/*.del'))
    run = Run.open(d / 'two')
    assert run.status == 'completed' and run.summary['processes'] == 2 and not run.metadata.get('resumes')
    assert sorted(p.name for p in (d / 'two').iterdir()) == sorted(p.name for p in (d / 'one').iterdir())
    assert two.stdout.count('"processes": 2') == 1


def test_resume_on_two_processes_is_exact(runs):
    "A copy of the 2-process run cut back to its step-4 checkpoint (as a crash after step 5 leaves it), resumed."
    d, one, two = runs
    cut = d / 'cut'
    shutil.copytree(d / 'two', cut)
    for n in ('ckpt-000006', 'ckpt-000008'): shutil.rmtree(cut / 'checkpoints' / n)
    shutil.rmtree(cut / 'model')
    for f in ('COMPLETED', 'summary.json'): (cut / f).unlink()
    atomic_write_text(cut / 'checkpoints' / 'latest', 'ckpt-000004\n')
    torchrun('train', '--resume', '--run-dir', cut, d / 'exp.yaml', '--set', 'train.batch_size=2')
    assert metrics(cut) == metrics(d / 'two')                      # bit for bit: every logged number
    w, w2 = (load_safetensors(p / 'model' / 'model.safetensors') for p in (cut, d / 'two'))
    assert all(torch.equal(w[k], w2[k]) for k in w2)
    assert [r['from_status'] for r in Run.open(cut).metadata['resumes']] == ['running']


# The ILM objective (the reference's two means) on 2 processes: each micro-batch's context and answer targets are counted
# over both processes, so a step is the mean over micro-batches of the two means of the global micro-batch. 1 process
# with micro-batches of 2 and 2 processes with 1 each (2 accumulated micro-batches a step) must agree.
ILM_SCRIPT = '''
import json, sys
from pathlib import Path
from lmresearch.config import TrainConfig, to_dict
from lmresearch.ilm.model import IlmObjective
from lmresearch.models import load_model, load_tokenizer
from lmresearch.train import Trainer, shared_run
d, out, bs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
tok, model = load_tokenizer(d / 'ilm'), load_model(d / 'ilm')
ex = json.loads((d / 'examples.json').read_text())
cfg = TrainConfig(max_steps=4, batch_size=bs, grad_accum=2, seq_len=96, batching='group', log_every=1, eval_every=2,
                  eval_batches=None, save_every=0, lr=3e-3, warmup=1, early_stopping_metric='valid_infill_loss')
run = shared_run(out, config={'train': to_dict(cfg)}, seed=0, tensorboard=False)
Trainer(model, cfg, run, ex[8:], ex[:8], pad_id=tok.eos_token_id, seed=0, progress=False, objective=IlmObjective()).fit()
'''


@pytest.fixture(scope='module')
def ilm_runs(tmp_path_factory):
    import json, sys
    from transformers import GPT2Config, GPT2LMHeadModel
    from lmresearch.ilm.mask import mask_documents
    from lmresearch.ilm.model import add_ilm_tokens, ilm_training_examples
    from lmresearch.models import load_tokenizer
    d = tmp_path_factory.mktemp('dist-ilm')
    tok = load_tokenizer('gpt2-tokenizer')
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=2,
                                       resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    add_ilm_tokens(tok, model); model.save_pretrained(d / 'ilm'); tok.save_pretrained(d / 'ilm')
    lee = (package_dir('gensim') / 'test' / 'test_data' / 'lee_background.cor').read_text().splitlines()
    docs = [' '.join(t.split()[:40]) for t in lee if t.strip()][:30]
    m = mask_documents(docs, per_doc=2, p=0.08, seed=0)
    items = {}
    for doc, e, t, o, n in zip(*(m[k].tolist() for k in ('doc', 'example', 'type', 'offset', 'length'))):
        items.setdefault((doc, e), (docs[doc], []))[1].append((t, o, n))
    ex = ilm_training_examples(list(items.values()), tok, 96, too_long='drop', on_error='skip')
    (d / 'examples.json').write_text(json.dumps([{k: list(map(int, v)) for k, v in e.items()} for e in ex]))
    (d / 'train_ilm.py').write_text(ILM_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONHASHSEED='0')
    one = subprocess.run([sys.executable, d / 'train_ilm.py', d, d / 'one', '2'], env=env, capture_output=True,
                         text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    cmd = torchrun_command([], processes=2)[:-1] + [str(d / 'train_ilm.py'), str(d), str(d / 'two'), '1']
    two = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-4000:]
    return d


def test_ilm_objective_on_two_processes_gives_the_numbers_of_one(ilm_runs):
    d = ilm_runs
    m1, m2 = metrics(d / 'one'), metrics(d / 'two')
    assert [sorted(r) for r in m1] == [sorted(r) for r in m2]
    keys = ('loss', 'loss_context', 'loss_infill', 'grad_norm', 'valid_loss', 'valid_context_loss', 'valid_infill_loss')
    n = 0
    for a, b in zip(m1, m2):
        for k in keys:
            if k in a: assert b[k] == pytest.approx(a[k], rel=1e-5, abs=1e-6), (a['step'], k); n += 1
    assert n == 4 * 4 + 2 * 3                                     # 4 steps x 4 numbers, 2 evaluations x 3
    first = next(r for r in m1 if 'loss' in r)
    assert first['loss'] == pytest.approx(first['loss_context'] + first['loss_infill'], rel=1e-6)   # the two means

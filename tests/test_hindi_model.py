"Hindi models (lmresearch.hindi.model): exact resume of masked-LM training with a curriculum; curricula orders."
import pytest
import torch

from lmresearch.core import seed_everything
from lmresearch.config import TrainConfig
from lmresearch.models import pad_token_id
from lmresearch.tracking import Run
from lmresearch.train import Trainer
from lmresearch.hindi.model import (CURRICULA, MaskedLMObjective, build_model, curriculum_order, examples_for)
from lmresearch.hindi.tokenizers import train_tokenizer

SENTS = [f'{a} ने {b} को {c} दी।' for a in ('राम', 'सीता', 'गीता', 'मोहन') for b in ('लड़कियों', 'बच्चों', 'माँ')
         for c in ('किताब', 'किताबें', 'रोटी', 'चिट्ठियाँ')] * 2


@pytest.fixture(scope='module')
def tok():
    return train_tokenizer('wordpiece', SENTS, 80, min_frequency=1)   # 71 characters, digits and specials


def _trainer(tok, run_dir, arch, curriculum):
    cfg = TrainConfig(max_steps=8, batch_size=4, lr=3e-3, seq_len=32, save_every=4, eval_every=4, log_every=2)
    causal = arch != 'bert'
    seed_everything(0)          # dropout draws from the global RNG: a fresh run must start from a known state
    run = Run.create(run_dir, config={}, exist_ok=True)
    return Trainer(build_model(arch, 'tiny', tok, positions=32, seed=0), cfg, run,
                   examples_for(tok, SENTS, causal), examples_for(tok, SENTS[:8], causal), pad_id=pad_token_id(tok),
                   progress=False, objective=None if causal else MaskedLMObjective(tok, seed=1),
                   order=curriculum_order(curriculum))


@pytest.mark.parametrize('arch,curriculum', [('bert', 'morphology'), ('gpt2', 'combined')])
def test_resume_is_exact(tok, tmp_path, arch, curriculum):
    full = _trainer(tok, tmp_path / 'full', arch, curriculum); full.fit()
    part = _trainer(tok, tmp_path / 'part', arch, curriculum); part.fit(stop_at=4)
    again = _trainer(tok, tmp_path / 'part', arch, curriculum); again.fit(resume=True)
    for (n, a), (_, b) in zip(full.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), n


def test_curricula_cover_every_example_once(tok):
    exs = examples_for(tok, SENTS)
    for c in CURRICULA[1:]:
        flat = [i for b in curriculum_order(c)(exs, 4, 0, 0) for i in b]
        assert sorted(flat) == list(range(len(exs)))

"""The ILM CPU study's bug-or-budget checks on word blanks (papers/ilm_chapter.qmd, "Bug or budget?").

Does an ILM read the context of a word blank? On the first `--examples` word-test examples (every other store
position) each ILM's answer-token perplexity is measured with its context, and with every context token removed
(the blank tokens kept); the base model scores the same answer tokens left to right. `--train-more OUT` first trains
the study's ILM (or `--start`) `--steps` more steps (`--seed` 1: other examples) into OUT and probes it too.

    OMP_NUM_THREADS=1 .venv/bin/python tools/ilm_word_probe.py                    # the study's ILM and base LM
    OMP_NUM_THREADS=1 .venv/bin/python tools/ilm_word_probe.py --train-more /tmp/ilm-300   # + 150 more steps
    OMP_NUM_THREADS=1 .venv/bin/python tools/ilm_word_probe.py --start /tmp/ilm-300 --seed 2 --train-more /tmp/ilm-450
"""
import argparse
from pathlib import Path

import numpy as np
import torch

from lmresearch.ilm.experiment import _bos, _data_paths, _eval_model, _token_nll, ilm_config, train_ilm
from lmresearch.ilm.mask import masked_split
from lmresearch.ilm.model import CONTEXT, INFILL
from lmresearch.ilm.store import example_layout, token_store
from lmresearch.models import pad_token_id

STUDY = {'train.lr': 3.0e-4, 'train.warmup': 0.1, 'train.seq_len': 384, 'train.save_every': 0, 'train.log_every': 5,
         'train.patience': None, 'ilm.max_valid_examples': 64, 'tracking.tensorboard': False}


def probe(model, tok, store, positions, task: str) -> dict:
    "Answer-token perplexity over `positions`: with the context, and (task 'ilm') with the blank tokens only."
    sums = {'context': [0.0, 0], 'blanks only': [0.0, 0]} if task == 'ilm' else {'left context': [0.0, 0]}
    for i in positions:
        lay = example_layout(store, int(i), task, _bos(tok) if task == 'lm' else None)
        ids, tt = lay['input_ids'], lay['target_types']
        keep = tt != CONTEXT; keep[0] = True
        seqs = {'context': (ids, tt), 'blanks only': (ids[keep], tt[keep]), 'left context': (ids, tt)}
        for name in sums:
            seq, t = seqs[name]
            nll = _token_nll(model, [seq], pad_token_id(tok), True)[0]
            sums[name][0] += nll[t == INFILL].sum(); sums[name][1] += int((t == INFILL).sum())
    return {k: (round(float(np.exp(n / t)), 1), t) for k, (n, t) in sums.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--batch', default='runs/ilm-study', help="the study's batch folder")
    p.add_argument('--examples', type=int, default=80, help='word-test examples probed')
    p.add_argument('--train-more', help='train the ILM --steps more steps into this folder and probe it too')
    p.add_argument('--steps', type=int, default=150)
    p.add_argument('--start', help="the ILM run that --train-more continues (default: the study's)")
    p.add_argument('--seed', type=int, default=1, help='the seed of --train-more (the study trained with 0)')
    a = p.parse_args()
    torch.set_num_threads(1); torch.set_grad_enabled(False)
    batch = Path(a.batch).resolve()
    ilm_run, data = next(batch.glob('ilm-job-*/run')), next(batch.glob('data-job-*/run'))
    runs = [Path(a.start).resolve() if a.start else ilm_run]
    if a.train_more:
        with torch.enable_grad():
            train_ilm(ilm_config('cpu', 'all', init_from=str(runs[0]), data_dir=str(data), seed=a.seed,
                                 overrides={**STUDY, 'train.max_steps': a.steps, 'train.eval_every': a.steps // 2}),
                      Path(a.train_more))
        runs.append(Path(a.train_more))
    for run in runs:
        model, tok, _, _ = _eval_model(str(run), None, None, 'ilm')
        store = token_store(_data_paths(data)[1], masked_split('word', 'test'), tok)
        print(f'ILM {run}:', probe(model, tok, store, range(0, 2 * a.examples, 2), 'ilm'))
    base, btok, _, _ = _eval_model('smollm2-135m', None, None, 'lm')
    print('base LM, left to right:', probe(base, btok, store, range(0, 2 * a.examples, 2), 'lm'))


if __name__ == '__main__':
    main()

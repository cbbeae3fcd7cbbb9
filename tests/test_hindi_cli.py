"`lmr hindi ...` (lmresearch.hindi.cli) through a parser built here, as the lead's cli.LINE_CLIS will build it."
import argparse, re
from pathlib import Path

import pandas as pd
import pytest

from lmresearch.core import LMRError
from lmresearch.hindi.cli import add_commands
from lmresearch.hindi.evaluate import find_beside, read_pairs

UD = find_beside('shared/data/ud_hindi_hdtb')


def lmr(*argv):
    p = argparse.ArgumentParser(prog='lmr'); add_commands(p.add_subparsers())
    a = p.parse_args([str(x) for x in argv])
    return a.fn(a)


@pytest.mark.skipif(UD is None, reason='UD Hindi HDTB not beside the project (CC BY-NC-SA: not shipped)')
def test_pairs_writes_multiblimp_tsv(tmp_path, capsys):
    dev = next(UD.glob('*dev*.conllu'))
    assert lmr('hindi', 'pairs', '--ud', dev, '--out', tmp_path / 'p.tsv', '--per-phenomenon', 5) == 0
    p = read_pairs(tmp_path / 'p.tsv')            # MultiBLiMP columns sen / wrong_sen / phenomenon
    assert p.phenomenon.value_counts().max() == 5 and (p.good != p.bad).all()
    assert 'wrote 15 pairs' in capsys.readouterr().out


def test_step_is_required():
    with pytest.raises(LMRError, match=re.escape('lmr hindi prepare | tokenizers | pairs | train')):
        lmr('hindi')

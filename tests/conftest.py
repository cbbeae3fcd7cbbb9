import os
from pathlib import Path
import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / 'shared' / 'data'

@pytest.fixture
def root() -> Path:
    return ROOT

@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f'{SHARED_DATA} is absent (the shared real-data folder sits beside the project only on the team machines)')
    return SHARED_DATA

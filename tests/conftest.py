import sys
from pathlib import Path

import pytest
import torch

# Tests import their shared helpers (model_zoo, shared_data) as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture()
def one_thread():
    """One torch thread for the test: tiny models gain nothing from threads, and OpenMP spin-waits crawl
    on a busy machine. Use with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

import os

import pytest
import torch

# Keep each test worker on one thread: the suite runs two workers on two cores.
torch.set_num_threads(1)

try:
    from hypothesis import settings

    settings.register_profile("ci", deadline=None, max_examples=40, derandomize=True)
    settings.register_profile("dev", deadline=None, max_examples=40)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(autouse=True)
def _same_random_state_for_every_test():
    """Every test starts from the same global random state, whatever ran before it in its
    worker: tests that draw from torch's global generator (gradcheck's random output gradients,
    torch.randn without a generator) are then reproducible, and never depend on test order."""
    torch.manual_seed(0)
    yield


@pytest.fixture
def cuda_device():
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return torch.device("cuda")

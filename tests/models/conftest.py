"""Fixtures shared by the model tests."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models.helpers import sine_windows


@pytest.fixture
def windows() -> np.ndarray:
    return sine_windows(48, 9, 3)

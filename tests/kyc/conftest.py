"""KYC tests: files go to a per-test directory through the real LocalStorage."""

from __future__ import annotations

from pathlib import Path

import pytest

from duro.config import Settings
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(storage_dir=tmp_path / "uploads", staff_key="s" * 40)

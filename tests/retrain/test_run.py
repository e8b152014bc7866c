"""Request checks of anomaly_gan.retrain.run, before any data is read or TensorFlow loads
(the command line's side: tests/test_cli_messages.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from anomaly_gan.errors import DataError
from anomaly_gan.retrain.run import RetrainRequest, check_request


def test_unreadable_inputs_are_named(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_text("x\n1\n")
    check_request(RetrainRequest(store="s", files=(str(data),)))  # fine
    with pytest.raises(DataError, match=rf"^{tmp_path / 'b.csv'}: file not found$"):
        check_request(RetrainRequest(store="s", files=(str(data), str(tmp_path / "b.csv"))))
    with pytest.raises(DataError, match=rf"^{tmp_path}: cannot read: is a directory$"):
        check_request(RetrainRequest(store="s", files=(str(tmp_path),)))
    with pytest.raises(DataError, match=r"labels\.csv: file not found$"):
        check_request(RetrainRequest(store="s", files=(str(data),),
                                     labels=str(tmp_path / "labels.csv")))
    with pytest.raises(DataError, match=r"labels\.csv: file not found$"):
        check_request(RetrainRequest(store="s", start=0.0, end=1.0,
                                     labels=str(tmp_path / "labels.csv")))

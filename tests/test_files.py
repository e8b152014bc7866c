import os
import stat

import pytest

from anomaly_gan.errors import OutputError
from anomaly_gan.files import atomic_write_text, check_output_file, current_umask


def test_current_umask_reads_without_changing():
    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert current_umask() == 0o027
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_follows_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "sub" / "a.csv", lambda fh: fh.write("x\n"))
    finally:
        os.umask(old)
    out = tmp_path / "sub" / "a.csv"
    assert out.read_text() == "x\n" and stat.S_IMODE(out.stat().st_mode) == mode
    assert [p.name for p in out.parent.iterdir()] == ["a.csv"]


def test_failed_write_leaves_nothing(tmp_path):
    def boom(fh):
        fh.write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="a.csv: cannot write: No space left on device"):
        atomic_write_text(tmp_path / "a.csv", boom)
    assert list(tmp_path.iterdir()) == []


def test_output_must_be_a_regular_file(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        check_output_file(tmp_path / "dir")
    with pytest.raises(OutputError, match="is a device"):
        check_output_file("/dev/null")
    (tmp_path / "f").write_text("old")
    check_output_file(tmp_path / "f")  # an existing regular file may be replaced

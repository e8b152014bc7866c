"""The figure file: written where the user said, in the format its extension names, atomically."""

import numpy as np
import pytest

from anomaly_gan.detector import WindowScores
from anomaly_gan.errors import OutputError
from anomaly_gan.plot import figure_format, plot_scores
from anomaly_gan.scoring.explain import TopFeatures

NAMES = ("temp", "rpm", "flow")


def _scores(rows: int = 60) -> WindowScores:
    score = np.concatenate([np.full(15, np.nan), np.linspace(0.0, 3.0, rows - 15)])
    indices = np.tile([0, 1, 2], (rows, 1))
    indices[:15] = -1
    return WindowScores(score=score, threshold=2.0, is_anomaly=np.nan_to_num(score) > 2.0,
                        severity=np.zeros(rows), components={}, contributions=np.zeros((rows, 3)),
                        top_features=TopFeatures(indices, NAMES))


def _plot(out) -> None:
    values = np.random.default_rng(0).normal(size=(60, 3))
    plot_scores(values, NAMES, _scores(), out, title="test")


@pytest.mark.parametrize("name, magic", [("f.png", b"\x89PNG"), ("f.PDF", b"%PDF"),
                                         ("f.svg", b"<?xml")])
def test_the_extension_picks_the_format_and_the_exact_path_is_written(tmp_path, name, magic):
    _plot(tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert (tmp_path / name).read_bytes().startswith(magic)


@pytest.mark.parametrize("name, problem", [
    ("p4", "no file extension to choose the figure format"),
    ("f.txt", "figure format 'txt' is not supported"),
])
def test_a_figure_needs_a_supported_extension(tmp_path, name, problem):
    """A name without an extension used to be written as NAME.png while the CLI said NAME."""
    with pytest.raises(OutputError, match=rf"^{tmp_path / name}: {problem}; end the name with "
                                          rf"\.png, \.pdf or \.svg \(supported: .*png.*\)$"):
        figure_format(tmp_path / name)
    with pytest.raises(OutputError, match=problem):
        _plot(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_old_figure(tmp_path, monkeypatch):
    """The figure was written in place: a full disk left half a PNG instead of the old one."""
    from matplotlib.figure import Figure

    out = tmp_path / "fig.png"
    out.write_bytes(b"the old figure")

    def half_then_full(self, fname, **kwargs):
        if hasattr(fname, "write"):
            fname.write(b"\x89PNG half")
        else:  # a path: written in place
            with open(fname, "wb") as fh:
                fh.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", half_then_full)
    with pytest.raises(OutputError, match=r"fig\.png: cannot write.*No space left on device"):
        _plot(out)
    assert out.read_bytes() == b"the old figure"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # no temporary file left


def test_pgf_without_its_tex_engine_is_refused_before_scoring(tmp_path, monkeypatch):
    """matplotlib needs a TeX engine to write pgf: the missing engine used to surface only
    after scoring, as "cannot write the figure"."""
    import matplotlib

    monkeypatch.setitem(matplotlib.rcParams, "pgf.texsystem", "xelatex")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(OutputError, match=rf"^{tmp_path / 'f.pgf'}: the pgf format needs "
                                          r"xelatex \(matplotlib's pgf.texsystem\), which is "
                                          r"not on PATH; use \.pdf or \.svg$"):
        figure_format(tmp_path / "f.pgf")
    engine = tmp_path / "bin" / "xelatex"
    engine.parent.mkdir()
    engine.write_text("#!/bin/sh\n")
    engine.chmod(0o755)
    monkeypatch.setenv("PATH", str(engine.parent))
    assert figure_format(tmp_path / "f.pgf") == "pgf"


def test_the_one_score_of_a_one_window_file_is_drawn(tmp_path, monkeypatch):
    """A file of exactly one window has one score, on its last row: the score was drawn as
    a line, which needs two points, and the panel showed nothing but the threshold."""
    from matplotlib.figure import Figure

    drawn = []
    save = Figure.savefig

    def keep(self, fname, **kwargs):
        score_panel = self.axes[1]
        drawn.extend(tuple(xy) for c in score_panel.collections for xy in c.get_offsets())
        return save(self, fname, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    rows = 32
    score = np.full(rows, np.nan)
    score[-1] = 1.25
    indices = np.tile([0, 1, 2], (rows, 1))
    indices[:-1] = -1
    one = WindowScores(score=score, threshold=2.0, is_anomaly=np.zeros(rows, bool),
                       severity=np.zeros(rows), components={},
                       contributions=np.zeros((rows, 3)), top_features=TopFeatures(indices, NAMES))
    plot_scores(np.random.default_rng(0).normal(size=(rows, 3)), NAMES, one, tmp_path / "f.png")
    assert (rows - 1, 1.25) in drawn


def test_a_file_with_times_is_drawn_against_them(tmp_path, monkeypatch):
    """A new user's test day (a `timestamp` column, one row a minute) was drawn against
    "row" 0-1440: where in the day the incident lay meant counting rows. With the rows'
    times the score panel's ticks read as UTC clock times."""
    from matplotlib.figure import Figure

    seen = {}
    save = Figure.savefig

    def keep(self, fname, **kwargs):
        self.canvas.draw()
        panel = self.axes[1]
        seen["xlabel"] = panel.get_xlabel()
        seen["ticks"] = [t.get_text() for t in panel.get_xticklabels() if t.get_text()]
        return save(self, fname, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    times = 1793750400.0 + 60.0 * np.arange(60)  # 2026-11-04 00:00 UTC, one row a minute
    values = np.random.default_rng(0).normal(size=(60, 3))
    plot_scores(values, NAMES, _scores(), tmp_path / "f.png", times=times)
    assert seen["xlabel"] == "time (UTC)"
    assert seen["ticks"] and all(len(t) == 5 and t[2] == ":" for t in seen["ticks"])
    assert "00:00" in seen["ticks"]
    plot_scores(values, NAMES, _scores(), tmp_path / "f.png")
    assert seen["xlabel"] == "row"


def test_a_counter_is_drawn_as_its_increase(tmp_path, monkeypatch):
    """The rows of a data.counters feature are its increases (what the model reads): the
    legend named the counter as if its running total were drawn."""
    from matplotlib.figure import Figure

    seen = []
    save = Figure.savefig

    def keep(self, fname, **kwargs):
        seen.extend(t.get_text() for t in self.axes[0].get_legend().get_texts())
        return save(self, fname, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    values = np.random.default_rng(0).normal(size=(60, 3))
    plot_scores(values, NAMES, _scores(), tmp_path / "f.png", counters=(1,))
    assert sorted(seen) == ["flow", "rpm increase", "temp"]


def test_a_small_threshold_keeps_its_significant_digits_in_the_legend(tmp_path, monkeypatch):
    """The legend wrote the threshold with two decimals: one of 3.1e-4 read 'threshold 0.00'
    (score's summary line had the same fault)."""
    from dataclasses import replace

    from matplotlib.figure import Figure

    legends = []
    save = Figure.savefig

    def keep(self, fname, **kwargs):
        legends.extend(t.get_text() for t in self.axes[1].get_legend().get_texts())
        return save(self, fname, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    scores = replace(_scores(), threshold=3.1234e-4)
    plot_scores(np.random.default_rng(0).normal(size=(60, 3)), NAMES, scores, tmp_path / "f.png")
    assert "threshold 0.0003123" in legends


def test_the_legend_names_each_top_feature_as_written(tmp_path, monkeypatch):
    """The top features' legend is the only key to which line is which feature: a name
    starting with '_' (an InfluxDB export's '_value') was left out of it, as matplotlib
    leaves out such labels, and one with two '$' was typeset as math ('a$b$c' read 'abc')."""
    from matplotlib.figure import Figure

    seen = []
    save = Figure.savefig

    def keep(self, fname, **kwargs):
        seen.extend(t._preprocess_math(t.get_text())
                    for t in self.axes[0].get_legend().get_texts())
        return save(self, fname, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    names = ("_value", "cost$usd$", "flow")
    plot_scores(np.random.default_rng(0).normal(size=(60, 3)), names,
                _named(names), tmp_path / "f.png")
    assert sorted(seen) == [("_value", False), ("cost$usd$", False), ("flow", False)]


def _named(names) -> WindowScores:
    from dataclasses import replace

    scores = _scores()
    return replace(scores, top_features=TopFeatures(scores.top_features.indices, names))

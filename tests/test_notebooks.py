"""The planners' notebooks run top to bottom against the test database; none is
committed with outputs.

Half a year of generated sample complaints (July to December 2022, a seed of
their own: no other test files anything then) is loaded with the sample loader,
and each notebook is executed by nbclient in a fresh kernel. The kernel gets
the test database and the study window through its environment; an error in
any cell fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from sqlalchemy.engine import Engine

from gis.settings import ROOT, Settings

pytestmark = pytest.mark.slow

NOTEBOOKS = ROOT / "notebooks"
STUDY_TO = "2022-12-31"
STUDY_MONTHS = "6"
SEED = 73_001


@pytest.fixture(scope="module")
def sample_half_year(
    engine: Engine, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> int:
    from sample.complaints import load_sample_complaints
    from sample.seed import load_sample

    load_sample(engine, settings=settings)
    loaded = load_sample_complaints(
        engine,
        today=date(2023, 1, 1),
        days=184,
        out_dir=tmp_path_factory.mktemp("sample-complaints"),
        seed=SEED,
    )
    assert loaded.cases > 10_000
    return loaded.cases


@pytest.fixture
def study_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sample_half_year: int
) -> Iterator[Path]:
    """The kernel's environment: the test database (already in os.environ, set by
    conftest) and the study's window and output folder."""
    monkeypatch.setenv("CG_STUDY_TO", STUDY_TO)
    monkeypatch.setenv("CG_STUDY_MONTHS", STUDY_MONTHS)
    monkeypatch.setenv("CG_STUDY_OUT", str(tmp_path))
    yield tmp_path


def _run(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        nb,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    return nb


def _text(nb: nbformat.NotebookNode) -> str:
    parts: list[str] = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            data: dict[str, Any] = output.get("data", {})
            parts.append(str(data.get("text/plain", "")))
            parts.append(str(data.get("text/html", "")))
    return "\n".join(parts)


def test_hotspots_study_runs(study_env: Path) -> None:
    nb = _run("hotspots_study")
    text = _text(nb)
    assert "2022-07-01 — 2022-12-31 (6 个整月" in text
    assert "Benjamini–Hochberg" in text and "置换次数 / permutations: 999" in text
    assert "热点（99% 置信度）" in text  # the planted markets and sites are found
    assert "显著热点网格 / significant hot grids:" in text
    written = sorted(p.name for p in study_env.glob("*.html"))
    assert written == ["emerging.html", "hotspots.html"]


def test_monthly_trends_runs(study_env: Path) -> None:
    nb = _run("monthly_trends")
    text = _text(nb)
    assert "6 个整月，截至 2022-12-31" in text
    for month in ("2022-07", "2022-12"):
        assert month in text
    assert "合计 / total" in text and "上升的类别 / rising classes:" in text


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_carry_no_outputs(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    nbformat.validate(nbformat.reads(json.dumps(raw), as_version=4))
    for i, cell in enumerate(raw["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"cell {i} has outputs: clear them before committing"
            assert cell["execution_count"] is None, f"cell {i} has an execution count"
    assert "widgets" not in raw["metadata"]


def test_there_are_the_two_studies() -> None:
    names = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert {"hotspots_study", "monthly_trends"} <= names

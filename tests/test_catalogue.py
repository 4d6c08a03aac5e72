"""The event catalogue: the shipped file is valid, bad files are refused by entry."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import pytest

from cases.catalogue import CatalogueError, load_catalogue, parse_catalogue
from cases.errors import InvalidInput
from gis.settings import ROOT

CATALOGUE = ROOT / "data" / "catalogue.toml"

SUB = """
[[classes.subclasses]]
code = "{code}"
name = "{name}"
tier = "{tier}"
time_limit_hours = {hours}
duplicate_radius_m = 50
duplicate_window_hours = 24
department = "D02"
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(body, encoding="utf-8")
    return path


def one_class(*subs: str, code: str = "01") -> str:
    return f'[[classes]]\ncode = "{code}"\nname = "市容环境"\n' + "".join(subs)


def sub(code: str = "0101", name: str = "暴露垃圾", tier: str = "minor", hours: float = 4) -> str:
    return SUB.format(code=code, name=name, tier=tier, hours=hours)


def test_shipped_catalogue_is_valid_and_complete() -> None:
    cat = load_catalogue(CATALOGUE)
    assert [c.code for c in cat.classes] == ["01", "02", "03", "04", "05"]
    assert [c.name for c in cat.classes] == [
        "市容环境",
        "宣传广告",
        "施工管理",
        "街面秩序",
        "突发事件",
    ]
    for c in cat.classes:
        assert 4 <= len(c.subclasses) <= 8
    names = {s.name for s in cat.subclasses}
    assert {
        "暴露垃圾",
        "占道经营",
        "私搭乱建",
        "非法小广告",
        "乱堆物料",
        "油烟噪音",
        "井盖缺失",
    } <= names
    codes = [s.code for s in cat.subclasses]
    assert codes == sorted(codes) and len(set(codes)) == len(codes)
    s = cat.subclass("0401")
    assert (s.name, s.class_code, s.class_name) == ("占道经营", "04", "街面秩序")
    assert s.tier in ("minor", "moderate", "major")
    assert s.time_limit_hours > 0 and s.duplicate_radius_m > 0
    assert s.duplicate_window_hours > 0


def test_departments_are_those_of_the_organisation() -> None:
    path = ROOT / "data" / "sample" / "departments.csv"
    with path.open(encoding="utf-8") as f:
        known = {row["code"] for row in csv.DictReader(f)}
    used = {s.department for s in load_catalogue(CATALOGUE).subclasses}
    assert used <= known


def test_load_is_cached_and_reloads_on_change(tmp_path: Path) -> None:
    path = write(tmp_path, one_class(sub()))
    first = load_catalogue(path)
    assert load_catalogue(path) is first
    path.write_text(one_class(sub(), sub("0102", "积存垃圾渣土")), encoding="utf-8")
    assert [s.code for s in load_catalogue(path).subclasses] == ["0101", "0102"]


def test_unknown_subclass_is_invalid_input_with_field() -> None:
    cat = load_catalogue(CATALOGUE)
    with pytest.raises(InvalidInput) as err:
        cat.subclass("9999")
    assert err.value.field == "subclass"
    assert "9999" in err.value.message and len(err.value.message) < 200
    with pytest.raises(InvalidInput) as err:
        cat.subclass("x" * 5000)
    assert len(err.value.message) < 200


def test_as_dict_is_json_ready() -> None:
    data = load_catalogue(CATALOGUE).as_dict()
    assert data["classes"][0]["subclasses"][0]["code"] == "0101"
    assert set(data["classes"][0]["subclasses"][0]) >= {
        "code",
        "name",
        "class_code",
        "class_name",
        "tier",
        "time_limit_hours",
        "duplicate_radius_m",
        "duplicate_window_hours",
        "department",
        "description",
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (one_class(sub(), sub()), "0101"),  # duplicate subclass code
        (one_class(sub()) + one_class(sub("0201"), code="01"), "class 01"),  # duplicate class
        (one_class(sub("0201")), "must start with its class code 01"),
        (one_class(sub(hours=0)), "time_limit_hours"),
        (one_class(sub(hours=-3)), "time_limit_hours"),
        (one_class(sub(tier="huge")), "tier"),
        (one_class(sub(code="101")), "four digits"),
        (one_class(sub(code="0101", name="")), "name"),
        (one_class(code="1") + sub(), "two digits"),
        (one_class(), "subclasses"),
        ("title = 'x'\n", "classes"),
        (one_class(sub()).replace('department = "D02"', 'department = "D 02"'), "department"),
        (one_class(sub()).replace('tier = "minor"', 'tier = "minor"\ncolour = "red"'), "colour"),
    ],
)
def test_bad_files_name_the_entry(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(CatalogueError) as err:
        load_catalogue(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_error_names_class_and_subclass(tmp_path: Path) -> None:
    body = one_class(sub(), sub("0102", "积存垃圾渣土", hours=0))
    named = r"class 01 \(市容环境\) subclass 0102 \(积存垃圾渣土\)"
    with pytest.raises(CatalogueError, match=named):
        load_catalogue(write(tmp_path, body))


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="not valid TOML"):
        load_catalogue(write(tmp_path, "[[classes]\ncode = "))
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "nothing.toml")


def test_parse_catalogue_from_dict() -> None:
    raw = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))
    assert len(parse_catalogue(raw).subclasses) == len(load_catalogue(CATALOGUE).subclasses)

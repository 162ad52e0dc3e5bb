"""Loading specs: the shipped ones expand as formats.md says; broken ones fail naming the place."""

from __future__ import annotations

import pytest

from xltool.errors import SpecError
from xltool.spec import load_format, templates_dir
from xltool.spec_loader import load_spec

SOURCE = (templates_dir() / "gov-disclosure-2021.toml").read_text(encoding="utf-8")


def test_shipped_specs_expand_to_the_official_data_points():
    for fmt, count, leaves in (("2019", 198, 19), ("2021", 200, 21)):
        t = load_format(fmt)
        assert len(t.cells) == count
        h2 = [i for i in t.identities if i.rule == "H2"]
        assert len(h2) == 7 and all(len(i.right) == leaves for i in h2)
        assert {i.rule for i in t.identities if i.severity == "warning"} == (
            {"S5", "S1", "S4"} if fmt == "2019" else {"S3", "S1", "S2"})
        assert {p.rule for p in t.plausibility} == {"S6", "S8", "S9"}
    t = load_format("2021")
    assert t.cells["T3_GRANTED_TOTAL"].total_of == tuple(
        f"T3_GRANTED_{c}" for c in ("NATURAL", "BUSINESS", "RESEARCH", "NONPROFIT", "LEGAL", "OTHERORG"))
    assert t.cells["T3_FORWARD_LEGAL"].is_input and not t.cells["T4_SUITAFTER_TOTAL"].is_input
    assert t.cells["T4_SUIT_PENDING"].row_label == "未经复议直接起诉"
    h3 = next(i for i in t.identities if i.rule == "H3" and i.anchor == "T3_FORWARD_NATURAL")
    assert (h3.left, h3.right) == (("T3_NEW_NATURAL", "T3_CARRY_NATURAL"), ("T3_TOTAL_NATURAL", "T3_FORWARD_NATURAL"))
    assert load_format("2019").cells["T2_LICENSING_CHANGE"].type.min is None


@pytest.mark.parametrize("old, new, message", [
    ('layout = "matrix"\ncorner', 'layout = "matrix"\ncolour = "red"\ncorner', "table T3: unknown key 'colour'"),
    ('{ code = "LEGAL", label = "法律服务机构"', '{ code = "BUSINESS", label = "法律服务机构"',
     "duplicate data point code T3_NEW_BUSINESS"),
    ('right = ["UPHELD..PENDING"]', 'right = ["UPHELD..PENDING", "APPEALED"]',
     "identity H4: refers to missing cell T4_REVIEW_APPEALED"),
    ('right = ["GRANTED..OTHER_OTHER"]', 'right = ["GRANTED..TOTAL"]', "circular total: T3_TOTAL_NATURAL -> T3_TOTAL_NATURAL"),
    ('right = ["NATURAL..OTHERORG"]', 'right = ["OTHERORG..NATURAL"]', "bad range 'OTHERORG..NATURAL'"),
    ('severity = "warning"', 'severity = "info"', "identity S3: severity"),
    ('{ code = "ISSUED", label = "本年制发件数" }', '{ code = "ISSUED", label = "本年制发件数", type = "money" }',
     "unknown type 'money'"),
    ('format = "gov-disclosure-2021"\n', '', "missing key 'format'"),
    ('[[identities]]\nid = "H1"', '[[identities]]\nid = "H1"\nleft = 1', "Cannot overwrite a value"),
], ids=["unknown-key", "duplicate-code", "missing-cell", "circular-total", "bad-range", "bad-severity",
        "unknown-type", "missing-format", "toml-syntax"])
def test_broken_spec_is_a_clear_error(tmp_path, old, new, message):
    assert old in SOURCE
    path = tmp_path / "broken.toml"
    path.write_text(SOURCE.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert message in str(err.value)
    assert str(err.value).startswith("broken.toml") or str(path) in str(err.value)


@pytest.mark.parametrize("old, new, message", [
    ("first_year = 2021", 'first_year = "twenty"', "top level: first_year must be an integer, got string 'twenty'"),
    ("decimals = 4", 'decimals = "four"', "types.amount: decimals must be an integer, got string 'four'"),
    ("decimals = 4", "decimals = 4.5", "types.amount: decimals must be an integer, got float 4.5"),
    ("whole = true", 'whole = "yes"', "types.count: whole must be true or false, got string 'yes'"),
    ("min = 0", "min = true", "types.count: min must be a number, got boolean True"),
    ('unit = "件"', "unit = 7", "types.count: unit must be a string, got integer 7"),
    ('"元" = 0.0001', '"元" = "0.0001"', "types.amount.typed_units: 元 must be a number, got string '0.0001'"),
    ('{ code = "RULES", label = "规章" }', '{ code = "RULES", label = 5 }',
     "table T2 block 1 rows[0]: label must be a string, got integer 5"),
    ('groups = ["申请人情况"] }', 'groups = "申请人情况" }', "groups must be a list of strings, got string"),
    ('over = "rows"\nleft = ["TOTAL"]', 'over = "rows"\nleft = "TOTAL"', "identity H1: left must be a list of strings"),
    ("total = true\ndescription", 'total = "yes"\ndescription', "identity H1: total must be true or false, got string 'yes'"),
    ('short = "2021"', "short = 2021", "top level: short must be a string, got integer 2021"),
    ('instructions = [\n', 'instructions = [\n  7,\n', "cover: instructions must be a list of strings"),
    ('summary = "不通过项数"', 'summary = ["不通过项数"]', "checks: summary must be a string, got array"),
], ids=["first-year-text", "decimals-text", "decimals-float", "whole-text", "min-bool", "unit-number",
        "factor-text", "label-number", "groups-text", "left-text", "total-text", "short-number",
        "instruction-number", "summary-array"])
def test_scalar_of_the_wrong_type_names_file_key_and_expectation(tmp_path, old, new, message):
    assert old in SOURCE, old
    path = tmp_path / "typed.toml"
    path.write_text(SOURCE.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value).startswith("typed.toml: ")
    assert message in str(err.value)


def test_loaded_spec_cannot_be_changed():
    t = load_format("2021")
    with pytest.raises(TypeError):
        t.cells["T3_NEW_NATURAL"] = t.cells["T3_NEW_LEGAL"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        t.version = "2"  # type: ignore[misc]
    assert load_format("2021") is t and load_format("gov-disclosure-2021") is t


def test_the_example_spec_of_templates_readme_loads(tmp_path):
    text = (templates_dir() / "README.md").read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.toml"
    path.write_text(example, encoding="utf-8")
    template = load_spec(path)
    assert template.cells and any(i.severity == "warning" for i in template.identities)


def test_a_format_is_found_by_reading_its_own_spec_only(monkeypatch):
    """Each shipped spec is named after its format, so that checking a file reads one spec, not all; what a
    workbook names is looked up as a file only when it is a plain name."""
    from xltool import spec

    for template in spec.shipped().values():
        assert template.source.name == f"{template.format}.toml"
    formats = spec.shipped()
    for cached in (spec.shipped, spec._load, spec.find_format):
        cached.cache_clear()
    read = []
    monkeypatch.setattr("xltool.spec_loader.load_spec", lambda path: read.append(path.name) or formats[path.stem])
    assert spec.find_format("gov-disclosure-2021") is formats["gov-disclosure-2021"]
    assert read == ["gov-disclosure-2021.toml"]
    for hostile in ("../templates/gov-disclosure-2021", "gov-disclosure-2021.toml", "", None, "未知"):
        assert spec.find_format(hostile) is None
    assert sorted(read) == sorted(f"{f}.toml" for f in formats)  # an unknown id: every spec, through shipped()
    assert spec.shipped() == formats  # the caches hold the same templates as before the test

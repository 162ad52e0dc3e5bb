"""Loading specs: the shipped ones expand as formats.md says; broken ones fail naming the place."""

from __future__ import annotations

import pytest

from xltool.errors import SpecError
from xltool.spec import load_format, load_spec, templates_dir

SOURCE = (templates_dir() / "gov-disclosure-2021.toml").read_text(encoding="utf-8")


def test_shipped_specs_expand_to_the_official_data_points():
    for fmt, count, leaves in (("2019", 198, 19), ("2021", 200, 21)):
        t = load_format(fmt)
        assert len(t.cells) == count
        h2 = [i for i in t.identities if i.rule == "H2"]
        assert len(h2) == 7 and all(len(i.right) == leaves for i in h2)
        assert {i.rule for i in t.identities if i.severity == "warning"} == ({"S5"} if fmt == "2019" else {"S3"})
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

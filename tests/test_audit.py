"""`xltool audit`: published reports read back, their tables found by label, their numbers and text checked.

Expectations come from the documents: ../shared/formats.md ("Known errors") for the seed, the "expected" column
of ../shared/reports/README.md for the excerpts, and the workbook's own values for publish's round trip.
"""

from __future__ import annotations

import random
import re
import socket
import subprocess
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import SHARED, filled, soffice
from tests.fill import random_values, totals
from xltool.audit import audit_file
from xltool.audit_read import MAX_BYTES
from xltool.check import check_file
from xltool.cli import main
from xltool.layout import layout_for
from xltool.publish import build_publication, publish, render
from xltool.report_text import load_phrasing
from xltool.results import FileReport, Origin

SEED = next((SHARED / "seed").glob("*.txt"))
REPORTS = SHARED / "reports"
YEARS = {"2019": 2020, "2021": 2023}


def errors(report) -> list:
    return [f for f in report.findings if f.severity == "error"]


def publication(fmt: str, seed: int, *, with_text: bool = True, name: str = "某某局"):
    """A random valid report of a format as publish builds it, and every data point's value."""
    template = layout_for(fmt).template
    values = totals(template, random_values(template, random.Random(seed)))
    report = FileReport(Path("x.xlsx"), origin=Origin(template.format, YEARS[fmt], "A1", name, "agency"),
                        values={k: float(v) for k, v in values.items()})
    return build_publication(report, {"agency_name": name}, with_text=with_text), values


def same_values(report, values) -> list[str]:
    return [c for c, v in values.items() if report.values.get(c) is None or report.values[c] != Decimal(str(v))]


# --- the seed and the real excerpts ------------------------------------------------------------------------------

def test_seed_gives_exactly_the_known_errors():
    report = audit_file(SEED)
    assert report.format == "gov-disclosure-2019" and report.year == 2020
    got = sorted((f.rule, str(f.name), str(f.actual), str(f.expected)) for f in errors(report))
    assert got == sorted([
        ("H1", "T3_OTHER_TOTAL", "0", "1"),  # （六）其他处理: 自然人 1, 总计 0
        ("H2", "T3_TOTAL_TOTAL", "19", "18"),  # 7 + 9 + 2 + 0 = 18 against 19
        ("H5", "T2_PROCUREMENT_AMOUNT", "8101.1万元", "None"),  # the unit typed in
        ("S7", "T3_GRANTED_TOTAL+T3_PARTIAL_TOTAL", "9", "7"),  # 公开9件, table 予以公开 7 (部分公开 0)
        ("S7", "None", "21", "19"),  # 9 + 9 + 2 + 1 against the 19 it states
    ])
    unit = next(f for f in errors(report) if f.rule == "H5")
    assert unit.detail["number"] == "8101.1" and "8101.1" in unit.message
    s7 = next(f for f in errors(report) if f.rule == "S7" and f.reason == "differs")
    assert "公开9件" in s7.message and s7.detail["sentence"].startswith("7.")
    assert report.values["T3_OTHER_NATURAL"] == 1 and report.values["T2_LICENSING_CHANGE"] == 2597


def test_excerpt_changchun_2023():
    report = audit_file(REPORTS / "changchun_js_tyjrswj_2023.txt")
    assert report.format == "gov-disclosure-2021" and report.year == 2023
    assert all(report.values[c] == 0 for c in report.values if c.startswith("T2_"))
    assert report.values["T3_NEW_NATURAL"] == 3 and report.values["T3_NEW_TOTAL"] == 3
    assert all(report.values[f"T3_CARRY_{c}"] == 0 for c in ("NATURAL", "TOTAL"))
    assert not [f for f in report.findings if f.rule == "H1"]
    s7 = [f for f in report.findings if f.rule == "S7"]
    assert len(s7) == 1 and s7[0].severity in ("warning", "error") and s7[0].name == "T3_NEW_TOTAL"
    assert "共受理政府信息公开申请2件" in s7[0].message and s7[0].actual == 2 and s7[0].expected == "3"
    cut = [f for f in report.findings if f.code == "report-incomplete" and f.table == "T3"]
    assert cut and cut[0].detail["row"].startswith("三、本年度办理结果")
    assert report.valid


def test_excerpt_wuhai_2020():
    report = audit_file(REPORTS / "wuhai_gxj_2020.txt")
    assert report.format == "gov-disclosure-2019" and report.year == 2020
    notes = [(f.actual, f.expected) for f in report.findings if f.code == "label-read"]
    assert notes == [("本年新", "本年新制作数量"), ("本年新", "本年新公开数量")]
    assert report.values["T2_OTHERSERVICES_CHANGE"] == 2 and report.values["T2_PENALTY_CHANGE"] == -1
    assert report.values["T2_OTHERSERVICES_DECISIONS"] == 114
    assert not errors(report)
    t2 = next(f for f in report.findings if f.code == "report-incomplete" and f.table == "T2")
    assert t2.detail["row"].startswith("第二十条第（八）项")


def test_excerpt_taojiang_2022(tmp_path):
    path = REPORTS / "taojiang_songmutang_2022.txt"
    report = audit_file(path)
    assert report.format == "gov-disclosure-2021" and report.year == 2022
    s6 = [f for f in report.findings if f.rule == "S6"]
    assert {f.name for f in s6} == {"T2_RULES_ISSUED", "T2_RULES_INFORCE"}
    assert all(f.severity == "warning" and f.reason == "name" for f in s6)  # guessed from 镇人民政府
    assert not [f for f in report.findings if f.rule == "S7" and f.severity != "info"]  # the 32 items add up
    roster = tmp_path / "roster.csv"
    roster.write_text("code,name,type\nX1,桃江县松木塘镇人民政府,乡镇街道\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["audit", str(path), "--json", "--roster", str(roster)])
    assert result.exit_code == 0, result.output
    assert '"reason": "roster"' in result.output and '"location": "第9行"' in result.output


def test_excerpt_xishan_2019():
    report = audit_file(REPORTS / "xishan_dongbeitang_2019.txt")
    assert report.format == "gov-disclosure-2019" and report.year == 2019
    assert {f.actual for f in report.findings if f.code == "label-read"} == {"本年增\\减"}
    (unit,) = errors(report)
    assert unit.rule == "H5" and unit.name == "T2_PROCUREMENT_AMOUNT" and unit.detail["number"] == "1646.5"
    assert report.values["T2_RULES_MADE"] == 0 and report.values["T2_NORMS_TOTALPUBLIC"] == 17
    text = [f for f in report.findings if f.rule == "S7"]
    assert [f.reason for f in text] == ["not-compared"] and "未收到政府信息公开申请0件" in text[0].message
    assert {f.table for f in report.findings if f.code == "report-incomplete"} == {"T3", "T4"}


def test_traditional_characters_and_wrong_year(tmp_path):
    import zhconv

    page = tmp_path / "mirror.txt"
    page.write_text(zhconv.convert(SEED.read_text(encoding="utf-8"), "zh-hant"), encoding="utf-8")
    assert audit_file(page).values == audit_file(SEED).values
    late = tmp_path / "late.txt"
    late.write_text(SEED.read_text(encoding="utf-8").replace("2020年政务公开", "2022年政务公开", 1), encoding="utf-8")
    wrong = [f for f in audit_file(late).findings if f.code == "report-format"]
    assert len(wrong) == 1 and wrong[0].reason == "wrong-year" and wrong[0].severity == "error"


# --- publish's round trip ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_published(tmp_path_factory):
    """Real workbooks of both formats, published by `publish` with and without text."""
    root = tmp_path_factory.mktemp("published")
    out = []
    for fmt in YEARS:
        book, values = filled(root, fmt, seed=71, name=f"b{fmt}.xlsx")
        values = totals(layout_for(fmt).template, values)
        for with_text in (False, True):
            paths = publish(book, root / f"{fmt}-{with_text}", with_text=with_text)
            out.extend((fmt, with_text, p, values) for p in paths)
    return out


def test_publish_round_trip_real_files(real_published):
    assert len(real_published) == 8
    for fmt, with_text, path, values in real_published:
        report = audit_file(path)
        assert report.findings == (), (path, [f.message for f in report.findings])
        assert report.format == layout_for(fmt).template.format and report.year == YEARS[fmt]
        assert same_values(report, values) == []


@pytest.mark.parametrize("seed", range(3))
def test_publish_round_trip_random(tmp_path, seed):
    for fmt in YEARS:
        for with_text in (False, True):
            pub, values = publication(fmt, seed, with_text=with_text)
            for kind in ("html", "docx"):
                path = tmp_path / f"{fmt}{with_text}.{kind}"
                path.write_bytes(render(pub, kind))
                report = audit_file(path)
                assert report.findings == (), [f.message for f in report.findings]
                assert same_values(report, values) == []


def _unrestated_single_identity_cells(fmt: str) -> list[str]:
    """Input cells in exactly one within-year identity and restated by no sentence: altering one can only
    break that identity."""
    template = layout_for(fmt).template
    restated = {c for s in load_phrasing(fmt).sentences for slot in s.slots for c in slot.codes}
    uses = {}
    for ident in template.identities:
        if not ident.cross_year and ident.relation == "=":
            for c in (*ident.left, *ident.right):
                uses[c] = uses.get(c, 0) + 1
        elif not ident.cross_year:  # a relation may still hold after a change: such cells are not used
            for c in (*ident.left, *ident.right):
                uses[c] = uses.get(c, 0) + 2
    return [c for c, cell in template.cells.items() if cell.is_input and uses.get(c) == 1 and c not in restated
            and cell.type.min is not None]


@pytest.mark.parametrize("seed", range(4))
def test_one_altered_table_number_gives_one_finding_there(tmp_path, seed):
    rng = random.Random(seed)
    for fmt in YEARS:
        pub, values = publication(fmt, seed)
        page = render(pub, "html").decode("utf-8")
        code = rng.choice(_unrestated_single_identity_cells(fmt))
        old = f'data-code="{code}">{values[code]}<'
        assert page.count(old) == 1
        path = tmp_path / f"{fmt}.html"
        path.write_text(page.replace(old, f'data-code="{code}">{values[code] + 1}<'), encoding="utf-8")
        report = audit_file(path)
        assert len(report.findings) == 1, [f.message for f in report.findings]
        (finding,) = report.findings
        template = layout_for(fmt).template
        ident = next(i for i in template.identities if code in (*i.left, *i.right) and not i.cross_year)
        assert finding.rule == ident.rule and finding.name == ident.anchor
        assert finding.row == template.cells[code].row_label or finding.column == template.cells[code].column_label


@pytest.mark.parametrize("seed", range(4))
def test_one_altered_sentence_number_gives_one_finding_there(tmp_path, seed):
    rng = random.Random(seed)
    for fmt in YEARS:
        pub, _ = publication(fmt, seed)
        page = render(pub, "html").decode("utf-8")
        spans = re.findall(r'<span data-ref="([A-Z0-9_]+)">([^<]*)</span>', page)
        ref, text = rng.choice(spans)
        path = tmp_path / f"{fmt}.html"
        path.write_text(page.replace(f'data-ref="{ref}">{text}<', f'data-ref="{ref}">{Decimal(text) + 7}<', 1),
                        encoding="utf-8")
        report = audit_file(path)
        assert [(f.rule, f.reason) for f in report.findings] == [("S7", "differs")], \
            [f.message for f in report.findings]
        (finding,) = report.findings
        assert finding.actual == Decimal(text) + 7 and finding.expected == text
        assert finding.name == ref or finding.name.split("+") == list(load_phrasing(fmt).sums.get(ref, ()))


# --- one report, every kind of document ---------------------------------------------------------------------------

def _as_text(pub) -> str:
    """The report as text copied from a document: a paragraph a line, a table cell a line (as the seed)."""
    lines = [pub.title]
    for section in pub.sections:
        lines.append(section.title)
        lines.extend(p.text for p in section.paragraphs)
        if section.table:
            lines.extend("\t" + c.text for c in section.table.cells)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    out = {}
    for fmt in YEARS:
        pub, values = publication(fmt, 11)
        page = render(pub, "html").decode("utf-8")
        (root / f"{fmt}.html").write_text(page, encoding="utf-8")
        gbk = page.replace('<meta charset="utf-8">', '<meta http-equiv="Content-Type" content="text/html; charset=gbk">')
        (root / f"{fmt}-gbk.html").write_bytes(gbk.encode("gbk"))
        (root / f"{fmt}-undeclared.htm").write_bytes(page.replace('<meta charset="utf-8">', "").encode("gb18030"))
        (root / f"{fmt}.docx").write_bytes(render(pub, "docx"))
        (root / f"{fmt}.txt").write_text(_as_text(pub), encoding="utf-8")
        out[fmt] = values
    return root, out


def test_same_values_from_html_docx_and_text(every_kind):
    root, expected = every_kind
    for fmt, values in expected.items():
        for name in (f"{fmt}.html", f"{fmt}-gbk.html", f"{fmt}-undeclared.htm", f"{fmt}.docx", f"{fmt}.txt"):
            report = audit_file(root / name)
            assert same_values(report, values) == [], name
            assert not [f for f in report.findings if f.severity != "info"], (name, [f.message for f in report.findings])


@pytest.mark.libreoffice
def test_same_values_from_pdf(every_kind):
    root, expected = every_kind
    exe = soffice()
    if exe is None:
        pytest.fail("LibreOffice (soffice) is not installed")
    docs = [str(root / f"{fmt}.docx") for fmt in expected]
    subprocess.run([exe, f"-env:UserInstallation=file://{root}/.lo", "--headless", "--convert-to", "pdf",
                    "--outdir", str(root / "pdf"), *docs], check=True, capture_output=True, timeout=180)
    for fmt, values in expected.items():
        report = audit_file(root / "pdf" / f"{fmt}.pdf")
        assert report.kind == "pdf" and same_values(report, values) == []
        assert report.findings == (), [f.message for f in report.findings]


# --- the command, and the workbook it writes -----------------------------------------------------------------------

def test_cli_json_and_to_workbook_that_check_accepts(tmp_path):
    result = CliRunner().invoke(main, ["audit", str(SEED), "--json", "--to-workbook", str(tmp_path / "wb")])
    assert result.exit_code == 1
    assert '"location": "第84行"' in result.output and '"cell"' not in result.output
    (book,) = (tmp_path / "wb").glob("*.xlsx")
    checked = check_file(book)
    assert checked.valid and checked.year == 2020 and checked.format == "gov-disclosure-2019"
    seed = audit_file(SEED)
    template = layout_for("2019").template
    for code, value in seed.values.items():
        if template.cells[code].is_input:
            assert checked.values[code] == float(value), code
    assert checked.values["T3_OTHER_TOTAL"] == 1  # the template's formula, not the printed 0
    from openpyxl import load_workbook

    sheet = load_workbook(book)["审核结果"]
    text = "\n".join(str(c.value) for row in sheet.iter_rows() for c in row if c.value)
    assert "公开9件" in text and "8101.1" in text


def test_cli_ok_and_folder_walk(tmp_path):
    pub, _ = publication("2021", 3)
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "r.html").write_bytes(render(pub, "html"))
    result = CliRunner().invoke(main, ["audit", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "r.html" in result.output


# --- hostile and unreadable inputs -------------------------------------------------------------------------------

@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("audit tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _docx_with(tmp_path: Path, name: str, document: bytes, rels: str = "", source: Path | None = None) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        if source is not None:
            with zipfile.ZipFile(source) as original:
                for item in original.infolist():
                    data = original.read(item)
                    if item.filename == "word/_rels/document.xml.rels" and rels:
                        data = data.replace(b"</Relationships>", rels.encode() + b"</Relationships>")
                    z.writestr(item, data)
        else:
            z.writestr("word/document.xml", document)
    return path


def test_hostile_inputs(tmp_path, no_network, monkeypatch):
    cases = {}
    pub, values = publication("2021", 5)
    page = render(pub, "html").decode("utf-8")
    scripted = page.replace("<main>", '<main><script>fetch("http://evil.example/x")</script>'
                                      '<img src="http://evil.example/p.png"><iframe src="https://evil.example"></iframe>')
    (tmp_path / "scripted.html").write_text(scripted, encoding="utf-8")
    docx_path = tmp_path / "plain.docx"
    docx_path.write_bytes(render(pub, "docx"))
    rel = '<Relationship Id="rIdX" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/' \
          'image" Target="http://evil.example/a.png" TargetMode="External"/>'
    external = _docx_with(tmp_path, "external.docx", b"", rel, docx_path)
    for name, path in (("scripted", tmp_path / "scripted.html"), ("external", external)):
        report = audit_file(path)
        assert [f.code for f in report.findings] == ["external-content"], name
        assert same_values(report, values) == [] and report.valid
        cases[name] = report
    assert "evil.example" in cases["external"].findings[0].message

    nested = tmp_path / "nested.html"
    nested.write_text("<div>" * 150_000 + "x", encoding="utf-8")
    deep_xml = b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>' + \
        b"<w:p>" * 5000 + b"</w:p>" * 5000 + b"</w:body></w:document>"
    bomb_xml = b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">' + \
        b" " * (70 << 20) + b"</w:document>"
    (tmp_path / "random.txt").write_text("今天天气很好。\n" * 50, encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (tmp_path / "empty.html").write_bytes(b"")
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    from pypdf import PdfWriter

    scanned = PdfWriter()
    scanned.add_blank_page(595, 842)
    scanned.write(tmp_path / "scanned.pdf")
    locked = PdfWriter()
    locked.add_blank_page(595, 842)
    locked.encrypt("secret")
    locked.write(tmp_path / "locked.pdf")
    huge = tmp_path / "huge.html"
    with huge.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)
    expected = {
        "nested.html": ("unreadable-report", "too-deep"),
        "deep.docx": ("unreadable-report", "too-deep"),
        "bomb.docx": ("unreadable-report", "too-large"),
        "huge.html": ("unreadable-report", "too-large"),
        "random.txt": ("not-a-report", None),
        "binary.txt": ("unreadable-report", "not-text"),
        "empty.html": ("unreadable-report", "empty"),
        "old.doc": ("unreadable-report", "encrypted-or-old"),
        "broken.docx": ("unreadable-report", "damaged"),
        "scanned.pdf": ("unreadable-report", "no-text"),
        "locked.pdf": ("unreadable-report", "encrypted"),
        "missing.docx": ("unreadable-report", "not-found"),
    }
    _docx_with(tmp_path, "deep.docx", deep_xml)
    _docx_with(tmp_path, "bomb.docx", bomb_xml)
    for name, (code, reason) in expected.items():
        started = time.monotonic()
        report = audit_file(tmp_path / name)
        assert time.monotonic() - started < 10, name
        assert [(f.code, f.reason) for f in report.findings] == [(code, reason)], (name, report.findings)
        assert not report.valid


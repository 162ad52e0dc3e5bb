"""Findings: every problem xltool reports is data with a stable code, rendered from one template.

The catalogue below is the only place a finding's wording lives; the README's list of codes is
generated from it (``python -m xltool.docs``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Kind:
    code: str
    severity: str  # default severity; identities take theirs from the spec
    title: str
    template: str  # str.format over the finding's fields plus its ``detail`` mapping
    refuses: bool = False  # the file is refused before its content is read (README: what xltool refuses)


CATALOGUE: dict[str, Kind] = {k.code: k for k in (
    # Files that are not a usable workbook.
    Kind("unreadable-file", "error", "文件无法读取",
         "无法读取该文件：{reason}请重新另存为 .xlsx 工作簿后报送。", refuses=True),
    Kind("not-a-workbook", "error", "不是 Excel 工作簿",
         "该文件不是 Excel 工作簿（{reason}）。请在 Excel、WPS 或 LibreOffice 中打开下发的模板填写后报送。", refuses=True),
    Kind("legacy-xls", "error", "旧版 .xls 格式",
         "该文件是旧版 .xls 格式，不予接收。请使用下发的 .xlsx 模板填写。", refuses=True),
    Kind("encrypted-file", "error", "文件设有打开密码",
         "该文件设有打开密码，无法审核。请取消打开密码后重新报送。", refuses=True),
    Kind("ods-file", "error", "OpenDocument 表格",
         "该文件是 OpenDocument（.ods）表格，不予接收。请使用下发的 .xlsx 模板填写，并保存为 .xlsx 格式。", refuses=True),
    Kind("zip-bomb", "error", "文件解压后异常巨大",
         "该文件解压后大小异常（{reason}），为安全起见不予读取。请使用下发的模板重新填写。", refuses=True),
    Kind("macros-present", "error", "含有宏",
         "该文件含有宏（VBA 代码），宏不会被执行，文件不予接收。请使用下发的 .xlsx 模板填写，不要另存为启用宏的工作簿。",
         refuses=True),
    Kind("external-link", "error", "含有外部链接",
         "文件中含有指向外部的内容（{actual}），xltool 不会访问它，文件不予接收。请删除外部链接后重新报送。"),
    Kind("unknown-template", "error", "不是本系统下发的模板",
         "该工作簿不是 xltool 下发的模板（{reason}），无法审核。请使用下发的模板填写。", refuses=True),
    # The workbook was changed where it is locked.
    Kind("structure-changed", "error", "表格结构被修改",
         "表格结构被修改：{reason}。请使用下发的模板重新填写，不要增删、移动或重命名工作表、行和列。"),
    Kind("label-altered", "error", "标签被修改",
         "{sheet}!{cell} 的标签应为“{expected}”，现为“{actual}”。请恢复原标签（建议使用下发的模板重新填写）。"),
    Kind("formula-altered", "error", "公式被修改",
         "{sheet}!{cell}{where}应为公式 {expected}，现为 {actual}。合计由公式自动计算，请不要改写；请使用下发的模板重新填写。"),
    Kind("protection-removed", "warning", "保护被撤销",
         "{sheet} 的{reason}。数据已按模板逐格核对；今后请不要撤销工作表保护。"),
    Kind("validation-removed", "warning", "数据有效性被删除",
         "{sheet}!{cell}{where}的数据有效性被删除或修改。数据已逐格核对；今后请不要修改数据有效性。"),
    # Values typed into input cells.
    Kind("missing-value", "error", "未填写",
         "{sheet}!{cell}{where}未填写。没有发生的请填 0。"),
    Kind("not-a-number", "error", "不是数字",
         "{sheet}!{cell}{where}应填写数字，现为{actual}。{advice}"),
    Kind("negative", "error", "负数",
         "{sheet}!{cell}{where}不能为负数（现为 {actual}）。请填写大于或等于 0 的数。"),
    Kind("not-whole", "error", "不是整数",
         "{sheet}!{cell}{where}应为整数（现为 {actual}）。请填写件数等整数。"),
    Kind("too-many-decimals", "error", "小数位数过多",
         "{sheet}!{cell}{where}最多保留 4 位小数（现为 {actual}）。金额以万元为单位，请四舍五入到 4 位小数。"),
    Kind("too-large", "error", "数值过大",
         "{sheet}!{cell}{where}的数值 {actual} 超出合理范围。请检查是否多打了数字或单位有误。"),
    Kind("error-value", "error", "错误值",
         "{sheet}!{cell}{where}的值是错误值 {actual}。请改为正确的数字。"),
    Kind("formula-in-input", "warning", "填报单元格中有公式",
         "{sheet}!{cell}{where}填写的是公式 {formula}，按其计算结果 {actual} 审核。建议直接填写数字。"),
    # Merging: what a file is, next to the others.
    Kind("wrong-format", "error", "格式或年度不符",
         "该文件是 {actual}，本次汇总为 {expected}，不能混合汇总。请使用本年度下发的模板重新填报。"),
    Kind("duplicate-agency", "error", "重复报送",
         "单位 {name} 报送了多个文件（{reason}），未指定以哪个为准，均未汇总。请确认后只保留一个，或用 --prefer newest 以最新的为准。"),
    Kind("superseded", "warning", "已被替代",
         "单位 {name} 另有更新的文件 {reason}，本文件未汇总。"),
    Kind("included-in-summary", "warning", "已包含在汇总表中",
         "单位 {name} 的数据已包含在汇总表 {reason} 中，本文件未重复汇总。"),
    Kind("not-on-roster", "error", "不在名单中",
         "单位代码 {name} 不在本次汇总的名单中，未汇总。请核对单位代码，或把该单位加入名单。"),
    # The numbers do not add up.
    Kind("identity-violated", "error", "勾稽关系不成立",
         "{rule} 不成立：{description}。左边 = {actual}，右边 = {expected}，相差 {difference}。请核对{where}相关数据。"),
)}


@dataclass
class Finding:
    """One problem, located. ``detail`` holds what only the message needs."""

    code: str
    severity: str = ""
    rule: str | None = None
    sheet: str | None = None
    cell: str | None = None
    name: str | None = None
    table: str | None = None
    row: str | None = None
    column: str | None = None
    expected: object = None
    actual: object = None
    detail: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise ValueError(f"unknown finding code {self.code!r}")
        self.severity = self.severity or CATALOGUE[self.code].severity
        # what a file holds can be any length (a cell holds 32,767 characters, a hostile file more): a
        # message, the JSON report and a summary cell stay short
        self.actual = shorten(self.actual, MAX_SHOWN)
        self.expected = shorten(self.expected, MAX_EXPECTED)
        self.detail = {k: shorten(v, MAX_EXPECTED) for k, v in self.detail.items()}

    @property
    def message(self) -> str:
        where = f"（{self.row}／{self.column}）" if self.row and self.column else (f"（{self.row}）" if self.row else "")
        values = {"reason": "", "advice": "", "description": "", "difference": "", "formula": "",
                  **{k: _show(v) for k, v in asdict(self).items() if k != "detail"},
                  "where": where, **{k: _show(v) for k, v in self.detail.items()}}
        return CATALOGUE[self.code].template.format(**values)

    def to_dict(self) -> dict:
        """The JSON contract of ``design.md``."""
        return {
            "code": self.code, "severity": self.severity, "rule": self.rule, "sheet": self.sheet,
            "cell": self.cell, "name": self.name, "table": self.table, "row": self.row,
            "column": self.column, "expected": _json(self.expected), "actual": _json(self.actual),
            "message": self.message,
        }


MAX_SHOWN = 200  # characters of a value from the file shown in a finding
MAX_EXPECTED = 1000  # characters of what the template expects (its longest formula is about 600)


def shorten(value: object, limit: int = MAX_SHOWN) -> object:
    """Text longer than ``limit`` cut to its start and its length; anything else as it is."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"…（共 {len(value)} 个字符）"
    return value


def _show(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return format(value, ".15g")
    return str(value)


def _json(value: object) -> object:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return str(value)

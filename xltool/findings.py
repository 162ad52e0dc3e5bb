"""Findings: every problem xltool reports is data with a stable code, rendered from one template.

The catalogue below is the only place a finding's wording lives. Where one code covers several
problems, each problem is a ``reason`` of the code (a sub-code, in the JSON too) with its own wording.
The README's list of codes is generated from it (``python scripts/docs.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple


class Kind(NamedTuple):
    code: str
    severity: str  # default severity; identities take theirs from the spec
    title: str
    template: str  # str.format over the finding's fields, its ``detail`` and its rendered ``{reason}``
    refuses: bool = False  # the file is refused before its content is read (README: what xltool refuses)
    reasons: Mapping[str, str] = MappingProxyType({})  # sub-code -> wording of ``{reason}``


CATALOGUE: dict[str, Kind] = {k.code: k for k in (
    # Files that are not a usable workbook.
    Kind("unreadable-file", "error", "文件无法读取",
         "无法读取该文件：{reason}请重新另存为 .xlsx 工作簿后报送。", refuses=True, reasons={
             "empty": "文件是空的（0 字节）。",
             "folder": "这是一个文件夹，不是文件。",
             "not-found": "找不到该文件。",
             "no-permission": "没有读取该文件的权限。",
             "symlink-loop": "该文件是循环指向自身的符号链接（快捷方式），没有内容。",
             "special-file": "这不是普通文件（而是管道、设备等特殊文件），不能作为工作簿读取。",
             "io-error": "读取文件时出错（文件可能正被占用或磁盘有问题）。",
             "forbidden-xml": "文件中含有被禁止的 XML 实体或文档类型声明（可能是恶意构造的文件），已拒绝读取。",
             "damaged-zip": "文件已损坏或不完整，不是有效的 Excel 工作簿（.xlsx）。",
             "not-xlsx": "文件不是有效的 Excel 工作簿（.xlsx）。",
             "no-workbook-part": "压缩包中没有工作簿内容（xl/workbook.xml），文件不是有效的 .xlsx 或已损坏。",
             "missing-sheet-part": "工作表“{sheet}”的内容（{part}）缺失，文件已损坏。",
             "damaged-xml": "文件中的 XML 内容已损坏（{part}），无法读取。",
             "missing-string": "工作表“{sheet}”引用了不存在的共享字符串，文件已损坏。",
         }),
    Kind("not-a-workbook", "error", "不是 Excel 工作簿",
         "该文件不是 Excel 工作簿（{reason}）。请在 Excel、WPS 或 LibreOffice 中打开下发的模板填写后报送。", refuses=True,
         reasons={
             "other-office": "文件是 Word 等其他旧版 Office 文档",
             "pdf": "文件是 PDF 文档",
             "html": "文件内容是网页（HTML），可能是其他系统导出的“伪 Excel”文件",
             "xml-2003": "文件是 Excel 2003 XML 表格，不是 .xlsx 工作簿",
             "xml": "文件内容是 XML 文本",
             "rtf": "文件是 RTF 文档",
             "text": "文件内容是纯文本或 CSV",
             "opendocument": "文件是 OpenDocument 文档（如 .odt）",
             "xlsb": "文件是 Excel 二进制工作簿（.xlsb），不是 .xlsx",
             "docx": "文件是 Word 文档（.docx）",
             "pptx": "文件是 PowerPoint 演示文稿（.pptx）",
         }),
    Kind("legacy-xls", "error", "旧版 .xls 格式",
         "该文件是旧版 .xls 格式，不予接收。请使用下发的 .xlsx 模板填写。", refuses=True,
         reasons={"biff": "文件是旧版 Excel 97-2003 工作簿（.xls）"}),
    Kind("encrypted-file", "error", "文件设有打开密码",
         "该文件设有打开密码（{reason}），无法审核。请取消打开密码后重新报送。", refuses=True, reasons={
             "encrypted-workbook": "工作簿已加密",
             "encrypted-zip": "压缩包设有密码",
         }),
    Kind("ods-file", "error", "OpenDocument 表格",
         "该文件是 OpenDocument（.ods）表格，不予接收。请使用下发的 .xlsx 模板填写，并保存为 .xlsx 格式。", refuses=True,
         reasons={"opendocument-spreadsheet": "文件是 OpenDocument 表格（.ods）"}),
    Kind("zip-bomb", "error", "文件解压后异常巨大",
         "该文件解压后大小异常（{reason}），为安全起见不予读取。请使用下发的模板重新填写。", refuses=True, reasons={
             "file-too-large": "文件大小超过 {limit_mb} MB",
             "part-too-large": "其中“{part}”解压后超过 {limit_mb} MB",
             "total-too-large": "全部内容解压后超过 {limit_mb} MB",
             "part-too-many-elements": "其中“{part}”含有超过 {limit_wan} 万个 XML 元素",
             "too-many-elements": "全部内容含有超过 {limit_wan} 万个 XML 元素",
             "out-of-memory": "文件内容过大，读取时内存不足",
         }),
    Kind("macros-present", "error", "含有宏",
         "该文件含有宏（VBA 代码），宏不会被执行，文件不予接收。请使用下发的 .xlsx 模板填写，不要另存为启用宏的工作簿。",
         refuses=True),
    Kind("external-link", "error", "含有外部链接",
         "文件中含有指向外部的内容（{actual}{reason}），xltool 不会访问它，文件不予接收。请删除外部链接后重新报送。",
         reasons={
             "package-part": "",
             "workbook-reference": "，外部工作簿或 DDE 引用",
             "function": "，函数 {function}",
         }),
    Kind("unknown-template", "error", "不是本系统下发的模板",
         "该工作簿不是 xltool 下发的模板（{reason}），无法审核。请使用下发的模板填写。", refuses=True, reasons={
             "no-metadata": "没有 xltool 元数据表 _xltool",
             "unknown-format": "未知的报告格式 {actual}",
             "bad-year": "报告年度 {actual} 无效",
             "other-version": "模板版本 {actual} 与本系统的 {format} 模板（版本 {expected}）不一致",
             "year-not-in-format": "{actual} 年度不适用 {format} 格式",
             "unknown-role": "未知的角色 {actual}",
         }),
    Kind("internal-error", "error", "xltool 内部错误",
         "xltool 在{stage}时自身出错（{error}）。这是 xltool 的问题，不是文件的问题，该文件未能审核。"
         "请把该文件和这条信息报告给 xltool 的维护者。"),
    # The workbook was changed where it is locked.
    Kind("structure-changed", "error", "表格结构被修改",
         "表格结构被修改：{reason}。请使用下发的模板重新填写，不要增删、移动或重命名工作表、行和列。", reasons={
             "sheet-renamed": "工作表“{sheet}”被重命名为“{actual}”",
             "sheet-missing": "工作表“{sheet}”被删除或重命名",
             "sheet-renamed-from": "工作表“{sheet}”不是模板中的工作表（由“{expected}”改名而来）",
             "sheet-added": "增加了工作表“{sheet}”",
             "sheet-order": "工作表的顺序被改变",
             "sheet-hidden": "工作表“{sheet}”被隐藏",
             "name-deleted": "数据点名称 {name} 被删除",
             "name-shadowed": "工作表“{actual}”中定义了同名的局部名称 {name}，会遮蔽数据点名称",
             "name-moved": "数据点名称 {name} 现指向 {actual}，模板中为 {sheet}!{cell}（可能插入或删除了行、列，或名称被修改）",
             "merge-split": "{sheet}!{cell} 的合并单元格被拆分",
         }),
    Kind("label-altered", "error", "标签被修改",
         "{sheet}!{cell} 的标签应为“{expected}”，现为“{actual}”。请恢复原标签（建议使用下发的模板重新填写）。"),
    Kind("formula-altered", "error", "公式被修改",
         "{sheet}!{cell}{where}应为公式 {expected}，{reason}。合计由公式自动计算，请不要改写；请使用下发的模板重新填写。",
         reasons={
             "changed": "现为 {actual}",
             "blank": "现为空白",
             "value": "现为 数值 {actual}",
         }),
    Kind("protection-removed", "warning", "保护被撤销",
         "{sheet} 的{reason}。数据已按模板逐格核对；今后请不要撤销工作表保护。", reasons={
             "sheet-unprotected": "工作表保护被撤销",
             "formula-unlocked": "公式单元格 {cell} 被解除锁定",
             "metadata-visible": "元数据表被取消隐藏",
         }),
    Kind("validation-removed", "warning", "数据有效性被删除",
         "{sheet}!{cell}{where}的数据有效性被删除或修改。数据已逐格核对；今后请不要修改数据有效性。"),
    # Values typed into input cells; units, decimals and bounds come from the cell's type in the spec.
    Kind("missing-value", "error", "未填写",
         "{sheet}!{cell}{where}未填写。没有发生的请填 0。"),
    Kind("not-a-number", "error", "不是数字",
         "{sheet}!{cell}{where}应填写数字，{reason}", reasons={
             "placeholder": "现为文字“{actual}”。没有发生的请填数字 0。",
             "other-unit": "现为文字“{actual}”。金额以{unit}为单位，请填写数字 {number}（不带单位）。",
             "numeric-text": "现为文字“{actual}”。请填写数字 {number}（不带单位，单元格格式为数字而不是文本）。",
             "text": "现为文字“{actual}”。请填写数字。",
             "date": "现为日期。请把单元格格式改为“常规”，填写数字。",
             "boolean": "现为逻辑值 {actual}。请填写数字。",
         }),
    Kind("negative", "error", "小于下限",
         "{sheet}!{cell}{where}不能小于 {min}（现为 {actual}）。请填写大于或等于 {min} 的数。"),
    Kind("not-whole", "error", "不是整数",
         "{sheet}!{cell}{where}应为整数（现为 {actual}）。请填写以“{unit}”计的整数。"),
    Kind("too-many-decimals", "error", "小数位数过多",
         "{sheet}!{cell}{where}最多保留 {decimals} 位小数（现为 {actual}）。请以{unit}为单位，四舍五入到 {decimals} 位小数。"),
    Kind("too-large", "error", "数值过大",
         "{sheet}!{cell}{where}的数值 {actual} 超出合理范围（绝对值不超过 {max_abs}）。请检查是否多打了数字或单位有误。"),
    Kind("error-value", "error", "错误值",
         "{sheet}!{cell}{where}的值是错误值 {actual}{reason}。请改为正确的数字。", reasons={
             "typed": "",
             "formula-result": "（公式 {formula} 的结果）",
             "unparsable": "（无法解析公式 {formula}）",
             "missing-sheet": "（公式引用了不存在的工作表 {target}）",
             "bad-reference": "（公式中有无法识别的引用 {target}）",
             "circular": "（循环引用）",
             "range-too-large": "（公式引用的范围过大：{target}）",
         }),
    Kind("formula-in-input", "warning", "填报单元格中有公式",
         "{sheet}!{cell}{where}填写的是公式 {formula}，按其计算结果 {actual} 审核。建议直接填写数字。"),
    # Merging: what a file is, next to the others.
    Kind("wrong-format", "error", "格式或年度不符",
         "该文件是 {actual}，本次汇总为 {expected}，不能混合汇总。请使用本年度下发的模板重新填报。"),
    Kind("duplicate-agency", "error", "重复报送",
         "单位 {name} 报送了多个文件（{files}），未指定以哪个为准，均未汇总。请确认后只保留一个，或用 --prefer newest 以最新的为准。"),
    Kind("superseded", "warning", "已被替代",
         "单位 {name} 另有更新的文件 {file}，本文件未汇总。"),
    Kind("included-in-summary", "warning", "已包含在汇总表中",
         "单位 {name} 的数据已包含在汇总表 {file} 中，本文件未重复汇总。"),
    Kind("summary-unverified", "error", "汇总表经核对不成立",
         "汇总表的内容经核对不成立：{reason}。该汇总表不予采纳，其中各单位以自己报送的文件为准；请用 xltool merge 重新汇总。",
         reasons={
             "no-detail": "没有可核对的“汇总明细”工作表",
             "members-differ": "元数据所列单位（{actual}）与“汇总明细”所列单位（{expected}）不一致，重复列出的单位：{twice}",
             "sum-differs": "{sheet}!{cell}{where}为 {actual}，而“汇总明细”各行之和为 {expected}",
             "stale": "其中单位 {name} 的数据不是来自本次报送的文件 {file}（汇总表记录的是该单位的另一份文件）",
         }),
    Kind("not-on-roster", "error", "不在名单中",
         "单位代码 {name} 不在本次汇总的名单中，未汇总。请核对单位代码，或把该单位加入名单。"),
    # The numbers do not add up.
    Kind("identity-violated", "error", "勾稽关系不成立",
         "{rule} 不成立：{description}。左边 = {actual}，右边 = {expected}，相差 {difference}。请核对{where}相关数据。"),
    # Soft rules: the figure may be right, but the agency explains it in writing (说明 sheet).
    Kind("implausible-value", "warning", "数值存疑",
         "{rule}：{description}。请核对；如确实如此，请在“说明”工作表中选择规则 {rule} 写明原因。"),
    Kind("explanation-needed", "error", "需要书面说明",
         "{rule} 需要书面说明：{description}。请在“说明”工作表中选择规则 {rule} 并写明原因后重新报送；有书面说明的可以采纳。"),
    # Notes: what was not checked, and why (severity info: never a reason to return a report).
    Kind("not-checked", "info", "未核对",
         "{reason}", reasons={
             "no-previous-data": "上年数据中没有 {name} 的数据，未进行跨年度核对。",
             "previous-year": "单位 {name} 的上年数据是 {actual} 年度的，不是 {expected} 年度，未进行跨年度核对。",
             "previous-lacks": "{rule} 未核对：上年数据（{format}）中没有 {missing}（报告格式不同）。",
             "type-unknown": "名单中没有单位 {name} 的类型，{rule} 未核对。",
         }),
    # Auditing a published report (xltool audit): {sheet} is where in the document a value or sentence stands.
    Kind("unreadable-report", "error", "报告无法读取",
         "无法读取该报告：{reason}", reasons={
             "folder": "这是一个文件夹，不是文件。",
             "not-found": "找不到该文件。",
             "no-permission": "没有读取该文件的权限。",
             "io-error": "读取文件时出错。",
             "empty": "文件是空的（0 字节）。",
             "too-large": "文件过大（超过 {limit}），为安全起见不予读取。",
             "too-deep": "文件的嵌套层次过深（超过 {limit}），为安全起见不予读取。",
             "damaged": "文件已损坏或不完整。",
             "encrypted": "PDF 设有打开密码。请提供未加密的文件。",
             "encrypted-or-old": "文件已加密，或是旧版 Word 文档（.doc）。请另存为未加密的 .docx 或 PDF。",
             "no-text": "PDF 没有文字层（可能是扫描件），无法读取其中的数字。请提供带文字的 PDF 或 Word 文档。",
             "unsupported": "不支持的文件类型（{kind}）。请提供 .docx、.html、.pdf 或 .txt。",
             "not-text": "文件不是文本，也不是 Word、网页或 PDF 文档。",
         }),
    Kind("not-a-report", "error", "不是年度报告",
         "该文件中没有找到政府信息公开工作年度报告的表格（没有任何一个表格标签），未审核。"),
    Kind("report-format", "error", "报告格式与年度不符",
         "{reason}", reasons={
             "wrong-year": "该报告为 {actual} 年度，却使用了{format}（适用于 {years} 年度）；{actual} 年度应使用{expected}。",
             "unknown-year": "未能从报告中读出年度，未核对其格式是否适用（可用 --year 指定）。",
             "detected": "按表格标签识别为{format}。",
         }),
    Kind("report-incomplete", "info", "报告不完整",
         "{reason}缺失部分未核对。", reasons={
             "table-missing": "没有找到表格“{table_heading}”。",
             "rows-missing": "表格“{table_heading}”自“{row}”起没有找到（报告不完整或被截断）。",
         }),
    Kind("label-read", "info", "标签被改动",
         "{sheet} 的列标签印为“{actual}”，按其位置读作“{expected}”。"),
    Kind("printed-value", "error", "公布的数值有误",
         "{sheet}{where}{reason}", reasons={
             "placeholder": "印为“{actual}”，按 0 读取。没有发生的应印 0。",
             "blank": "为空白，按 0 读取。没有发生的应印 0。",
             "other-unit": "印为“{actual}”，数字中带有单位。应印数字 {number}（以{unit}为单位，单位写在表头）。",
             "numeric-text": "印为“{actual}”，数字中带有单位。应印数字 {number}（以{unit}为单位，单位写在表头）。",
             "text": "印为文字“{actual}”，不是数字，未能读取。",
             "negative": "为 {actual}，不能小于 {min}（可能是符号有误）。",
             "not-whole": "应为整数（印为 {actual}）。",
             "too-many-decimals": "最多保留 {decimals} 位小数（印为 {actual}）。",
         }),
    Kind("total-blank", "error", "总计为空白",
         "{sheet}{where}的总计为空白，而各项之和为 {expected}。公布的表格应印出总计。"),
    Kind("text-differs", "error", "正文与表格不符",
         "{reason}", reasons={
             "differs": "正文“{sentence}”（{sheet}）所述{what} {actual} 与表格{where}的 {expected} 不符。",
             "ambiguous": "正文“{sentence}”（{sheet}）所述{what} {actual}，表格{where}为 {expected}；"
                          "该说法的含义不确定（{note}），请核对。",
             "parts-exceed": "正文“{sentence}”（{sheet}）所列各项之和 {actual}（{parts}）超过其所述总数 {expected}。",
             "not-compared": "正文“{sentence}”（{sheet}）所述{what} {actual} 未能与表格核对：表格中没有找到该数据。",
         }),
    Kind("printed-implausible", "warning", "数值存疑",
         "{rule}：{description}{reason}", reasons={
             "roster": "。请核对。",
             "name": "（单位类型按名称“{agency}”推断，名单未提供）。请核对。",
         }),
    Kind("external-content", "warning", "含有外部内容或脚本",
         "报告中含有指向外部的内容或脚本（{actual}），xltool 没有访问或执行它们。"),
)}

EXPLAINED = "单位的书面说明：{explanation}"  # added to a soft finding the agency explained

NOTES = {  # what a run says once, beside its findings
    "no-previous": "未提供上年数据（--previous），未进行跨年度核对。",
    "no-types": "未提供带单位类型的名单（--roster 的 type 列），S6 等依单位类型的核对未进行。",
    "without-previous": "无上年数据、未做跨年度核对的单位：{agencies}。",
    "summary-against-previous": "汇总数与上年汇总表的核对（不影响本次汇总的结论）：",
    "caused-by": "其中已有书面说明的单位：{agencies}。",
    "generated-with-previous": "各工作簿已写入上年数据，并预填上年结转。",
    "generated-without-previous": "以下单位没有上年数据，其工作簿未写入上年数据：{agencies}。",
}


@dataclass(frozen=True)
class Finding:
    """One problem, located. ``reason`` is the sub-code where the code covers several problems;
    ``detail`` holds what only the message needs."""

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
    reason: str | None = None
    detail: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        kind = CATALOGUE.get(self.code)
        if kind is None:
            raise ValueError(f"unknown finding code {self.code!r}")
        if (self.reason is None) != (not kind.reasons) or (self.reason and self.reason not in kind.reasons):
            raise ValueError(f"finding {self.code!r}: bad reason {self.reason!r}")
        # what a file holds can be any length (a cell holds 32,767 characters, a hostile file more): a
        # message, the JSON report and a summary cell stay short
        object.__setattr__(self, "severity", self.severity or kind.severity)
        object.__setattr__(self, "actual", shorten(self.actual, MAX_SHOWN))
        object.__setattr__(self, "expected", shorten(self.expected, MAX_EXPECTED))
        object.__setattr__(self, "detail", {k: shorten(v, MAX_EXPECTED) for k, v in self.detail.items()})

    @property
    def explained(self) -> bool:
        return bool(self.detail.get("explanation"))

    @property
    def message(self) -> str:
        where = f"（{self.row}／{self.column}）" if self.row and self.column else (f"（{self.row}）" if self.row else "")
        fields = {"code", "severity", "rule", "sheet", "cell", "name", "table", "row", "column", "expected", "actual"}
        values = {**{k: _show(getattr(self, k)) for k in fields}, "where": where,
                  **{k: _show(v) for k, v in self.detail.items()}}
        kind = CATALOGUE[self.code]
        values["reason"] = kind.reasons[self.reason].format(**values) if self.reason else ""
        message = kind.template.format(**values)
        if self.detail.get("explanation"):
            message += EXPLAINED.format(explanation=values["explanation"])
        return message

    def to_dict(self) -> dict:
        """The JSON contract of ``design.md`` (plus ``reason``, the sub-code)."""
        return {
            "code": self.code, "reason": self.reason, "severity": self.severity, "rule": self.rule,
            "sheet": self.sheet, "cell": self.cell, "name": self.name, "table": self.table, "row": self.row,
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
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return format(value, ".15g")
    return str(value)


def _json(value: object) -> object:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return str(value)

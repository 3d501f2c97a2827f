"""Reading an uploaded table (.xlsx or .csv) and finding its columns by their Chinese headers."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls
HEADER_SCAN_ROWS = 10
_HEADER_NOISE = re.compile(r"[\s\u3000*＊:：]|[（(][^）)]*[）)]$")


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem of an uploaded file: the row (as the spreadsheet numbers it), the column
    header, the value found and the reason, in Chinese."""

    row: int
    column: str
    value: str
    reason: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value,
                "reason": self.reason}


class FileRefused(Exception):
    """The file cannot be read at all (not a table, empty, unknown encoding, bad headers)."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(errors[0].reason if errors else "文件被拒绝")
        self.errors = errors


@dataclass(frozen=True)
class Field:
    name: str
    header: str  # the canonical Chinese header
    synonyms: tuple[str, ...]
    required: bool = False


def normalize_header(value) -> str:
    """'应收金额（元）' -> '应收金额', '* 房号' -> '房号', '面积(㎡)' -> '面积'."""
    text = "" if value is None else str(value).replace("\ufeff", "")
    text = _HEADER_NOISE.sub("", text)
    return _HEADER_NOISE.sub("", text)


@dataclass
class Table:
    """Rows of a sheet after its header row; row numbers are the ones a person sees."""

    headers: list[str]
    header_row: int
    rows: Iterator[tuple[int, tuple]]
    total: int | None  # data rows, when the file says (for progress)
    close: Callable[[], None] = lambda: None


def _refuse(reason: str, row: int = 0, column: str = "", value: str = "") -> FileRefused:
    return FileRefused([RowError(row, column, value, reason)])


def read_bytes(source: bytes | str | Path) -> bytes:
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    return Path(source).read_bytes()


def open_table(data: bytes, filename: str, known_headers: set[str]) -> Table:
    """Open .xlsx (by its content, whatever the name says) or .csv (UTF-8 with or without BOM,
    or GBK/GB18030) and find the header row among the first rows."""
    if not data or not data.strip():
        raise _refuse("文件为空")
    name = (filename or "").lower()
    if data[:4] == XLSX_MAGIC:
        return _open_xlsx(data, known_headers)
    if data[:4] == OLE_MAGIC:
        raise _refuse("不支持旧版 Excel（.xls）文件，请在 Excel 中另存为 .xlsx 或 CSV 后再导入")
    if name.endswith((".xlsx", ".xlsm")):
        raise _refuse("文件不是有效的 Excel（.xlsx）文件：内容无法识别，"
                      "请确认文件未损坏且扩展名正确")
    return _open_csv(data, known_headers)


def _find_header(first_rows: list[tuple[int, tuple]], known: set[str]) -> tuple[int, list[str]]:
    best, best_score = None, 0
    for number, values in first_rows:
        headers = [normalize_header(v) for v in values]
        score = sum(1 for h in headers if h in known)
        if score > best_score:
            best, best_score = (number, headers), score
    if best is None or best_score < 2:
        first = next(((n, v) for n, v in first_rows if any(x not in (None, "") for x in v)), None)
        shown = "、".join(str(x) for x in first[1] if x not in (None, ""))[:200] if first else ""
        raise FileRefused([RowError(first[0] if first else 1, "", shown,
                                    "找不到表头行：前几行中没有可识别的列名（如 楼栋、房号、业主、"
                                    "所属期、应收）")])
    return best


def _open_xlsx(data: bytes, known: set[str]) -> Table:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        first: list[tuple[int, tuple]] = []
        for number, values in enumerate(rows, start=1):
            first.append((number, values))
            if len(first) >= HEADER_SCAN_ROWS:
                break
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise _refuse("文件不是有效的 Excel（.xlsx）文件，无法读取："
                      + type(exc).__name__) from exc
    if not first:
        raise _refuse("文件为空：工作表中没有任何内容")
    header_row, headers = _find_header(first, known)
    max_row = sheet.max_row if isinstance(sheet.max_row, int) else None

    def data_rows() -> Iterator[tuple[int, tuple]]:
        for number, values in first:
            if number > header_row:
                yield number, values
        try:
            yield from enumerate(rows, start=len(first) + 1)
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise _refuse("Excel 文件内容已损坏，无法继续读取") from exc

    return Table(headers, header_row, data_rows(),
                 max_row - header_row if max_row else None, book.close)


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise _refuse("无法识别文件编码：请以 UTF-8 或 GBK 编码保存 CSV 文件") from exc


def _open_csv(data: bytes, known: set[str]) -> Table:
    try:
        text = decode(data)
    except UnicodeDecodeError as exc:
        raise _refuse("无法识别文件编码：请以 UTF-8 或 GBK 编码保存 CSV 文件") from exc
    if "\x00" in text:
        raise _refuse("文件不是文本格式的 CSV 文件")
    first_line = text.split("\n", 1)[0]
    delimiter = max(",\t;，", key=first_line.count) if first_line else ","
    if delimiter == "，":
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        first = []
        for values in reader:
            first.append((reader.line_num, tuple(values)))
            if len(first) >= HEADER_SCAN_ROWS:
                break
    except csv.Error as exc:
        raise _refuse(f"CSV 格式错误：{exc}") from exc
    if not first:
        raise _refuse("文件为空")
    header_row, headers = _find_header(first, known)
    total = max(text.count("\n") - header_row + (0 if text.endswith("\n") else 1), 0)

    def data_rows() -> Iterator[tuple[int, tuple]]:
        for number, values in first:
            if number > header_row:
                yield number, values
        try:
            for values in reader:
                yield reader.line_num, tuple(values)
        except csv.Error as exc:
            raise _refuse(f"CSV 格式错误（第{reader.line_num}行）：{exc}") from exc

    return Table(headers, header_row, data_rows(), total)


def column_map(headers: list[str], fields: list[Field], mapping: dict[str, str] | None,
               header_row: int, optional_required: set[str] = frozenset()) -> dict[str, int]:
    """Field name -> column index, from a saved mapping first, then the known synonyms.

    Refuses the file, naming the header, when a required column is missing, a mapped header is
    not in the file, or a header appears twice.
    """
    errors: list[RowError] = []
    by_name = {f.name: f for f in fields}
    positions: dict[str, list[int]] = {}
    for i, h in enumerate(headers):
        if h:
            positions.setdefault(h, []).append(i)
    found: dict[str, int] = {}
    for field_name, header in (mapping or {}).items():
        if field_name not in by_name:
            errors.append(RowError(header_row, str(header), "",
                                   f"列映射中的字段“{field_name}”无法识别"))
            continue
        spots = positions.get(normalize_header(header))
        if not spots:
            errors.append(RowError(header_row, str(header), "",
                                   f"列映射指定的列“{header}”（{by_name[field_name].header}）在文件中不存在"))
            continue
        found[field_name] = spots[0]
    for f in fields:
        if f.name in found:
            continue
        for synonym in (f.header, *f.synonyms):
            spots = positions.get(synonym)
            if spots:
                if len(spots) > 1:
                    errors.append(RowError(header_row, synonym, "",
                                           f"列“{synonym}”出现了{len(spots)}次，无法确定使用哪一列"))
                found[f.name] = spots[0]
                break
    for f in fields:
        if f.required and f.name not in found and f.name not in optional_required:
            errors.append(RowError(header_row, f.header, "",
                                   f"缺少必需的列“{f.header}”（也可用："
                                   f"{'、'.join(f.synonyms[:4])}）"))
    if errors:
        raise FileRefused(errors)
    return found


def error_report_csv(errors: list[RowError]) -> bytes:
    """The downloadable error report: UTF-8 with BOM so Excel opens it in Chinese."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["行号", "列", "值", "原因"])
    for e in errors:
        writer.writerow([e.row or "", e.column, e.value, e.reason])
    return ("\ufeff" + out.getvalue()).encode("utf-8")

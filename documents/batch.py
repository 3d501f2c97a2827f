"""Zips of rendered documents: batches and evidence packs in court order, byte-for-byte stable."""

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest zip time: same input, same bytes
CONTACT_LOG_HEADER = ("时间", "方式", "联系对象", "结果", "经办人", "备注")
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


@dataclass(frozen=True)
class PackFile:
    """One file for a zip: a Chinese display name with extension, and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class ServedDocument:
    """A demand or letter with its delivery proofs (EMS receipt, signed slip, SMS report)."""

    document: PackFile
    proofs: tuple[PackFile, ...] = ()


@dataclass(frozen=True)
class ContactEntry:
    """One line of the contact log (催缴记录) exported with the evidence."""

    at: datetime
    channel: str
    person: str
    outcome: str
    staff: str
    note: str = ""


def write_member(archive: zipfile.ZipFile, name: str, data: bytes | str) -> None:
    """Add one member with the fixed time and mode, deflated."""
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def stable_zip(data: bytes) -> bytes:
    """Rewrite a zip (e.g. a .docx) with fixed timestamps so equal content gives equal bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            write_member(target, info.filename, source.read(info))
    return out.getvalue()


def safe_name(name: str) -> str:
    """A file name without path separators or characters Windows refuses."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip(" .")
    if not cleaned:
        raise ValueError(f"unusable file name {name!r}")
    return cleaned


def zip_documents(items: list[tuple[str, bytes]]) -> bytes:
    """One zip of (file name, bytes) in the given order; duplicate names are refused."""
    out = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in items:
            name = safe_name(name)
            if name in seen:
                raise ValueError(f"duplicate file name in zip: {name}")
            seen.add(name)
            write_member(archive, name, data)
    return out.getvalue()


def _cell(value: str) -> str:
    # A leading =, +, - or @ would run as a formula when the log is opened in a spreadsheet.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def contact_log_csv(entries: Iterable[ContactEntry]) -> bytes:
    """The contact log as UTF-8 CSV with a BOM (opens in Excel), oldest first, formulas defused."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(CONTACT_LOG_HEADER)
    for e in sorted(entries, key=lambda e: e.at):
        row = (e.at.strftime("%Y-%m-%d %H:%M"), e.channel, e.person, e.outcome, e.staff, e.note)
        writer.writerow([_cell(value) for value in row])
    return ("\ufeff" + text.getvalue()).encode("utf-8")


def evidence_pack(
    evidence_list: PackFile,
    statement: PackFile,
    served: Sequence[ServedDocument],
    contract: PackFile | None = None,
    contact_log: PackFile | None = None,
    others: Sequence[PackFile] = (),
) -> bytes:
    """Court order: evidence list, contract, statement, each letter and its proofs, contact log."""
    ordered: list[PackFile] = [evidence_list]
    if contract is not None:
        ordered.append(contract)
    ordered.append(statement)
    for item in served:
        ordered.append(item.document)
        ordered.extend(item.proofs)
    if contact_log is not None:
        ordered.append(contact_log)
    ordered.extend(others)
    width = max(2, len(str(len(ordered))))
    return zip_documents(
        [(f"{n:0{width}d}_{safe_name(f.name)}", f.data) for n, f in enumerate(ordered, start=1)]
    )

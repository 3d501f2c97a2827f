"""Batches and evidence packs: one zip, court order, numbered Chinese names, stable bytes."""

import io
import zipfile
from datetime import datetime

import pytest

from documents.batch import (
    ContactEntry,
    PackFile,
    ServedDocument,
    contact_log_csv,
    evidence_pack,
    zip_documents,
)


def _names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()


def test_zip_keeps_order_and_content():
    data = zip_documents([("催缴通知书_3栋1102.docx", b"a"), ("催缴通知书_3栋1103.docx", b"b")])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["催缴通知书_3栋1102.docx", "催缴通知书_3栋1103.docx"]
        assert archive.read("催缴通知书_3栋1103.docx") == b"b"


def test_zip_bytes_are_stable_and_names_are_safe():
    items = [("../a/b:c.docx", b"x")]
    assert zip_documents(items) == zip_documents(items)
    assert _names(zip_documents(items)) == ["_a_b_c.docx"]


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError):
        zip_documents([("a.docx", b"1"), ("a.docx", b"2")])


def test_evidence_pack_is_in_court_order_with_numbered_names():
    demand = ServedDocument(
        PackFile("催缴通知书.docx", b"d"), (PackFile("催缴通知书EMS详情单.pdf", b"e"),)
    )
    letter = ServedDocument(PackFile("律师函.docx", b"l"), (PackFile("律师函妥投记录.pdf", b"p"),))
    data = evidence_pack(
        evidence_list=PackFile("证据清单.docx", b"1"),
        statement=PackFile("对账单.docx", b"s"),
        served=[demand, letter],
        contract=PackFile("物业服务合同.pdf", b"c"),
        contact_log=PackFile("催缴记录.csv", b"log"),
    )
    assert _names(data) == [
        "01_证据清单.docx",
        "02_物业服务合同.pdf",
        "03_对账单.docx",
        "04_催缴通知书.docx",
        "05_催缴通知书EMS详情单.pdf",
        "06_律师函.docx",
        "07_律师函妥投记录.pdf",
        "08_催缴记录.csv",
    ]


def test_contact_log_csv_opens_in_excel_and_defuses_formulas():
    entries = [
        ContactEntry(
            datetime(2026, 6, 10, 10, 5), "电话", "本人", "承诺付款", "刘洋", "=HYPERLINK()"
        ),
        ContactEntry(datetime(2026, 6, 1, 9, 30), "短信", "本人", "已送达", "刘洋"),
    ]
    data = contact_log_csv(entries)
    assert data.startswith("\ufeff".encode())
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == "时间,方式,联系对象,结果,经办人,备注"
    assert lines[1].startswith("2026-06-01 09:30,短信")
    assert lines[2].endswith(",'=HYPERLINK()")

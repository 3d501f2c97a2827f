"""PDF through headless LibreOffice: skipped on a laptop without it, a failure under CI=true."""

import os
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from documents.contexts import sample_facts
from documents.facts import Period
from documents.render import find_office, render_document, to_pdf


def _require(tool: str | None, what: str) -> None:
    if tool:
        return
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{what} is not installed, and CI must convert letters to PDF")
    pytest.skip(f"{what} is not installed on this machine")


def test_a_rendered_letter_converts_to_pdf_with_its_text(tmp_path):
    _require(find_office(), "LibreOffice (soffice)")
    _require(shutil.which("pdftotext"), "pdftotext (poppler-utils)")
    source = tmp_path / "催缴通知书.docx"
    source.write_bytes(render_document("payment_demand", sample_facts("payment_demand")))

    pdf = to_pdf(source, tmp_path / "out", tmp_path / "lo-profile")

    assert pdf is not None and pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True
    ).stdout
    assert "李晓明" in text
    assert "3,775.88" in text
    assert "叁仟柒佰柒拾伍元捌角捌分" in text.replace(" ", "")


def test_to_pdf_returns_none_without_libreoffice(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert to_pdf(tmp_path / "a.docx", tmp_path, tmp_path / "profile") is None


def _pdf_lines(tmp_path, kind: str, facts) -> list[str]:
    source = tmp_path / f"{kind}.docx"
    source.write_bytes(render_document(kind, facts))
    pdf = to_pdf(source, tmp_path / "out", tmp_path / "lo-profile")
    assert pdf is not None
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True
    ).stdout
    return text.splitlines()


@pytest.mark.parametrize("kind", ["lawyer_letter", "statement"])
def test_large_amounts_are_not_broken_across_lines_in_the_pdf(tmp_path, kind):
    _require(find_office(), "LibreOffice (soffice)")
    _require(shutil.which("pdftotext"), "pdftotext (poppler-utils)")
    base = sample_facts(kind)
    periods = (
        Period("2025年第3季度", "物业服务费", date(2025, 7, 15), Decimal("1234567.89")),
        Period("2025年第4季度", "物业服务费", date(2025, 10, 15), Decimal("9999999.99"),
               Decimal("8765432.10")),
        Period("2026年第1季度", "车位管理费", date(2026, 1, 15), Decimal("9999999.99")),
    )
    lines = _pdf_lines(tmp_path, kind, replace(base, periods=periods))

    # each row of the period table on one line: its due date and its three amounts whole
    rows = {"2025年7月15日": ("1,234,567.89", "0.00", "1,234,567.89"),
            "2025年10月15日": ("9,999,999.99", "8,765,432.10", "1,234,567.89"),
            "2026年1月15日": ("9,999,999.99", "0.00", "9,999,999.99"),
            "21,234,567.87": ("21,234,567.87", "8,765,432.10", "12,469,135.77")}  # totals
    page = "\n".join(lines)
    for key, amounts in rows.items():
        row = [line for line in lines if key in line.replace(" ", "") and "¥" in line]
        assert row, f"no table row with {key} in:\n{page}"
        cells = row[0].split()
        assert all(f"¥{amount}" in cells for amount in amounts), (key, row[0], page)

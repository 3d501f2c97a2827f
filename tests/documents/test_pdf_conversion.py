"""PDF through headless LibreOffice: skipped on a laptop without it, a failure under CI=true."""

import os
import shutil
import subprocess

import pytest

from documents.contexts import sample_facts
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

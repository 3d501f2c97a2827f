"""Render docx templates, read their text back, validate uploads, convert to PDF."""

import hashlib
import io
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docx import Document
from docxtpl import DocxTemplate
from jinja2 import Environment, StrictUndefined, TemplateError, UndefinedError

from documents.batch import stable_zip
from documents.contexts import TEMPLATES, build_context, sample_facts
from documents.facts import LetterFacts
from documents.lint import lint_text
from documents.mandatory import missing_contents

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
FONTS_CONF = Path(__file__).resolve().parent / "fonts.conf"  # 宋体/黑体 -> Noto CJK SC
Source = str | Path | bytes


def template_path(kind: str) -> Path:
    """The shipped template file of a document kind."""
    if kind not in TEMPLATES:
        raise KeyError(f"unknown document kind {kind!r}")
    return TEMPLATE_DIR / TEMPLATES[kind]


def _open(source: Source) -> str | io.BytesIO:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    if isinstance(source, str) and source in TEMPLATES:
        return str(template_path(source))
    return str(source)


def _environment() -> Environment:
    # StrictUndefined: a letter missing a value must fail, never print a blank amount.
    return Environment(autoescape=True, undefined=StrictUndefined)


def render_docx(kind_or_path: Source, context: Mapping[str, Any]) -> bytes:
    """Render a template (kind, path or bytes), autoescaped; same input gives the same bytes."""
    template = DocxTemplate(_open(kind_or_path))
    template.render(dict(context), jinja_env=_environment(), autoescape=True)
    out = io.BytesIO()
    template.save(out)
    return stable_zip(out.getvalue())


def render_document(kind: str, facts: LetterFacts) -> bytes:
    """Build the kind's context from the facts and render its shipped template."""
    return render_docx(kind, build_context(kind, facts))


def sha256_hex(data: bytes) -> str:
    """The sha256 of a document's bytes, as stored with it."""
    return hashlib.sha256(data).hexdigest()


def template_variables(path: Source) -> set[str]:
    """The variables a template uses that it does not define itself."""
    return DocxTemplate(_open(path)).get_undeclared_template_variables(_environment())


def _block_lines(container: Any) -> list[str]:
    lines: list[str] = []
    for block in container.iter_inner_content():
        if hasattr(block, "rows"):
            for row in block.rows:
                for cell in row.cells:
                    lines.extend(_block_lines(cell))
        else:
            lines.append(block.text)
    return lines


def docx_text(source: Source) -> str:
    """All text of a .docx in reading order: body paragraphs, table cells, headers, footers."""
    document = Document(_open(source))
    lines = _block_lines(document)
    for section in document.sections:
        for part in (section.header, section.footer):
            if not part.is_linked_to_previous:
                lines.extend(_block_lines(part))
    return "\n".join(lines)


def validate_template(kind: str, docx_bytes: bytes) -> list[str]:
    """Problems that forbid using an uploaded template for a kind; empty means accepted."""
    try:
        variables = template_variables(docx_bytes)
        template_text = docx_text(docx_bytes)
    except TemplateError as exc:
        return [f"模板语法错误：{exc}"]
    except Exception as exc:  # noqa: BLE001 - any unreadable upload is one problem
        return [f"无法读取模板，请上传有效的 Word（.docx）文件：{exc}"]
    context = build_context(kind, sample_facts(kind))
    unknown = sorted(variables - context.keys())
    problems = [f"模板使用了未知变量“{name}”" for name in unknown]
    template_findings = lint_text(template_text)
    problems += [f"模板文本{f.message}" for f in template_findings]
    try:
        rendered = docx_text(render_docx(docx_bytes, context))
    except UndefinedError as exc:
        if not unknown:
            problems.append(f"用示例数据渲染失败：{exc}")
        return problems
    except Exception as exc:  # noqa: BLE001 - report, never crash the upload form
        problems.append(f"用示例数据渲染失败：{exc}")
        return problems
    seen = {(f.rule, f.phrase) for f in template_findings}
    problems += [
        f"渲染结果{f.message}" for f in lint_text(rendered) if (f.rule, f.phrase) not in seen
    ]
    problems += [f"缺少必备内容：{item}" for item in missing_contents(kind, rendered, context)]
    return problems


def find_office() -> str | None:
    """The LibreOffice executable on PATH, if any."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def to_pdf(
    docx_path: str | Path, out_dir: str | Path, profile_dir: str | Path, timeout: float = 180
) -> Path | None:
    """Convert a .docx to PDF with headless LibreOffice using this worker's own profile."""
    office = find_office()
    if office is None:
        return None
    source, out, profile = Path(docx_path), Path(out_dir), Path(profile_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    profile.mkdir(parents=True, exist_ok=True)
    command = [
        office,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        "--nolockcheck",
        "--convert-to",
        "pdf",
        "--outdir",
        str(out),
        str(source),
    ]
    env = os.environ | {"HOME": str(profile)}
    if "FONTCONFIG_FILE" not in env and FONTS_CONF.exists():
        env["FONTCONFIG_FILE"] = str(FONTS_CONF)
    result = subprocess.run(command, capture_output=True, timeout=timeout, env=env, check=False)
    pdf = out / (source.stem + ".pdf")
    if result.returncode != 0 or not pdf.exists():
        stderr = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"LibreOffice failed ({result.returncode}) for {source}: {stderr}")
    return pdf

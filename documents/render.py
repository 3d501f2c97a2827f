"""Render docx templates, read their text back, validate uploads, convert to PDF."""

import hashlib
import io
import os
import re
import shutil
import subprocess
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docx import Document
from docx.opc.pkgwriter import PackageWriter
from docxtpl import DocxTemplate
from jinja2 import Environment, StrictUndefined, Template, TemplateError, UndefinedError

from documents.batch import stable_zip, write_member
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


# -- compiled templates, cached per process -------------------------------------------------------
#
# docxtpl turns the document XML into one Jinja template on every render() (XML clean-up by
# regular expressions, then a Jinja compile): about half of a letter's time. A DocxTemplate
# cannot be rendered twice (docxtpl #433: render and save a fresh Document each time), so
# the cache keeps what does not depend on the letter - the template's bytes and its compiled
# Jinja templates (body, headers, footers) - and every render opens a fresh Document from
# those bytes. Key: the file's path, size and mtime (a rebuilt template is compiled again),
# or the sha256 of uploaded bytes.

_CACHE_SIZE = 32


@dataclass(frozen=True)
class _Compiled:
    data: bytes
    body: Template
    parts: dict[str, tuple[Template, str]]  # header/footer part name -> (template, encoding)


class _CompiledEnvironment(Environment):
    """The letter environment, remembering templates compiled from the same source text
    (the core properties: title, subject, ...)."""

    def __init__(self) -> None:
        super().__init__(autoescape=True, undefined=StrictUndefined)
        self._compiled: dict[str, Template] = {}

    def from_string(self, source, globals=None, template_class=None):  # noqa: A002
        if globals is not None or template_class is not None or not isinstance(source, str):
            return super().from_string(source, globals, template_class)
        template = self._compiled.get(source)
        if template is None:
            template = self._compiled[source] = super().from_string(source)
        return template


_lock = threading.Lock()
_cache: OrderedDict[tuple, _Compiled] = OrderedDict()
_env = _CompiledEnvironment()  # compiled templates render safely from any thread


def _cache_key(source: Source) -> tuple:
    if isinstance(source, bytes):
        return ("bytes", hashlib.sha256(source).digest())
    path = Path(_open(source))  # a kind or a path
    stat = path.stat()
    return ("file", str(path.resolve()), stat.st_mtime_ns, stat.st_size)


class _LetterTemplate(DocxTemplate):
    """A DocxTemplate on a fresh Document whose XML parts come precompiled."""

    def __init__(self, compiled: _Compiled) -> None:
        super().__init__(io.BytesIO(compiled.data))
        self._compiled = compiled

    def _finish(self, template: Template, part: Any, context: Mapping[str, Any]) -> str:
        # what DocxTemplate.render_xml_part does after its compile, on the compiled template
        self.current_rendering_part = part
        xml = re.sub(r"\n<w:p([ >])", r"<w:p\1", template.render(context))
        xml = (xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%")
               .replace("%_}", "%}"))
        # resolve_listing turns tabs, newlines and page breaks inside text into Word markup,
        # one regular expression per paragraph and run: skipped when there are none, which
        # gives the same XML
        if any(char in xml for char in "\t\a\n\f"):
            xml = self.resolve_listing(xml)
        return xml

    def build_xml(self, context, jinja_env=None):
        return self._finish(self._compiled.body, self.docx._part, context)

    def build_headers_footers_xml(self, context, uri, jinja_env=None):
        for rel_key, part in self.get_headers_footers(uri):
            template, encoding = self._compiled.parts[str(part.partname)]
            yield rel_key, self._finish(template, part, context).encode(encoding)


def _compile(data: bytes) -> _Compiled:
    """Patch and compile each XML part once, as DocxTemplate.render would on every call."""
    probe = DocxTemplate(io.BytesIO(data))
    probe.init_docx()

    def compiled(xml: str) -> Template:
        xml = re.sub(r"<w:p([ >])", r"\n<w:p\1", probe.patch_xml(xml))
        return Environment.from_string(_env, xml)  # not remembered by source: held here

    body = compiled(probe.get_xml())
    parts = {}
    for uri in (DocxTemplate.HEADER_URI, DocxTemplate.FOOTER_URI):
        for _, part in probe.get_headers_footers(uri):
            xml = probe.get_part_xml(part)
            parts[str(part.partname)] = (compiled(xml), probe.get_headers_footers_encoding(xml))
    return _Compiled(data=data, body=body, parts=parts)


def compiled_template(source: Source) -> _Compiled:
    """The cached compiled template of a kind, a path or uploaded bytes."""
    key = _cache_key(source)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    if isinstance(source, bytes):
        data = source
    else:
        data = Path(_open(source)).read_bytes()
    entry = _compile(data)
    with _lock:
        _cache[key] = entry
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return entry


def warm_templates(kinds: Sequence[str] = tuple(TEMPLATES)) -> None:
    """Compile the shipped templates now, e.g. in a worker before it forks its jobs."""
    for kind in kinds:
        compiled_template(kind)


@dataclass(frozen=True)
class Rendered:
    """A rendered letter: its .docx bytes and its text (as `docx_text` reads it back)."""

    data: bytes
    text: str


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_T, _TAB, _PTAB, _BR, _CR, _HYPHEN = (_W + n for n in ("t", "tab", "ptab", "br", "cr",
                                                       "noBreakHyphen"))
_R, _HYPERLINK, _P = _W + "r", _W + "hyperlink", _W + "p"


def _run_text(run: Any) -> str:
    """A run's text as python-docx reads it: tabs, line breaks (not page breaks), hyphens."""
    parts = []
    for child in run:
        tag = child.tag
        if tag == _T:
            parts.append(child.text or "")
        elif tag in (_TAB, _PTAB):
            parts.append("\t")
        elif tag == _CR or (tag == _BR and child.get(_W + "type") in (None, "textWrapping")):
            parts.append("\n")
        elif tag == _HYPHEN:
            parts.append("-")
    return "".join(parts)


def _paragraph_lines(element: Any) -> list[str]:
    """The text of every paragraph under an XML element, in document order (table cells
    row by row), straight from lxml: python-docx's objects take longer than the render."""
    lines = []
    for paragraph in element.iter(_P):
        parts = []
        for child in paragraph:
            if child.tag == _R:
                parts.append(_run_text(child))
            elif child.tag == _HYPERLINK:
                parts.extend(_run_text(run) for run in child if run.tag == _R)
        lines.append("".join(parts))
    return lines


def _letter_text(document: Any) -> str:
    """Body, then the footers and headers it uses: what `docx_text` reads from a letter."""
    lines = _paragraph_lines(document.element.body)
    for section in document.sections:
        for part in (section.header, section.footer):
            if not part.is_linked_to_previous:
                lines.extend(_paragraph_lines(part._element))
    return "\n".join(lines)


class _StableWriter:
    """python-docx's physical package writer, with fixed member times (stable bytes)."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive

    def write(self, pack_uri: Any, blob: bytes) -> None:
        write_member(self._archive, pack_uri.membername, blob)


def _stable_bytes(document: Any) -> bytes:
    """What `stable_zip(<python-docx save>)` gives, written once instead of zipped twice."""
    package = document.part.package
    parts = list(package.parts)
    for part in parts:
        part.before_marshal()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        writer = _StableWriter(archive)
        PackageWriter._write_content_types_stream(writer, parts)
        PackageWriter._write_pkg_rels(writer, package.rels)
        PackageWriter._write_parts(writer, parts)
    return out.getvalue()


def render_letter(kind_or_path: Source, context: Mapping[str, Any]) -> Rendered:
    """Render a template (kind, path or bytes) from the per-process cache, autoescaped."""
    template = _LetterTemplate(compiled_template(kind_or_path))
    template.render(dict(context), jinja_env=_env, autoescape=True)
    return Rendered(_stable_bytes(template.docx), _letter_text(template.docx))


def render_docx(kind_or_path: Source, context: Mapping[str, Any]) -> bytes:
    """Render a template (kind, path or bytes), autoescaped; same input gives the same bytes."""
    return render_letter(kind_or_path, context).data


def render_uncached(kind_or_path: Source, context: Mapping[str, Any]) -> bytes:
    """The same letter by plain docxtpl (parse and compile the template on this call)."""
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
    return _document_text(Document(_open(source)))


def _document_text(document: Any) -> str:
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


def _convert(office: str, sources: Sequence[Path], out: Path, profile: Path,
             timeout: float) -> subprocess.CompletedProcess:
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
        *(str(source) for source in sources),
    ]
    env = os.environ | {"HOME": str(profile)}
    if "FONTCONFIG_FILE" not in env and FONTS_CONF.exists():
        env["FONTCONFIG_FILE"] = str(FONTS_CONF)
    return subprocess.run(command, capture_output=True, timeout=timeout, env=env, check=False)


def to_pdf(
    docx_path: str | Path, out_dir: str | Path, profile_dir: str | Path, timeout: float = 180
) -> Path | None:
    """Convert a .docx to PDF with headless LibreOffice using this worker's own profile."""
    office = find_office()
    if office is None:
        return None
    source, out = Path(docx_path), Path(out_dir)
    result = _convert(office, [source], out, Path(profile_dir).resolve(), timeout)
    pdf = out / (source.stem + ".pdf")
    if result.returncode != 0 or not pdf.exists():
        stderr = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"LibreOffice failed ({result.returncode}) for {source}: {stderr}")
    return pdf


def to_pdfs(docx_paths: Sequence[str | Path], profile_dir: str | Path,
            timeout_each: float = 60) -> list[Path | None]:
    """Convert several .docx files in one LibreOffice run, each PDF next to its .docx.

    Starting LibreOffice takes longer than converting a letter, so a batch pays it once.
    Returns each PDF's path (None for one LibreOffice did not convert), or all None when
    LibreOffice is not installed; a failed run raises with LibreOffice's message.
    """
    office = find_office()
    sources = [Path(p) for p in docx_paths]
    if office is None or not sources:
        return [None] * len(sources)
    if len({s.stem for s in sources}) != len(sources):
        raise ValueError("two documents of one conversion share a file name")
    profile = Path(profile_dir).resolve()
    out = profile.parent / f"{profile.name}-out"  # the run's outputs, then moved into place
    shutil.rmtree(out, ignore_errors=True)
    try:
        result = _convert(office, sources, out, profile, 60 + timeout_each * len(sources))
        made: list[Path | None] = []
        for source in sources:
            pdf = out / (source.stem + ".pdf")
            if pdf.exists():
                target = source.with_suffix(".pdf")
                shutil.move(pdf, target)  # the store may be on another file system
                made.append(target)
            else:
                made.append(None)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if result.returncode != 0 or not any(made):
        stderr = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"LibreOffice failed ({result.returncode}) for {len(sources)} "
                           f"documents: {stderr}")
    return made

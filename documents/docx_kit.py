"""python-docx helpers for the template generator: A4 page, Chinese fonts, paragraphs, tables."""

import io
from datetime import datetime
from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.table import Table
from docx.text.paragraph import Paragraph

from documents.batch import stable_zip

BODY_FONT = "宋体"  # SimSun; LibreOffice falls back to Noto Serif CJK SC
TITLE_FONT = "黑体"  # SimHei
LATIN_FONT = "Times New Roman"
BODY_SIZE = Pt(12)  # 小四
TABLE_SIZE = Pt(10.5)  # 五号
CELL_MARGIN_TWIPS = 57  # 0.1 cm left and right in table cells (Word's default is 0.19 cm)
FIXED_TIME = datetime(2026, 1, 1)
CENTER, RIGHT = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.RIGHT
# w:pPr children that must follow w:pBdr (ECMA-376 sequence), so Word accepts the file
PPR_AFTER_BORDER = (
    "w:shd",
    "w:tabs",
    "w:suppressAutoHyphens",
    "w:kinsoku",
    "w:wordWrap",
    "w:overflowPunct",
    "w:topLinePunct",
    "w:autoSpaceDE",
    "w:autoSpaceDN",
    "w:bidi",
    "w:adjustRightInd",
    "w:snapToGrid",
    "w:spacing",
    "w:ind",
    "w:contextualSpacing",
    "w:mirrorIndents",
    "w:suppressOverlap",
    "w:jc",
    "w:textDirection",
    "w:textAlignment",
    "w:textboxTightWrap",
    "w:outlineLvl",
    "w:divId",
    "w:cnfStyle",
    "w:rPr",
    "w:sectPr",
    "w:pPrChange",
)


def set_fonts(element: Any, east_asia: str, latin: str = LATIN_FONT) -> None:
    """Set the East-Asian and Latin fonts on a style's or run's rPr."""
    rpr = element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attr), latin)
    fonts.set(qn("w:eastAsia"), east_asia)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:eastAsia"), "zh-CN")


def new_document(title: str) -> DocumentObject:
    """An A4 document, 2.5 cm margins, 宋体 body, page numbers in the footer, fixed properties."""
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    for side in ("top_margin", "bottom_margin", "left_margin", "right_margin"):
        setattr(section, side, Cm(2.5))
    normal = doc.styles["Normal"]
    normal.font.size = BODY_SIZE
    set_fonts(normal.element, BODY_FONT)
    normal.paragraph_format.line_spacing = 1.3
    normal.paragraph_format.space_after = Pt(3)
    footer = section.footer.paragraphs[0]
    footer.alignment = CENTER
    footer.add_run("第 ")
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    field_run = OxmlElement("w:r")
    field_text = OxmlElement("w:t")
    field_text.text = "1"
    field_run.append(field_text)
    field.append(field_run)
    footer._p.append(field)
    footer.add_run(" 页")
    props = doc.core_properties
    props.title, props.author, props.last_modified_by = title, "Casework", "Casework"
    props.comments = "由 documents/build_templates.py 生成"
    props.created = props.modified = FIXED_TIME
    props.revision = 1
    return doc


def title(doc: DocumentObject, text: str, size: float = 22) -> Paragraph:
    """A centred bold title in 黑体."""
    paragraph = doc.add_paragraph()
    paragraph.alignment = CENTER
    paragraph.paragraph_format.space_after = Pt(12)
    run = paragraph.add_run(text)
    run.bold = True
    run.font.size = Pt(size)
    set_fonts(run._r, TITLE_FONT)
    return paragraph


def heading(doc: DocumentObject, text: str) -> Paragraph:
    """A bold section heading inside the letter."""
    paragraph = doc.add_paragraph()
    paragraph.paragraph_format.space_before = Pt(6)
    run = paragraph.add_run(text)
    run.bold = True
    set_fonts(run._r, TITLE_FONT)
    return paragraph


def para(
    doc: DocumentObject,
    text: str,
    indent: bool = True,
    align: WD_ALIGN_PARAGRAPH | None = None,
    size: float | None = None,
) -> Paragraph:
    """A body paragraph, first line indented two characters."""
    paragraph = doc.add_paragraph()
    if indent:
        paragraph.paragraph_format.first_line_indent = Pt(24)
    if align is not None:
        paragraph.alignment = align
    run = paragraph.add_run(text)
    if size is not None:
        run.font.size = Pt(size)
    return paragraph


def line(
    doc: DocumentObject,
    text: str,
    align: WD_ALIGN_PARAGRAPH | None = None,
    size: float | None = None,
) -> Paragraph:
    """A paragraph without indentation (addressee, signature, list item)."""
    return para(doc, text, indent=False, align=align, size=size)


def rule_below(paragraph: Paragraph) -> None:
    """A thin line under a paragraph, as under a letterhead."""
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (
        ("w:val", "single"),
        ("w:sz", "8"),
        ("w:space", "4"),
        ("w:color", "000000"),
    ):
        bottom.set(qn(key), value)
    borders.append(bottom)
    ppr = paragraph._p.get_or_add_pPr()
    ppr.insert_element_before(borders, *PPR_AFTER_BORDER)


def tag(doc: DocumentObject, jinja: str) -> Paragraph:
    """A paragraph holding one docxtpl {%p ... %} tag; docxtpl removes the paragraph."""
    return line(doc, jinja)


def _cell_text(cell, text: str, bold: bool = False, align=None, size=TABLE_SIZE) -> None:
    paragraph = cell.paragraphs[0]
    paragraph.paragraph_format.first_line_indent = None
    paragraph.paragraph_format.space_after = Pt(0)
    paragraph.paragraph_format.line_spacing = 1.0
    if align is not None:
        paragraph.alignment = align
    run = paragraph.add_run(text)
    run.bold = bold
    run.font.size = size


def _row_flag(row, name: str) -> None:
    marker = OxmlElement(name)
    marker.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(marker)


def _narrow_cell_margins(table: Table) -> None:
    margins = OxmlElement("w:tblCellMar")
    for side in ("w:left", "w:right"):
        margin = OxmlElement(side)
        margin.set(qn("w:w"), str(CELL_MARGIN_TWIPS))
        margin.set(qn("w:type"), "dxa")
        margins.append(margin)
    tbl_pr = table._tbl.tblPr
    # schema order: tblCellMar after tblLayout, before tblLook
    look = tbl_pr.find(qn("w:tblLook"))
    if look is None:
        tbl_pr.append(margins)
    else:
        look.addprevious(margins)


def loop_table(
    doc: DocumentObject,
    columns: list[tuple[str, str, float]],
    loop: str,
    footer: list[str] | None = None,
    size: Pt = TABLE_SIZE,
) -> Table:
    """A bordered table: header row, one docxtpl {%tr for %} row per item, optional total row.

    columns are (header, cell expression, width in cm); a header ending in 额 is right-aligned.
    Cells have narrow side margins, so the widths are (almost) all text.
    """
    rows = 4 + (1 if footer else 0)
    table = doc.add_table(rows=rows, cols=len(columns))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    _narrow_cell_margins(table)
    for index, (header, expression, width) in enumerate(columns):
        align = RIGHT if header.endswith("额") else None
        table.columns[index].width = Cm(width)  # tblGrid, used by LibreOffice
        cells = [row.cells[index] for row in table.rows]
        for cell in cells:
            cell.width = Cm(width)
        _cell_text(cells[0], header, bold=True, align=CENTER, size=size)
        _cell_text(cells[2], expression, align=align, size=size)
        if footer:
            _cell_text(cells[4], footer[index], bold=index == 0, align=align, size=size)
    _cell_text(table.rows[1].cells[0], f"{{%tr {loop} %}}", size=size)
    _cell_text(table.rows[3].cells[0], "{%tr endfor %}", size=size)
    for row in table.rows:  # schema order: cantSplit before tblHeader
        _row_flag(row, "w:cantSplit")
    _row_flag(table.rows[0], "w:tblHeader")  # repeat the header on each page
    doc.add_paragraph().paragraph_format.space_after = Pt(0)
    return table


STYLE_REFERENCES = ("w:pStyle", "w:rStyle", "w:tblStyle", "w:numStyleLink", "w:styleLink")
STYLE_CHAIN = ("w:basedOn", "w:link", "w:next")


def slim_styles(doc: DocumentObject) -> None:
    """Drop what python-docx's default template carries and no letter uses: the Word 2010
    stylesWithEffects copy and the style definitions nothing refers to (about 750 KB of XML
    that every render would parse, write and compress). Word still offers every built-in
    style to whoever edits the template."""
    part = doc.part
    for rel_id, rel in list(part.rels.items()):
        if rel.reltype.endswith("/stylesWithEffects"):
            part.drop_rel(rel_id)
    styles = doc.styles.element
    used: set[str] = set()
    xml_parts = [part.element] + [rel.target_part.element for rel in part.rels.values()
                                  if not rel.is_external and hasattr(rel.target_part, "element")
                                  and rel.target_part.element is not styles]
    for element in xml_parts:
        for name in STYLE_REFERENCES:
            used.update(e.get(qn("w:val")) for e in element.iter(qn(name)))
    by_id = {s.get(qn("w:styleId")): s for s in styles.iter(qn("w:style"))}
    used.update(i for i, s in by_id.items() if s.get(qn("w:default")) in ("1", "true"))
    todo = list(used)
    while todo:  # styles a kept style is based on, linked to or followed by
        style = by_id.get(todo.pop())
        if style is None:
            continue
        for name in STYLE_CHAIN:
            ref = style.find(qn(name))
            if ref is not None and ref.get(qn("w:val")) not in used:
                used.add(ref.get(qn("w:val")))
                todo.append(ref.get(qn("w:val")))
    for style_id, style in by_id.items():
        if style_id not in used:
            styles.remove(style)


def save(doc: DocumentObject, path: Path) -> None:
    """Write the document with fixed zip timestamps, so a rebuild gives identical bytes."""
    slim_styles(doc)
    out = io.BytesIO()
    doc.save(out)
    path.write_bytes(stable_zip(out.getvalue()))

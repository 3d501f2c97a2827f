"""Server-rendered SVG charts: grouped bars, or lines over months. No script, no network.

Every label is escaped; colours are presentation attributes (the pages' CSP forbids inline
styles). Values may be Decimal, int or None (drawn as nothing); geometry is float pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

PALETTE = ("#2f6db3", "#e07b39", "#3a9a5b", "#b8434a", "#7a5cb0", "#8a8a8a")
WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 34, 70


@dataclass
class Series:
    name: str
    values: Sequence[Decimal | int | None]


def _nice_max(value: float) -> float:
    """The axis top: 1, 2, 2.5 or 5 times a power of ten, at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1.0
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _tick(value: float, unit: str) -> str:
    if unit == "percent":
        return f"{value:g}%"
    if unit == "money":
        return f"¥{value:,.0f}" if value >= 10 else f"¥{value:g}"
    return f"{value:g}"


def _short(text: str, limit: int = 14) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def chart(title: str, categories: Sequence[str], series: Sequence[Series], *,
          unit: str = "money", kind: str = "bar") -> Markup:
    """An SVG chart of `series` over `categories` (bars side by side, or lines)."""
    values = [float(v) for s in series for v in s.values if v is not None]
    top = _nice_max(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(categories), 1)
    slot = plot_w / n

    def y(value) -> float:
        return TOP + plot_h - plot_h * float(value) / top

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>",
           f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i in range(5):  # grid and axis ticks
        value = top * i / 4
        gy = y(value)
        out.append(f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{WIDTH - RIGHT}" y2="{gy:.1f}" '
                   f'stroke="#dddddd" stroke-width="1"/>')
        out.append(f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" font-size="11" text-anchor="end">'
                   f"{escape(_tick(value, unit))}</text>")
    for i, category in enumerate(categories):
        cx = LEFT + slot * (i + 0.5)
        out.append(f'<text x="{cx:.1f}" y="{TOP + plot_h + 16}" font-size="11" '
                   f'text-anchor="end" transform="rotate(-30 {cx:.1f} {TOP + plot_h + 16})">'
                   f"<title>{escape(category)}</title>{escape(_short(category))}</text>")
    if kind == "line":
        for k, s in enumerate(series):
            colour = PALETTE[k % len(PALETTE)]
            points = [(LEFT + slot * (i + 0.5), y(v)) for i, v in enumerate(s.values)
                      if v is not None]
            if points:
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
                out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                           f'stroke-width="2"/>')
            for (px, py), v in zip(points, [v for v in s.values if v is not None], strict=True):
                out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}">'
                           f"<title>{escape(s.name)}: {escape(_tick(float(v), unit))}</title>"
                           "</circle>")
    else:
        width = slot * 0.8 / max(len(series), 1)
        for k, s in enumerate(series):
            colour = PALETTE[k % len(PALETTE)]
            for i, v in enumerate(s.values):
                if v is None:
                    continue
                x = LEFT + slot * i + slot * 0.1 + width * k
                bar_top = y(max(float(v), 0.0))
                out.append(f'<rect x="{x:.1f}" y="{bar_top:.1f}" width="{width:.1f}" '
                           f'height="{TOP + plot_h - bar_top:.1f}" fill="{colour}">'
                           f"<title>{escape(categories[i])} · {escape(s.name)}: "
                           f"{escape(_tick(float(v), unit))}</title></rect>")
    out.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
               f'y2="{TOP + plot_h}" stroke="#555555" stroke-width="1"/>')
    lx = LEFT
    for k, s in enumerate(series):  # legend
        colour = PALETTE[k % len(PALETTE)]
        out.append(f'<rect x="{lx}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14}" y="{HEIGHT - 5}" font-size="11">'
                   f"{escape(s.name)}</text>")
        lx += 24 + 12 * len(s.name) + 20
    if not categories or not values:
        out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" '
                   f'font-size="13" text-anchor="middle" fill="#777777">∅</text>')
    out.append("</svg>")
    return Markup("".join(out))

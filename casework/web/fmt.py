"""How money, dates and times read on the page: ¥1,234.56; 2026年11月23日 in Chinese."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from urllib.parse import urlencode

from babel.support import Translations
from flask import Flask, g, request, url_for
from flask_babel import force_locale, format_date, get_locale, get_translations
from markupsafe import Markup, escape

from ..queries import Choices
from ..services.clock import SHANGHAI
from .labels import translated


def locale_name() -> str:
    """The request's language ("zh" or "en"): the one the web guard chose for this request
    (g.locale), else Flask-Babel's. A page asks for it some hundred times (every date, every
    label table, every translated string); get_locale() costs several context lookups each.
    (Flask-Babel's force_locale does not reach the templates' strings and dates: nothing
    renders a page in another language than the request's.)"""
    return g.get("locale") or str(get_locale() or "zh")


def is_zh() -> bool:
    return locale_name().startswith("zh")


def in_language(cache: dict, key: tuple, build):
    """cache[key], made by build() the first time, in the language of the key's first item
    (force_locale: that language's words, whatever Flask-Babel's locale is now). For what a
    page asks for many times and depends only on the language: catalogues, label tables."""
    value = cache.get(key)
    if value is None:
        with force_locale(key[0]):
            value = cache[key] = build()
    return value


_CATALOGS: dict[tuple[str], Translations] = {}  # by language, loaded once a process


def template_gettext(string: str, **variables) -> Markup:
    """`_()` in the templates: as Flask-Babel's (Jinja's new-style gettext: the variables
    escaped and always %-formatted), with the catalogue found by the request's language in one
    dictionary lookup instead of Flask-Babel's context lookups on every string."""
    catalog = in_language(_CATALOGS, (locale_name(),), get_translations)
    translated = Markup(catalog.gettext(string))
    return translated % variables if variables or "%" in translated else translated


CENT = Decimal("0.01")


def money(value) -> str:
    if value is None or value == "":
        return "—"
    amount = (value if isinstance(value, Decimal) else Decimal(str(value))).quantize(CENT)
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,.2f}"


def day(value, zh: bool | None = None) -> str:
    """A calendar day (a datetime: its day in Asia/Shanghai) in the request's language, or in
    Chinese if `zh` says so (a caller showing many looks the language up once)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.astimezone(SHANGHAI).date()
    if is_zh() if zh is None else zh:
        return f"{value.year}年{value.month}月{value.day}日"
    return format_date(value, "medium")


def moment(value, zh: bool | None = None) -> str:
    """An aware UTC time, shown in Asia/Shanghai (`zh`: as day's)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(SHANGHAI)
    return f"{day(local.date(), zh)} {local:%H:%M}"


def iso_day(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(SHANGHAI).date()
    return value.isoformat()


_TAGS: dict[tuple[str, str], Markup] = {}


def state_tag(state: str, language: str | None = None) -> Markup:
    """A case's stage as a tag, its label in the request's language (or `language`); made once
    a process for each stage and language (a filter, not a macro: a queue page shows some
    fifty)."""
    return in_language(_TAGS, (language or locale_name(), state), lambda: Markup(
        f'<span class="tag state" data-state="{escape(state)}">'
        f'{escape(translated.STATES.get(state, state))}</span>'))


_PLACEHOLDER = 9_876_543_210  # an id no URL holds otherwise: where a link's id goes
_LINKS: dict[tuple[str, str, str], tuple[str, str]] = {}


def id_link(endpoint: str, name: str):
    """A maker of url_for(endpoint, name=id) for any id: url_for is called once a process (and
    application root) and its URL then filled in, for lists that link every row (url_for was
    a row's dearest call)."""
    key = (endpoint, name, request.script_root)
    parts = _LINKS.get(key)
    if parts is None:
        built = url_for(endpoint, **{name: _PLACEHOLDER})
        prefix, found, suffix = built.partition(str(_PLACEHOLDER))
        if not found:  # a route that does not write the id as it is
            return lambda number: url_for(endpoint, **{name: number})
        parts = _LINKS[key] = (prefix, suffix)
    prefix, suffix = parts
    return lambda number: f"{prefix}{int(number)}{suffix}"


def page_url(param: str, number: int) -> str:
    """This page's URL with one list's page number (`param`) set to `number`, the other
    arguments kept, encoded as url_for does: the pagers' links (url_for with arguments was
    most of a pager's work)."""
    args = request.args.to_dict()
    args[param] = number
    return f"{request.script_root}{request.path}?{urlencode(args, safe=_URL_SAFE)}"


_URL_SAFE = "!$'()*,/:;?@"  # as werkzeug's url_for (the WHATWG's percent-encode set)


def options(pairs, selected=None) -> Markup:
    """A select's <option> elements for (value, label) pairs, the one equal to `selected` (as
    text: a number from the URL or a row) marked: one call for a list of a hundred buildings
    instead of a template loop over them. The lists a process keeps (queries.Choices) keep
    their elements too, made once unmarked and marked."""
    chosen = "" if selected is None else str(selected)
    if not isinstance(pairs, Choices):
        return Markup("".join(_option(value, label, str(value) == chosen)
                              for value, label in pairs))
    made = pairs.made
    if made is None:
        made = pairs.made = tuple(
            (str(value), _option(value, label, False), _option(value, label, True))
            for value, label in pairs)
    return Markup("".join(on if value == chosen else off for value, off, on in made))


def _option(value, label, selected: bool) -> str:
    return (f'<option value="{escape(value)}"{" selected" if selected else ""}>'
            f"{escape(label)}</option>")


def percent(value) -> str:
    return "—" if value is None else f"{value}%"


def pretty_json(value) -> str:
    """A payload as readable text, one key a line (plain text: the template escapes it)."""
    import json

    if not isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "\n".join(f"{key}: {json.dumps(value[key], ensure_ascii=False)}"
                     for key in sorted(value))


def register(app: Flask) -> None:
    app.jinja_env.filters.update(money=money, day=day, moment=moment, iso_day=iso_day,
                                 percent=percent, pretty_json=pretty_json, state_tag=state_tag,
                                 options=options)
    app.jinja_env.globals.update(_=template_gettext, gettext=template_gettext,  # after Babel
                                 page_url=page_url)

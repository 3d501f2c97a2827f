"""The queue page's rows (我的任务, the team queue, my other cases) as HTML, made in Python.

The page lists some forty rows of ten cells. As a Jinja loop each cell's value went through an
attribute lookup, a filter, escaping and four nested generators (the include inside the block
inside the base page): a row cost 34 µs and the rows 45% of the request's instructions. Made
here a row costs 11 µs, and the whole request 23.2 M instructions instead of 33.2 M (valgrind,
2026-11-24). Everything around the rows - the tables and their heads, the sections, the page -
stays in the templates (queue.html, partials/queue_table.html). Every value from the database
is escaped; the rest are our own words, numbers and links.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from . import fmt
from .labels import translated


class QueueRows:
    """Makes the rows of one page (the templates' `queue_rows()`: one a page), with what every
    row shares looked up once: the language, the task names and the buttons' words, the
    links' stems."""

    def __init__(self) -> None:
        _ = fmt.template_gettext  # the templates' _(): one catalogue lookup
        self.language = fmt.locale_name()
        self.zh = self.language.startswith("zh")
        self.kinds = translated.TASKS
        self.case_link = fmt.id_link("web.case_detail", "case_id")
        self.claim_link = fmt.id_link("web.claim_task", "task_id")
        self.done_link = fmt.id_link("web.complete_task", "task_id")
        self.done, self.done_title = _("Done"), _("Mark the task as done")
        self.claim, self.review = _("Claim"), _("Fill in the outcome review")

    def case_cells(self, row) -> str:
        """Case, debtor, place, stage and money: the cells both kinds of row have."""
        money, zh = row.money, self.zh
        risk = (f'<span class="warn">{fmt.money(money.at_risk)}</span>' if money.at_risk
                else "—")
        return (
            f'<td><a href="{self.case_link(row.case_id)}">'
            f"{escape(row.number)}</a></td>\n"
            f"    <td>{escape(row.debtor)}</td>\n"
            f'    <td class="hide-sm">{escape(row.community)}<br>'
            f"<small>{escape('、'.join(row.places))}</small></td>\n"
            f"    <td>{fmt.state_tag(row.state, self.language)}</td>\n"
            f'    <td class="num">{fmt.money(money.outstanding)}</td>\n'
            f'    <td class="num hide-sm">{fmt.day(money.oldest_due, zh)}</td>\n'
            f'    <td class="num hide-sm">{risk}</td>')

    def action(self, row, claim: bool) -> str:
        """A task row's last cell: claim it (the team queue), fill in the outcome review, or
        mark it done; the buttons post the page's one form, "row-action", to their URL."""
        if claim:
            return (f'<td><button type="submit" form="row-action" formaction="'
                    f'{self.claim_link(row.task_id)}" '
                    f'class="secondary">{self.claim}</button></td>')
        if row.kind == "outcome_review":
            return (f'<td class="noprint"><a href="'
                    f'{self.case_link(row.case_id)}#review">'
                    f"{self.review}</a></td>")
        return (f'<td class="noprint"><button type="submit" form="row-action" formaction="'
                f'{self.done_link(row.task_id)}" '
                f'class="secondary" title="{self.done_title}">{self.done}</button></td>')

    def tasks(self, rows, claim: bool) -> Markup:
        """Task rows (queries.QueueRow): the task and its kind, the case cells, when it is due
        and what can be done with it."""
        lines = []
        for row in rows:
            kind = self.kinds.get(row.kind)
            named = f"<br><small>{escape(kind)}</small>" if kind and kind != row.title else ""
            lines.append(
                f'<tr class="{row.section}" data-case="{int(row.case_id)}">\n'
                f"    <td>{escape(row.title)}{named}</td>\n"
                f"    {self.case_cells(row)}\n"
                f"    <td>{fmt.moment(row.due_at, self.zh)}</td>\n"
                f"    {self.action(row, claim)}\n  </tr>\n")
        return Markup("".join(lines))

    def cases(self, rows) -> Markup:
        """"My other cases" rows: the case cells alone."""
        return Markup("".join(
            f'<tr data-case="{int(row.case_id)}">{self.case_cells(row)}</tr>\n' for row in rows))


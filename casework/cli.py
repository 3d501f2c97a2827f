"""Flask CLI commands: audit verify, diagram, seed-demo, create-user."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
import sqlalchemy as sa
from flask import Flask

from .extensions import db


def register_cli(app: Flask) -> None:
    app.cli.add_command(audit_group)
    app.cli.add_command(diagram)
    app.cli.add_command(seed_demo)
    app.cli.add_command(create_user)
    app.cli.add_command(sweep_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(templates_group)
    app.cli.add_command(letters_group)


@click.group("audit")
def audit_group() -> None:
    """The audit chain."""


@audit_group.command("verify")
@click.option("--case", "case_ids", multiple=True, type=int, help="Only these case ids.")
def audit_verify(case_ids: tuple[int, ...]) -> None:
    """Recompute every case's hash chain; exit 1 and name the first broken link."""
    from .audit import verify_all

    checked, broken = verify_all(list(case_ids) or None)
    if broken:
        click.echo(f"BROKEN: {broken[0]}", err=True)
        for link in broken[1:]:
            click.echo(f"also broken: {link}", err=True)
        sys.exit(1)
    click.echo(f"OK: {checked} events verified, chain intact.")


@click.command("diagram")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "md"]), default="mermaid")
@click.option("--case", "case_id", type=int, help="Highlight this case's current state.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to a file.")
def diagram(fmt: str, case_id: int | None, output: str | None) -> None:
    """The dunning workflow as Mermaid or a Markdown transition table."""
    from workflows.diagram import render

    state = None
    if case_id is not None:
        from .models import DunningCase

        case = db.session.get(DunningCase, case_id)
        if case is None:
            raise click.ClickException(f"case {case_id} does not exist")
        state = case.state
    text = render(fmt, state)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text)


@click.command("seed-demo")
@click.option("--units", default=520, show_default=True)
@click.option("--cases", default=160, show_default=True)
@click.option("--seed", default=20261123, show_default=True)
def seed_demo(units: int, cases: int, seed: int) -> None:
    """Seed a demo estate (idempotent: does nothing when demo data exists) and print logins."""
    from .seed import seed as run_seed

    logins = run_seed(units=units, cases=cases, seed=seed, now=datetime.now(UTC))
    if logins is None:
        click.echo("Demo data already present; nothing changed.")
        from .seed import DEMO_LOGINS
        logins = DEMO_LOGINS
    click.echo("Logins (username / password / role):")
    for username, password, role in logins:
        click.echo(f"  {username:<12} {password:<14} {role}")


@click.command("create-user")
@click.argument("username")
@click.option("--name", default=None)
@click.option("--role", "roles", multiple=True, required=True)
@click.password_option()
def create_user(username: str, name: str | None, roles: tuple[str, ...], password: str) -> None:
    """Create a staff user with roles."""
    from .models import StaffUser

    if db.session.scalar(sa.select(StaffUser).where(StaffUser.username == username)):
        raise click.ClickException(f"user {username} exists")
    user = StaffUser(username=username, display_name=name or username)
    try:
        user.roles = roles
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"created {username}")


def _parse_now(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO date-time: {value}", param_hint="--now") from exc
    if moment.tzinfo is None:
        from zoneinfo import ZoneInfo

        moment = moment.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return moment.astimezone(UTC)


@click.command("sweep")
@click.option("--now", "now_text", help="Pretend it is this moment (ISO; naive = Shanghai).")
@click.option("--inline", is_flag=True, help="Run the due work here instead of through RQ.")
@click.option("--every", type=int, default=0, help="Repeat every N seconds until stopped.")
@click.option("--batch", type=int, default=None,
              help="Timers a job (default: sweep.TIMERS_PER_JOB).")
def sweep_command(now_text: str | None, inline: bool, every: int, batch: int) -> None:
    """Claim due timers and queued messages and hand them to the workers."""
    import time

    from .queues import get_queue
    from .sweep import TIMERS_PER_JOB, sweep

    batch = batch or TIMERS_PER_JOB
    while True:
        now = _parse_now(now_text) or datetime.now(UTC)
        queue = None if inline else get_queue("dunning")
        result = sweep(now, batch=batch, queue=queue, inline=inline)
        errors = f"; errors: {result.errors}" if result.errors else ""
        click.echo(f"{now.isoformat()} swept {result.timers} timers, {result.messages} messages,"
                   f" {result.documents} documents in {len(result.jobs)} jobs{errors}"
                   + (f"; {result.balances} case balances recomputed" if result.balances else ""))
        if not every:
            if result.errors:
                sys.exit(1)
            return
        time.sleep(every)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--queue", "queues", multiple=True, help="Queues to listen on (default: all).")
def worker_command(burst: bool, queues: tuple[str, ...]) -> None:
    """An RQ worker with the app loaded and the scheduler on (retries, scheduled jobs)."""
    from flask import current_app
    from rq import Worker

    from . import jobs
    from .queues import QUEUES, redis_connection

    jobs.use_app(current_app._get_current_object())
    if not queues or "documents" in queues:
        from documents.render import warm_templates

        warm_templates()  # compiled once here, inherited by every forked job
    db.engine.dispose()  # forked jobs open their own connections
    worker = Worker(list(queues or QUEUES), connection=redis_connection())
    worker.work(burst=burst, with_scheduler=True)


def _staff(username: str | None):
    if not username:
        return None  # the operator at the shell acts as the system
    from .models import StaffUser

    user = db.session.scalar(sa.select(StaffUser).where(StaffUser.username == username))
    if user is None:
        raise click.ClickException(f"no user {username}")
    return user


@click.group("templates")
def templates_group() -> None:
    """Letter templates: upload a new version, list versions."""


@templates_group.command("upload")
@click.argument("kind")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--by", "username", help="The admin uploading it (default: the system).")
def templates_upload(kind: str, file: str, username: str | None) -> None:
    """Validate FILE (.docx) and make it the active template of KIND."""
    from .letters import upload_template
    from .services.errors import ServiceError

    with open(file, "rb") as fh:
        data = fh.read()
    try:
        row = upload_template(kind, data, _staff(username))
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{kind}: version {row.version} active (sha256 {row.sha256[:12]})")


@templates_group.command("list")
def templates_list() -> None:
    """Every kind with its active version, then every uploaded version."""
    from documents.contexts import TEMPLATES

    from .models import BUILTIN_VERSION, TemplateVersion

    rows = db.session.scalars(sa.select(TemplateVersion).order_by(
        TemplateVersion.kind, TemplateVersion.id)).all()
    active = {r.kind: r.version for r in rows if r.active}
    for kind in TEMPLATES:
        click.echo(f"{kind:<27} active {active.get(kind, BUILTIN_VERSION)}")
    for r in rows:
        mark = "*" if r.active else " "
        click.echo(f"{mark} {r.kind:<25} {r.version:<14} {r.sha256[:12]} "
                   f"{r.created_at:%Y-%m-%d %H:%M}")


@click.group("letters")
def letters_group() -> None:
    """Letters: batches, progress, evidence packs, re-rendering."""


@letters_group.command("batch")
@click.option("--building", "building_id", type=int, help="All open cases of this building.")
@click.option("--case", "case_ids", type=int, multiple=True, help="These cases.")
@click.option("--kind", default="payment_demand", show_default=True)
@click.option("--inline", is_flag=True, help="Render here instead of through RQ.")
def letters_batch(building_id: int | None, case_ids: tuple[int, ...], kind: str,
                  inline: bool) -> None:
    """Render the latest letter of KIND of each case into one zip; prints the job id."""
    from .services.errors import ServiceError

    if building_id is None and not case_ids:
        raise click.UsageError("give --building or --case")
    if inline:
        from .letters import run_batch

        result = run_batch(building_id=building_id, case_ids=list(case_ids), kind=kind)
        click.echo(f"{result['done']}/{result['total']} done, {len(result['failed'])} failed; "
                   f"zip: {result['path']}")
        for failure in result["failed"]:
            click.echo(f"  failed: case {failure['case']}: {failure['error']}")
        return
    from .letters import start_batch

    try:
        batch = start_batch(building_id=building_id, case_ids=list(case_ids), kind=kind)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    except Exception as exc:  # noqa: BLE001  Redis down or unset
        raise click.ClickException(f"could not enqueue the batch: {exc}") from exc
    click.echo(batch.job_id)


@letters_group.command("progress")
@click.argument("job_id")
def letters_progress(job_id: str) -> None:
    """Progress of a batch job: done/total, failures, and the zip when finished."""
    from .models import DocumentBatch

    progress, status = None, None
    try:
        from rq.job import Job

        from .queues import redis_connection

        job = Job.fetch(job_id, connection=redis_connection())
        status = job.get_status(refresh=True)
        progress = job.get_meta(refresh=True).get("progress")
    except Exception as exc:  # noqa: BLE001  expired from Redis, or Redis is down
        click.echo(f"(no job in Redis: {exc.__class__.__name__})", err=True)
    batch = db.session.scalar(sa.select(DocumentBatch).where(DocumentBatch.job_id == job_id))
    if progress is None and batch is not None:
        progress = {"done": batch.done, "total": batch.total, "failed": batch.failed}
    if progress is None:
        raise click.ClickException(f"no batch job {job_id}")
    state = getattr(status, "value", status) or (batch.status if batch else "?")
    click.echo(f"{job_id}: {state}, {progress['done']}/{progress['total']} done, "
               f"{len(progress['failed'])} failed")
    for failure in progress["failed"]:
        click.echo(f"  failed: case {failure.get('case')}: {failure.get('error')}")
    if batch is not None and batch.path:
        from .storage import path_of

        click.echo(f"zip: {path_of(batch.path)}")


@letters_group.command("evidence")
@click.argument("case_id", type=int)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False))
def letters_evidence(case_id: int, output: str) -> None:
    """Write the court evidence pack of a case (evidence list, statement, letters and proofs,
    contact log) as one zip."""
    from .letters import evidence_pack_for
    from .services.errors import ServiceError

    try:
        data = evidence_pack_for(case_id)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    with open(output, "wb") as fh:
        fh.write(data)
    click.echo(f"wrote {output} ({len(data)} bytes)")


@letters_group.command("retry")
@click.argument("document_id", type=int)
def letters_retry(document_id: int) -> None:
    """Queue a failed letter again (after its data or the policy was fixed)."""
    from .letters import retry_document
    from .services.errors import ServiceError

    try:
        retry_document(document_id)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"document {document_id} is pending again; the sweep renders it")


# --- data in and out (issue 6): imports, API tokens, exports ------------------------------------

SUMMARY_LABELS = {
    "rows": "数据行", "communities_new": "新小区", "buildings_new": "新楼栋",
    "units_new": "新房号",
    "units_updated": "面积更新", "debtors_new": "新业主", "channels_added": "新增联系方式",
    "lines_new": "新欠费记录", "lines_updated": "更新的欠费记录", "lines_unchanged": "未变化",
    "payments": "登记缴费", "cases_opened": "新立案", "cases_extended": "追加到已有案件",
    "warnings": "提示", "payments_new": "新缴费", "payments_known": "已登记（跳过）",
    "cases": "涉及案件", "cases_settled": "将结清的案件",
}


def _print_import(result, report: str | None, source: str) -> None:
    """Print an import's preview or result; on refusal write the error report and exit 1."""
    import os

    if not result.ok:
        click.echo(f"REFUSED: {len(result.errors)} error(s); nothing was written.", err=True)
        for e in result.errors[:20]:
            where = f"第{e.row}行" if e.row else "文件"
            click.echo(f"  {where} [{e.column}] {e.value!r}: {e.reason}", err=True)
        if len(result.errors) > 20:
            click.echo(f"  … and {len(result.errors) - 20} more", err=True)
        path = report or os.path.splitext(source)[0] + ".errors.csv"
        with open(path, "wb") as fh:
            fh.write(result.error_report())
        click.echo(f"error report: {path}", err=True)
        sys.exit(1)
    head = "DRY RUN (nothing written)" if result.dry_run else "IMPORTED"
    click.echo(f"{head} in {result.seconds:.2f}s")
    for key, value in result.summary.items():
        click.echo(f"  {SUMMARY_LABELS.get(key, key):<10} {key:<16} {value}")
    for w in result.warnings[:20]:
        click.echo(f"  提示 第{w.row}行 [{w.column}] {w.value}: {w.reason}")
    if result.dry_run:
        for key, items in result.samples.items():
            for item in items[:5]:
                click.echo(f"  {key}: {item}")


def _mapping_option(mapping: str | None, pairs: tuple[str, ...]):
    if not pairs:
        return mapping
    if mapping:
        raise click.UsageError("give --mapping or --map, not both")
    out = {}
    for pair in pairs:
        field, sep, header = pair.partition("=")
        if not sep or not field.strip() or not header.strip():
            raise click.BadParameter(f"expected field=header, got {pair!r}", param_hint="--map")
        out[field.strip()] = header.strip()
    return out


@click.command("import-ledger")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--community", "community_code", help="The community (code) of every row.")
@click.option("--mapping", help="A saved column mapping (name).")
@click.option("--map", "pairs", multiple=True, help="field=header, e.g. unit=户号 (repeatable).")
@click.option("--save-mapping", help="Save the --map pairs under this name first.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--report", type=click.Path(dir_okay=False), help="Where to write the error report.")
@click.option("--by", "username", help="The importing staff user (default: the system).")
def import_ledger_command(file: str, community_code: str | None, mapping: str | None,
                          pairs: tuple[str, ...], save_mapping: str | None, dry_run: bool,
                          report: str | None, username: str | None) -> None:
    """Import a ledger (.xlsx or .csv, Chinese headers); refused files write nothing."""
    from .imports import import_ledger
    from .imports import save_mapping as store_mapping
    from .services.errors import ServiceError

    chosen = _mapping_option(mapping, pairs)
    user = _staff(username)
    try:
        if save_mapping:
            if not isinstance(chosen, dict):
                raise click.UsageError("--save-mapping needs --map pairs")
            store_mapping(save_mapping, chosen, user)
            click.echo(f"saved mapping {save_mapping}")
        result = import_ledger(file, community_code=community_code, mapping=chosen,
                               dry_run=dry_run, user=user)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    _print_import(result, report, file)


@click.command("import-payments")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--community", "community_code", help="The community (code) of every row.")
@click.option("--mapping", help="A saved column mapping (name).")
@click.option("--map", "pairs", multiple=True, help="field=header (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--report", type=click.Path(dir_okay=False), help="Where to write the error report.")
def import_payments_command(file: str, community_code: str | None, mapping: str | None,
                            pairs: tuple[str, ...], dry_run: bool, report: str | None) -> None:
    """Record the payments of a file, once per 流水号; refused files write nothing."""
    from .imports import import_payments
    from .services.errors import ServiceError

    try:
        result = import_payments(file, community_code=community_code,
                                 mapping=_mapping_option(mapping, pairs), dry_run=dry_run)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    _print_import(result, report, file)


@click.command("create-token")
@click.argument("username")
@click.option("--label", default="", help="What the token is for.")
def create_token_command(username: str, label: str) -> None:
    """Print a new API token for USERNAME (shown once; only its sha256 is stored)."""
    from .api import create_token
    from .services.errors import ServiceError

    try:
        click.echo(create_token(_staff(username), label=label))
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc


@click.command("export")
@click.argument("kind", type=click.Choice(["cases", "contacts", "payments", "histories"]))
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False))
@click.option("--as", "username", help="Export what this user may see (default: everything).")
def export_command(kind: str, fmt: str, output: str, username: str | None) -> None:
    """Export cases, contacts, payments or case histories as CSV (UTF-8 BOM) or XLSX."""
    from .exports import export

    result = export(kind, fmt, _staff(username))
    with open(output, "wb") as fh:
        fh.write(result.data)
    click.echo(f"wrote {output}: {result.rows} rows")


_register_cli_before_io = register_cli


def register_cli(app: Flask) -> None:  # noqa: F811  (extends the registration above)
    _register_cli_before_io(app)
    for command in (import_ledger_command, import_payments_command, create_token_command,
                    export_command):
        app.cli.add_command(command)

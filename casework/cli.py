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
@click.option("--batch", type=int, default=500, show_default=True)
def sweep_command(now_text: str | None, inline: bool, every: int, batch: int) -> None:
    """Claim due timers and queued messages and hand them to the workers."""
    import time

    from .queues import get_queue
    from .sweep import sweep

    while True:
        now = _parse_now(now_text) or datetime.now(UTC)
        queue = None if inline else get_queue("dunning")
        result = sweep(now, batch=batch, queue=queue, inline=inline)
        click.echo(f"{now.isoformat()} swept {result.timers} timers, {result.messages} messages"
                   f" in {len(result.jobs)} jobs" + (f"; errors: {result.errors}"
                                                     if result.errors else ""))
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
    db.engine.dispose()  # forked jobs open their own connections
    worker = Worker(list(queues or QUEUES), connection=redis_connection())
    worker.work(burst=burst, with_scheduler=True)

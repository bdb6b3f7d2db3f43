"""The `thidua` command: the top of the house. Each subcommand imports what it runs
inside its function, so `thidua --help` is quick and a process loads only its own part
(`thidua.bootstrap` builds each one from the settings)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Optional

import typer

from thidua import logs
from thidua.settings import get_settings

app = typer.Typer(help="thidua: event-sourced tracking of emulation campaign targets.", no_args_is_help=True)
users_app = typer.Typer(help="Manage API users.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
projections_app = typer.Typer(help="Read models.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(projections_app, name="projections")


def _setup_logging(log_format: str | None = None) -> None:
    settings = get_settings()
    logs.configure(settings.log_level, log_format or settings.log_format, stream=sys.stderr)


@app.command()
def up() -> None:
    """Start everything: embedded services, worker, projector, API, demo data."""
    _setup_logging("text")  # this console is for people; the children log as configured
    from thidua.up import main  # lazily: see the module's docstring

    raise typer.Exit(main(get_settings()))


@app.command()
def worker() -> None:
    """Run the Temporal worker (target workflows and their activities)."""
    _setup_logging()
    from thidua.bootstrap import run_worker  # lazily: see the module's docstring

    asyncio.run(run_worker(get_settings()))


@app.command()
def projector() -> None:
    """Run the projector that keeps the read models up to date."""
    _setup_logging()
    from thidua.bootstrap import run_projector  # lazily: see the module's docstring

    run_projector(get_settings())


@app.command()
def api() -> None:
    """Serve the HTTP API."""
    _setup_logging()
    from thidua.bootstrap import serve_api  # lazily: see the module's docstring

    serve_api(get_settings())


@app.command()
def demo() -> None:
    """Load the Vĩnh Yên 2022 demo campaign (when the store is empty)."""
    _setup_logging()
    from thidua.demo import main  # lazily: see the module's docstring

    raise typer.Exit(main(get_settings()))


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Option(help="Display name")],
    role: Annotated[str, typer.Option(help="secretariat | standing_committee | unit_head | inspector")],
    unit: Annotated[Optional[str], typer.Option(help="Unit id (unit heads only)")] = None,
    login: Annotated[Optional[str], typer.Option(help="Login for the web pages")] = None,
    email: Annotated[Optional[str], typer.Option(help="E-mail address")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON as the last line")] = False,
) -> None:
    """Create a user; print its token and its activation link (each shown once)."""
    _setup_logging()
    from thidua.bootstrap import create_user  # lazily: see the module's docstring

    result = create_user(get_settings(), name=name, role=role, unit_id=unit, login=login, email=email)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        typer.echo(f"user {result['id']} ({result['role']}) token: {result['token']}")
        typer.echo(f"activation link (72 hours, one use): {result['activation_url']}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain from the event store; exit 1 when it is broken."""
    _setup_logging()
    from thidua.bootstrap import verify_audit  # lazily: see the module's docstring

    result = verify_audit(get_settings())
    typer.echo(json.dumps(result))
    raise typer.Exit(0 if result["ok"] else 1)


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[Optional[str], typer.Argument(help="One read model; all when omitted")] = None,
) -> None:
    """Rebuild read models into new tables and swap them in one transaction."""
    _setup_logging()
    from thidua.bootstrap import rebuild_projections  # lazily: see the module's docstring

    raise typer.Exit(rebuild_projections(get_settings(), name))


if __name__ == "__main__":  # pragma: no cover
    app()

"""``rtad``: the console script. It only wires each service's commands together.

Heavy libraries (Spark, scikit-learn) are imported inside the commands, so ``rtad --help``
stays fast. Expected failures become one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import logging
import sys

import typer
from pydantic import ValidationError
from typer.exceptions import TyperException

from rtad import __version__
from rtad.common.errors import RtadError

app = typer.Typer(
    name="rtad",
    help="Real-time anomaly detection for bank card transactions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from rtad.cli import up
    from rtad.generator import cli as generator_cli
    from rtad.ml import cli as ml_cli
    from rtad.scorer import cli as scorer_cli
    from rtad.streaming import cli as streaming_cli

    app.command("generate")(generator_cli.generate)
    app.command("replay")(generator_cli.replay)
    app.command("label")(generator_cli.label)
    app.command("stream")(streaming_cli.stream)
    app.command("serve")(scorer_cli.serve)
    app.command("train")(ml_cli.train)
    app.command("compare")(ml_cli.compare)
    app.command("export")(generator_cli.export)
    app.command("up")(up.up)


def _print_version(requested: bool) -> None:
    if requested:
        typer.echo(f"rtad {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Real-time anomaly detection for bank card transactions."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


_register()


def main() -> None:
    """Console entry point."""
    try:
        code = app(standalone_mode=False)
    except TyperException as exc:  # a bad option or argument: one line, not a usage box
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "rtad"
        typer.echo(f"rtad: error: {exc.format_message()} (see {where} --help)", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("rtad: interrupted", err=True)
        sys.exit(130)
    except RtadError as exc:
        typer.echo(f"rtad: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        typer.echo(f"rtad: error: invalid setting {where}: {first.get('msg')}", err=True)
        sys.exit(2)
    except FileNotFoundError as exc:
        typer.echo(f"rtad: error: no such file: {exc.filename or exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("rtad: interrupted", err=True)
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()

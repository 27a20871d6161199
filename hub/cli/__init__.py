"""The ``burgerhub`` command line. Each group lives in its own module; plugins add commands by hook."""

from __future__ import annotations

import logging
import sys

import click

from ..errors import HubError
from ..plugins import make_plugin_manager
from . import actions, db, organisations, participants, report, routes, serve, system


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", "config_path", envvar="BURGERHUB_CONFIG", type=click.Path(dir_okay=False),
              help="TOML configuration file (default: embedded defaults, data in ./var).")
@click.option("--verbose", "-v", is_flag=True, help="Log more.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """burgerhub: reach the participants near an incident over every channel that fits."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


for module in (serve, routes, participants, actions, system, db, organisations, report):
    module.register(cli)


def main(argv: list[str] | None = None) -> None:
    pm, report = make_plugin_manager()
    for impl in pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as e:  # a broken plugin must not break the CLI
            click.echo(f"warning: plugin {pm.get_name(impl.plugin)} could not add its commands: {e}", err=True)
    try:
        cli.main(args=argv, prog_name="burgerhub", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except HubError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)

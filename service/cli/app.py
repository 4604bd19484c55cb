"""The `switchyard` command: serve, models, predict, probe, bench, stream, load, unload, index, profile, quantize.

One grammar: client commands take --target/-t HOST:PORT (env SWITCHYARD_TARGET), the model
is a positional argument, --json means JSON on stdout instead of the table. The base install
(grpcio, protobuf, numpy, typer, rich) runs the client commands: `serve` imports the server
stack and `stream` the video stack only when they run. Every failure is one line on stderr
(service/cli/errors.py); `switchyard --debug ...` adds the traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer

from service import __version__
from service.cli.bench import bench
from service.cli.errors import invocation, run_guarded
from service.cli.probe_view import probe
from service.cli.profile import profile
from service.cli.quantize import quantize
from service.cli.query import models, predict
from service.cli.repository_admin import index, load, unload
from service.cli.serve import ServeCommand, serve
from service.cli.stream import stream


class SwitchyardApp(typer.Typer):
    """Calling the app (the console script does) runs it behind the one-line error handler."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        main(kwargs.get("args"))


app = SwitchyardApp(
    help="Switchyard: one gRPC Predict API in front of every accelerator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"switchyard {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show the traceback of an error")] = False,
) -> None:
    invocation.debug = debug


app.command(cls=ServeCommand)(serve)
app.command()(models)
app.command()(predict)
app.command()(probe)
app.command()(bench)
app.command()(stream)
app.command()(load)
app.command()(unload)
app.command()(index)
app.command()(profile)
app.command()(quantize)


def main(args: Sequence[str] | None = None) -> NoReturn:
    run_guarded(app, args)

"""The `scangrade` command. Each area registers its own subcommands from its own module;
heavy imports (JAX, OpenCV) happen inside the commands so `--help` stays instant."""

from dataclasses import dataclass
from importlib import import_module

import typer

# Modules under api/cli/ that add commands; each defines register(groups: CommandGroups).
COMMAND_MODULES = ("reader", "sheets", "pipeline", "grading", "service")


@dataclass(frozen=True)
class CommandGroups:
    root: typer.Typer
    eval: typer.Typer  # `scangrade eval ...`: accuracy figures, JSON
    bench: typer.Typer  # `scangrade bench ...`: speed figures, JSON


def build_app() -> typer.Typer:
    root = typer.Typer(
        name="scangrade",
        help="Grade scanned answer sheets of hand-written digits.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    groups = CommandGroups(
        root=root,
        eval=typer.Typer(help="Measure accuracy; prints JSON.", no_args_is_help=True),
        bench=typer.Typer(help="Measure speed; prints JSON.", no_args_is_help=True),
    )
    root.add_typer(groups.eval, name="eval")
    root.add_typer(groups.bench, name="bench")
    for name in COMMAND_MODULES:
        try:
            module = import_module(f"api.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"api.cli.{name}":
                raise
            continue  # that area has not landed yet
        module.register(groups)
    return root


def main() -> None:
    build_app()()

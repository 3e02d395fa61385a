"""Every subcommand of the command line, in one static table.

Each row: the name typed after ``main.py``, a one-line help, the function that declares its arguments on
an argparse parser, and the function that runs it with the parsed arguments (returning the exit status).
``core.cli`` builds its parser from this table and dispatches through it; ``main.py`` asks it which first
words are subcommands. To add a command, add a module with those two functions and a row here.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

from core import fewshot_cli, inpaint_cli, material_cli


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None] | None  # None: the command takes none
    run: Callable[[argparse.Namespace], int]


COMMANDS: tuple[Command, ...] = (
    Command("inpaint", "fill the white part of MASK in IMAGE", inpaint_cli.add_inpaint_args,
            inpaint_cli.run_inpaint),
    Command("engines", "list engines and their capabilities", None, inpaint_cli.run_engines),
    Command("inpaint-material", "repair every map of material folders (one set or several) with a mask",
            material_cli.add_args, material_cli.run),
    Command("train-fewshot", "train a few-shot engine's weights on a folder of images", fewshot_cli.add_args,
            fewshot_cli.run),
)
BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}

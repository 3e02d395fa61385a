"""The headless command line: the parser built from ``core.commands.COMMANDS`` and ``main``, which runs one
subcommand of DESIGN.md's CLI contract.

Bad input -> exit 2 with one ``error:`` line on stderr and nothing written; out of memory or any other
failure (an engine raising mid-run) -> exit 1 with one ``error:`` line, no traceback unless REWEAVE_TRACEBACK
is set. Progress goes to stderr; on success the only thing printed on stdout is the output path.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

from core.cli_common import EXIT_FAIL, EXIT_USAGE
from core.commands import BY_NAME, COMMANDS
from core.errors import Cancelled, UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        raise UserError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="main.py", description="Reweave: inpainting that learns from the image itself")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help)
        if command.add_arguments is not None:
            command.add_arguments(p)
    return parser


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        return BY_NAME[args.command].run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (Cancelled, KeyboardInterrupt):
        print("error: cancelled; nothing written", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try a smaller image or hole, or the 'fast' preset", file=sys.stderr)
        return EXIT_FAIL
    except Exception as exc:  # an engine failing mid-run, or a bug: one line, exit 1 (outputs are written atomically)
        if os.environ.get("REWEAVE_TRACEBACK"):
            traceback.print_exc()
        print(f"error: unexpected {type(exc).__name__}: {exc} (REWEAVE_TRACEBACK=1 shows where)", file=sys.stderr)
        return EXIT_FAIL

"""The command line: ``python -m ndic <command> ...`` (also installed as ``ndic``).

One module per command in this package, each with ``add_arguments(parser, name)`` and
``run(args, name) -> int``; the modules only parse flags and call the package (``ndic.train``,
``ndic.evaluate``, ...), so the work itself never depends on the command line.

Errors: the project's own errors (a bad configuration, a missing file, a damaged bitstream, a full
disk, ...) and mistyped flags are printed as one line, ``ndic <command>: error: <what and how to fix
it>``, with exit status 2; ``--debug`` (before or after the command) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import importlib
import os
import re
import sys

# command -> (module, one-line help); modules are imported only when their command runs
COMMANDS = {
    "compress": ("ndic.cli.coding", "compress an image to a self-describing bitstream file"),
    "decompress": ("ndic.cli.coding", "decode a bitstream file to a PNG"),
    "train": ("ndic.cli.train", "train a model (papers' recipes; single GPU, CPU or torchrun DDP)"),
    "evaluate": ("ndic.cli.evaluate", "real-bitstream evaluation of a model on a dataset"),
    "baselines": ("ndic.cli.baselines", "run classical codecs (BPG, VVC, JPEG, ...) over a dataset"),
    "sweep": ("ndic.cli.sweep", "papermill commands for every lambda of a paper's profile"),
}
USAGE_ERROR = 2
# where each command writes: the fix of a full disk or a folder it may not write to
OUTPUT_FLAGS = {"train": "--out-dir DIR", "evaluate": "--out FILE or --out-dir DIR", "compress": "-o FILE",
                "decompress": "-o FILE", "baselines": "--out DIR", "sweep": "--out-dir DIR"}  # fmt: skip
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistyped flag is one line naming the closest flag, not thirty lines of usage."""

    def error(self, message: str):
        if message.startswith("unrecognized arguments"):  # a mistyped flag: the closest of this command's
            flags = [option for action in self._actions for option in action.option_strings]
            words = [word for word in message.split(": ", 1)[1].split() if word.startswith("-")]
        else:  # a mistyped command or choice: the closest of the choices argparse lists
            choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
            words = [choice.group(1)] if choice else []
            flags = re.findall(r"'([^']*)'", choice.group(2)) if choice else []
        close = next((match for word in words for match in difflib.get_close_matches(word, flags, n=1)), None)
        hint = f" (did you mean {close}?)" if close else ""
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}{hint}; see {self.prog} --help\n")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that describe a user's mistake or the machine's state, not a bug of the project."""
    return (ValueError, KeyError, OSError, FloatingPointError, TypeError, RuntimeError)


def _message(error: BaseException, command: str = "") -> str:
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    if isinstance(error, OSError) and error.errno in _DISK_FULL | _NOT_WRITABLE:
        text = _machine_message(error, OUTPUT_FLAGS.get(command, "another output folder"))
    elif isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text = f"{text}: {error.filename}"
    return " ".join(str(text).split()) or type(error).__name__


def _machine_message(error: OSError, flag: str) -> str:
    """A full disk or a folder that may not be written: what happened, where, and the fix."""
    where = ""
    if error.filename:
        path = os.fspath(error.filename)
        name = os.path.basename(path)
        if name.startswith(".") and name.endswith(".tmp"):  # ndic.io's temporary: the folder says more
            path = os.path.dirname(path) or "."
        where = f" ({path})"
    what = error.strerror or str(error)
    if error.errno in _DISK_FULL:
        return f"{what}{where}: free some space, or write elsewhere with {flag}"
    return f"{what}{where}: check its permissions, or write elsewhere with {flag}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser = OneLineParser(prog="ndic", description="Learned image compression with side information.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    if argv[0] not in COMMANDS:
        parser.parse_args(argv[:1])  # argparse names the valid commands and exits with status 2
        return USAGE_ERROR
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    command = OneLineParser(prog=f"ndic {name}", description=COMMANDS[name][1])
    command.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    module.add_arguments(command, name)
    args = command.parse_args(argv[1:])
    try:
        return int(module.run(args, name) or 0)
    except _user_errors() as error:
        if debug:
            raise
        print(f"ndic {name}: error: {_message(error, name)} (--debug shows the traceback)", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"ndic {name}: interrupted", file=sys.stderr)
        return 130

"""Command line: ``python -m ndic <command> ...`` (also installed as ``ndic``).

Each command lives in the module that does the work; that module provides
``add_arguments(parser, name)`` and ``run(args, name) -> int`` (``name`` is the command). Modules are
imported only when their command runs, so ``python -m ndic --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, one-line help)
COMMANDS = {
    "compress": ("ndic.bitstream", "compress an image to a self-describing bitstream file"),
    "decompress": ("ndic.bitstream", "decode a bitstream file to a PNG"),
    "train": ("ndic.train", "train a model (papers' recipes; single GPU, CPU or torchrun DDP)"),
    "evaluate": ("ndic.evaluate", "real-bitstream evaluation of a model on a dataset"),
    "baselines": ("ndic.codecs.runner", "run classical codecs (BPG, VVC, JPEG, ...) over a dataset"),
    "sweep": ("ndic.sweep", "papermill commands for every lambda of a paper's profile"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="ndic", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser.print_help() if not argv or argv[0] in ("-h", "--help") else parser.parse_args(argv[:1])
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    command = argparse.ArgumentParser(prog=f"ndic {name}", description=COMMANDS[name][1])
    module.add_arguments(command, name)
    args = command.parse_args(argv[1:])
    return int(module.run(args, name) or 0)


if __name__ == "__main__":
    sys.exit(main())

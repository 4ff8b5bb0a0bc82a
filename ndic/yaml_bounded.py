"""Reading YAML that a user hands over (configuration files, papermill and CLI values) without a hang.

PyYAML's ``safe_load`` constructs only plain types, but an alias (``*name``) reuses the node of its
anchor (``&name``): ten lines of nested aliases (the "billion laughs") describe 9**10 values. Parsing
them is cheap; everything that then walks the result (a copy, a dump, a repr) runs for hours and
fills the memory. :func:`load` counts the values the document expands to on the composed node graph,
once per distinct node, before anything is constructed, and refuses more than :data:`MAX_VALUES`.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_VALUES = 100_000  # a configuration holds hundreds of values; aliases may not multiply them beyond this


class YamlError(ValueError):
    """A YAML text that cannot be read: a syntax error (with its line), or aliases that expand too far."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that checks the expanded size of the document before constructing it."""

    source = "YAML"

    def construct_document(self, node):
        self._expanded_size(node, {}, set())
        return super().construct_document(node)

    def _expanded_size(self, node, sizes: dict[int, int], open_nodes: set[int]) -> int:
        """Values under ``node`` with every alias expanded (memoised per node: linear in the text)."""
        if id(node) in sizes:
            return sizes[id(node)]
        line = node.start_mark.line + 1
        if id(node) in open_nodes:  # an anchor used inside itself: infinite once expanded
            raise YamlError(f"{self.source}: the value at line {line} refers to itself through an alias")
        open_nodes.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [item for pair in node.value for item in pair]
        else:
            children = []
        size = 1 + sum(self._expanded_size(child, sizes, open_nodes) for child in children)
        open_nodes.discard(id(node))
        if size > MAX_VALUES:
            raise YamlError(
                f"{self.source} expands through its aliases (*name) to more than {MAX_VALUES} values "
                f"at line {line}; write the values out instead of repeating aliases"
            )
        sizes[id(node)] = size
        return size


def load(text: str, source: str = "YAML") -> Any:
    """The value of a YAML text (plain types only, aliases bounded); ``source`` names it in errors."""
    loader = _BoundedLoader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise YamlError(f"{source} is not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    except RecursionError:
        raise YamlError(f"{source} nests its values too deeply to be read") from None
    finally:
        loader.dispose()

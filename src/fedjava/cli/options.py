"""A command's options, declared once: in the options dataclass that its library function takes (TRL's
HfArgumentParser pattern). :func:`add_options` adds one argparse argument per field, :func:`options_from` builds the
dataclass back from the parsed arguments.

A field ``name`` becomes the option ``--name`` (underscores as dashes) with the field's default; a field without a
default is a required option. Its annotation gives the type: ``str``, ``int``, ``float``, ``Path``, ``bool`` (a flag
that sets True, so its default must be False), ``X | None`` (an X, or None when not given) and ``Literal[...]`` (its
values are the choices); any other type is refused when the parser is built. The field's ``metadata`` says the rest,
as plain data, so the library never imports argparse:

- ``help``: the option's help text, plain text (a ``%`` is printed as it is); every option has one;
- ``metavar`` and ``choices``;
- ``flag``: the option's name when it is not ``--name`` (``--certs`` for ``certs_dir``);
- ``cli: False``: the field is no command-line option (a setting for the library's other callers).

The options whose shape no rule fits (a mutually exclusive group, a flag that sets False, an option several commands
share) a command declares itself: it names their fields in ``hand_written`` and gives their values to
:func:`options_from` where its argument has another name or meaning.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

Options = TypeVar("Options")

# The types an option's text is converted to; bool is a flag, so it is not among them.
VALUE_TYPES = (str, int, float, Path)


def cli_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of the options dataclass ``cls`` that are command-line options (hand-written ones included)."""
    return [f for f in dataclasses.fields(cls) if f.init and f.metadata.get("cli", True)]


def flag(field: dataclasses.Field) -> str:
    """The option's name: ``--field-name``, unless the field's metadata names another."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    hand_written: Iterable[str] = (),
    convert: Mapping[str, Callable[[str], Any]] | None = None,
) -> None:
    """Add to ``parser`` one argument per command-line option of the dataclass ``cls``, in the fields' order, except
    the ``hand_written`` fields that the command declares itself. ``convert``: a field's converter where the command
    has its own (a port number, with argparse's message for a bad one) instead of the annotation's type.

    Raises:
        TypeError: a field that cannot be an option (a type with no rule, a bool defaulting to True, no help text),
            or a name in ``hand_written`` or ``convert`` that is no field of ``cls``.
    """
    hand_written, convert = set(hand_written), dict(convert or {})
    unknown = (hand_written | set(convert)) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    hints = typing.get_type_hints(cls)
    for field in cli_fields(cls):
        if field.name not in hand_written:
            where = f"{cls.__name__}.{field.name}"
            parser.add_argument(
                flag(field), dest=field.name, **_argument(where, field, hints[field.name], convert.get(field.name))
            )


def options_from(cls: type[Options], args: argparse.Namespace, **values: Any) -> Options:
    """The dataclass ``cls`` from the parsed ``args``: each command-line option's value is the argument of the same
    name, unless ``values`` gives it (a hand-written option named otherwise: ``fix_check`` from ``--no-fix-check``);
    the fields that are no option keep their defaults unless ``values`` gives them."""
    for field in cli_fields(cls):
        if field.name not in values:
            if not hasattr(args, field.name):
                raise TypeError(
                    f"{cls.__name__}.{field.name}: the command has no argument of that name; "
                    "give its value to options_from"
                )
            values[field.name] = getattr(args, field.name)
    return cls(**values)


def _argument(where: str, field: dataclasses.Field, hint: Any, convert: Callable[[str], Any] | None) -> dict[str, Any]:
    """The keyword arguments of ``add_argument`` for ``field``, whose annotation is ``hint``."""
    meta = field.metadata
    if not meta.get("help"):
        raise TypeError(f"{where}: an option needs help text (metadata 'help'), or metadata 'cli': False")
    kwargs: dict[str, Any] = {"help": meta["help"].replace("%", "%%")}  # argparse would read % as a format
    default = _default(field)
    if default is dataclasses.MISSING:
        kwargs["required"] = True
    else:
        kwargs["default"] = default
    if hint is bool:
        if default is not False:
            raise TypeError(
                f"{where}: a bool option is a flag that sets True, so it must default to False "
                "(declare a flag that sets False by hand)"
            )
        return {**kwargs, "action": "store_true"}
    value_type, choices = _value_type(hint)
    if value_type is None:
        raise TypeError(
            f"{where}: no command-line option has the type {hint!r} (str, int, float, Path, bool, "
            "X | None or Literal[...]); give it metadata 'cli': False, or declare it by hand"
        )
    kwargs["type"] = convert or value_type
    choices = meta.get("choices", choices)
    if choices:
        kwargs["choices"] = choices
    metavar = meta.get("metavar") or (None if choices else flag(field).lstrip("-").replace("-", "_").upper())
    if metavar:
        kwargs["metavar"] = metavar
    return kwargs


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _value_type(hint: Any) -> tuple[type | None, list | None]:
    """(the type an option's text becomes, its choices or None) for an annotation; (None, None) for one with no
    rule. ``X | None`` is an X; ``Literal["a", "b"]`` is a str with those choices."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        hint = args[0] if args[1] is type(None) else args[1]
        args = typing.get_args(hint)
    if typing.get_origin(hint) is Literal and len({type(a) for a in args}) == 1 and type(args[0]) in VALUE_TYPES:
        return type(args[0]), list(args)
    return (hint, None) if hint in VALUE_TYPES else (None, None)

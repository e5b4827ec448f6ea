"""How the deployables' commands speak about their settings to an operator, in one place.

- `error_lines`: a settings class's ValidationError as one line per problem, naming the
  environment variable (or command-line option) and what is wrong; never the value, which may be
  a secret, and never pydantic's documentation URL (useless on an intranet).
- `settings_epilog`: the `--help` text listing every setting with its environment variable,
  default and description, generated from the class (the same source as docs/configuration.md).
- `add_setting_options` / `given_options`: a command line whose options are the settings
  (`--mqtt-port` for `mqtt_port`), each shown with a plain metavar, its default and variable.
"""

import argparse
import textwrap
from datetime import date
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

# pydantic's messages, said the way an operator reads them; other messages pass unchanged.
_PLAIN_MESSAGES = {
    "Field required": "required, but not set",
    "Extra inputs are not permitted": "unknown setting",
}


def env_name(settings: type[BaseSettings], field: str) -> str:
    """The environment variable of `field`, e.g. CENTRAL_REGISTRY_PATH."""
    return f"{settings.model_config.get('env_prefix', '')}{field}".upper()


def option_name(field: str) -> str:
    """The command-line option of `field` in a kebab-case CLI, e.g. --mqtt-port."""
    return "--" + field.replace("_", "-")


def error_lines(
    exc: ValidationError, settings: type[BaseSettings], *, options: bool = False
) -> list[str]:
    """One line per error: '<ENV_NAME>: <what is wrong>' ('--option / ENV_NAME' with `options`).

    Errors of a check across several fields (a model validator) name no single field; their
    message names the settings itself, so the line is the message alone.
    """
    lines = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        message = _PLAIN_MESSAGES.get(error["msg"], error["msg"])
        message = message.removeprefix("Value error, ")
        field = str(error["loc"][0]) if error["loc"] else ""
        if field in settings.model_fields:
            name = env_name(settings, field)
            if options:
                name = f"{option_name(field)} / {name}"
            lines.append(f"{name}: {message}")
        elif field:
            lines.append(f"{field}: {message}")
        else:
            lines.append(message)
    return lines


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    default = info.get_default(call_default_factory=True)
    if default is PydanticUndefined or default is None:
        return "unset"
    if isinstance(default, SecretStr):
        return "unset" if not default.get_secret_value() else "(secret)"
    if isinstance(default, tuple | list | frozenset | set):
        return ",".join(str(item) for item in default) or "empty"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, Enum):
        return str(default.value)
    if isinstance(default, Path | str):
        return str(default) or "empty"
    return str(default)


def _metavar(annotation: object) -> str:
    """A plain word for an option's value: PATH, N, NUMBER, YYYY-MM-DD, LIST or the choices."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    origin = get_origin(annotation)
    if origin is Literal:
        return "|".join(str(a) for a in args)
    if origin in (Union, UnionType) and len(args) == 1:
        return _metavar(args[0])
    if origin in (tuple, list, frozenset, set):
        return "LIST"
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return "|".join(str(member.value) for member in annotation)
        for kind, word in ((bool, "true|false"), (int, "N"), (float, "NUMBER"), (Path, "PATH")):
            if issubclass(annotation, kind):
                return word
        if issubclass(annotation, date):
            return "YYYY-MM-DD"
    return "TEXT"


# pydantic keeps Field(gt=..., ...) as annotated-types constraints, each with one of these.
_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def _bounds_text(info: FieldInfo) -> str:
    """The field's numeric bounds, e.g. 'allowed: >= 1, <= 65535'; empty when it has none."""
    parts = [
        f"{sign} {getattr(item, attribute)}"
        for item in info.metadata
        for attribute, sign in _BOUNDS
        if getattr(item, attribute, None) is not None
    ]
    return f"allowed: {', '.join(parts)}" if parts else ""


def setting_rows(settings: type[BaseSettings]) -> list[tuple[str, str, str, str]]:
    """(field, environment variable, default, description) of every setting, in class order;
    the description ends with the numeric bounds the class enforces."""
    rows = []
    for field, info in settings.model_fields.items():
        description = " ".join((info.description or "").split())
        bounds = _bounds_text(info)
        if bounds:
            description = f"{description} ({bounds})" if description else bounds
        rows.append((field, env_name(settings, field), _default_text(info), description))
    return rows


_INDENT = " " * 6  # a setting's description, under its name


def settings_epilog(settings: type[BaseSettings]) -> str:
    """`--help` epilog: every setting, its environment variable, default and meaning."""
    lines = ["settings (environment variable [default]):"]
    for _field, env, default, description in setting_rows(settings):
        lines.append(f"  {env} [{default}]")
        if description:
            lines.append(
                textwrap.fill(description, 79, initial_indent=_INDENT, subsequent_indent=_INDENT)
            )
    return "\n".join(lines)


def add_setting_options(
    parser: argparse.ArgumentParser,
    settings: type[BaseSettings],
    *,
    hidden: frozenset[str] = frozenset(),
) -> None:
    """One `--kebab-name VALUE` option per setting; values stay text, the class validates them.

    Options not given are absent from the parsed namespace, so environment variables still count
    for them. `hidden` fields are accepted but not shown in `--help`.
    """
    for field, env, default, description in setting_rows(settings):
        help_text = argparse.SUPPRESS
        if field not in hidden:
            help_text = f"{description} [{default}; {env}]".replace("%", "%%")
        parser.add_argument(
            option_name(field),
            dest=field,
            metavar=_metavar(settings.model_fields[field].annotation),
            default=argparse.SUPPRESS,
            help=help_text,
        )


def given_options(namespace: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (see `add_setting_options`)."""
    return dict(vars(namespace))

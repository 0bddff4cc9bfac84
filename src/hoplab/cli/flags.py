"""Click options generated from :mod:`hoplab.options`: one definition per setting.

``@setting_options("port", "browser")`` adds ``--port`` and ``--no-browser`` to a command with
the definitions' help, types and rules, and hands the command one ``command_line`` mapping
(profile key -> value given, or None) ready for :func:`hoplab.config.resolve`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from click.shell_completion import CompletionItem

from hoplab.cli.completion import profile_names
from hoplab.errors import ConfigError
from hoplab.options import OPTIONS, Option, check, default_text

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

F = TypeVar("F", bound="Callable[..., Any]")

if TYPE_CHECKING:
    _ParamType = click.ParamType[Any, Any]
else:  # click's types are generic only to type checkers
    _ParamType = click.ParamType


class SettingType(_ParamType):
    """A string or whole number checked by the definition's rule (the profile's rule too)."""

    def __init__(self, option: Option) -> None:
        self.option = option
        self.name = "integer" if option.kind is int else "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if self.option.kind is int and not isinstance(value, int):
            try:
                value = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a whole number", param, ctx)
        try:
            checked = check(self.option, value)
        except ConfigError as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            self.fail(f"{exc.detail}{hint}", param, ctx)
        return value if self.option.repeatable else checked

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        if self.option.local_file:
            return [CompletionItem(incomplete, type="file")]
        return []


def param_name(option: Option) -> str:
    """The Python parameter click passes the value as."""
    return f"no_{option.name}" if option.negated else option.name


def help_text(option: Option, override: str | None = None) -> str:
    """The definition's help, with its default and environment variable, for ``--help``."""
    text = override or (option.off_help if option.negated else "") or option.help
    default = default_text(option)
    if default and not option.negated:
        text += f" [default: {default}]"
    if option.env:
        text += f" [env: {option.env}]"
    return text


def click_option(option: Option, help_override: str | None = None) -> click.Option:
    """The click option for ``option`` (which must have flags)."""
    names = [*option.flag_names, param_name(option)]
    text = help_text(option, help_override)
    if option.kind is bool:
        return click.Option(names, is_flag=True, default=False, help=text)
    kind: _ParamType = click.Choice(option.choices) if option.choices else SettingType(option)
    return click.Option(
        names,
        type=kind,
        multiple=option.repeatable,
        default=None,
        metavar=option.metavar,
        help=text,
    )


def given_value(option: Option, value: Any) -> Any:
    """What click passed, as a command-line setting: None (or ()) when not given."""
    if option.kind is bool and option.negated:
        return False if value else None
    if option.repeatable:
        return tuple(value or ())
    return value


def setting_options(*names: str, helps: Mapping[str, str] | None = None) -> Callable[[F], F]:
    """Add the options named (profile keys) to a click command, from their definitions.

    The command receives ``command_line``: each name mapped to the value given on the command
    line, None (or ``()``) when it was not. ``helps`` overrides a help text for one command
    (``attach --port`` keeps the old port by default).
    """
    options = [OPTIONS[name] for name in names]
    for option in options:
        if not option.flag_names:
            raise ValueError(f"{option.name} is a profile key only: it has no flag")

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            command_line = {
                option.name: given_value(option, kwargs.pop(param_name(option)))
                for option in options
            }
            return func(*args, command_line=command_line, **kwargs)

        params: list[click.Parameter] = wrapper.__dict__.setdefault("__click_params__", [])
        # click lists parameters in the reverse of the order they were attached
        params.extend(
            click_option(option, (helps or {}).get(option.name)) for option in reversed(options)
        )
        return cast("F", wrapper)

    return decorate


def target_settings(func: F) -> F:
    """TARGET, ``--profile`` and every setting of ``up``: what ``up`` and ``doctor`` take alike."""

    func = setting_options(*(name for name, option in OPTIONS.items() if option.flag_names))(func)
    func = click.option(
        "-p",
        "--profile",
        shell_complete=profile_names,
        help="Use this profile (default: TARGET, if a profile has that name).",
    )(func)
    return click.argument("target", shell_complete=profile_names)(func)

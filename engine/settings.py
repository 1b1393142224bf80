"""Settings: what a run uses for each parameter of its command: a flag, the environment, the config or the default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import click
from click.core import ParameterSource

from goescape.engine.config import KEYS, Config, _toml


@dataclass(frozen=True)
class Settings:
    """What a run uses for each of its command's parameters, and where each came from."""

    values: Mapping[str, object]
    sources: Mapping[str, str]  # "flag --verify", "environment GOESCAPE_GO", the config's path, "default"
    config: Path | None

    def __getitem__(self, name: str) -> object:
        return self.values[name]


_FROM_USER = (
    ParameterSource.COMMANDLINE,
    ParameterSource.ENVIRONMENT,
    ParameterSource.PROMPT,
)


def effective(ctx: click.Context, config: Config) -> Settings:
    """Each parameter of `ctx.command`: a flag or environment variable, else the config, else the default."""
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for param in ctx.command.params:
        name = param.name
        if name is None or not param.expose_value or name not in ctx.params:
            continue
        source = ctx.get_parameter_source(name)
        if source in _FROM_USER:
            values[name], sources[name] = ctx.params[name], _describe(ctx, param, source)
        elif name in config.values:
            values[name], sources[name] = config.values[name], str(config.path)
        else:
            values[name], sources[name] = ctx.params[name], "default"
    return Settings(MappingProxyType(values), MappingProxyType(sources), config.path)


def _describe(ctx: click.Context, param: click.Parameter, source: ParameterSource) -> str:
    if source is ParameterSource.PROMPT:
        return "prompt"
    if source is ParameterSource.ENVIRONMENT:
        names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or ())
        if not names and ctx.auto_envvar_prefix and param.name:
            names = [f"{ctx.auto_envvar_prefix}_{param.name.upper()}"]
        name = next((n for n in names if n in os.environ), names[0] if names else "")
        return f"environment {name}".rstrip()
    if isinstance(param, click.Argument):
        return f"argument {param.human_readable_name}"
    # Click does not keep the spelling used; for an on/off pair the value tells which side it was.
    opts = param.secondary_opts if param.secondary_opts and ctx.params[param.name or ""] is False else param.opts
    return "flag " + max(opts, key=lambda opt: (opt.startswith("--"), len(opt)))


def rows(settings: Settings) -> list[tuple[str, str, str]]:
    """(TOML key, value as TOML writes it, source) for each key the command has, in the file's order."""
    return [
        (key, _shown(key, settings.values[param]), settings.sources[param])
        for key, param in KEYS.items()
        if param in settings.values
    ]


def _shown(key: str, value: object) -> str:
    if key == "codemods" and not value:
        return "(the defaults)"  # the codemods `goescape list` marks on by default
    return _toml(value)

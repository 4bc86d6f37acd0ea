"""``dllab secrets``: your named credentials (S3 keys, say), which nobody reads back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dllab.cli.client import Api, table


@click.group("secrets", invoke_without_command=True)
@click.pass_context
def secrets(ctx: click.Context) -> None:
    """List your secrets and their keys (subcommands set and remove them). Values are
    stored encrypted and never shown again."""
    if ctx.invoked_subcommand is None:
        rows = [{**s, "keys": ", ".join(s["keys"])} for s in _all(Api.from_config())]
        click.echo(table(rows, ["name", "keys", "updated_at"]))


@secrets.command("set")
@click.argument("name")
@click.argument("pairs", nargs=-1, required=True, metavar="KEY=VALUE...")
def secrets_set(name: str, pairs: tuple[str, ...]) -> None:
    """Keep KEY=VALUE pairs as secret NAME, replacing all its data if it exists.

    A value on the command line stays in your shell's history: give KEY=@FILE to read the
    value from FILE instead (one trailing newline dropped), e.g.

    \b
      dllab secrets set s3 ACCESS_KEY=@ak.txt SECRET_KEY=@sk.txt
    """
    data = dict(_pair(p) for p in pairs)
    if len(data) < len(pairs):
        raise click.BadParameter("a KEY is given twice", param_hint="KEY=VALUE")
    api = Api.from_config()
    if any(s["name"] == name for s in _all(api)):
        answer = api.call("PUT", f"/secrets/{name}", json={"data": data})
        done = "replaced"
    else:
        answer = api.call("POST", "/secrets", json={"name": name, "data": data})
        done = "created"
    click.echo(f"Secret {name} {done} (keys {', '.join(answer['keys'])}).")


@secrets.command("remove")
@click.argument("name")
def secrets_remove(name: str) -> None:
    """Delete your secret NAME."""
    Api.from_config().call("DELETE", f"/secrets/{name}")
    click.echo(f"Secret {name} removed.")


def _all(api: Api) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = api.call("GET", "/secrets", params={"offset": len(found), "limit": 500})
        found += page["data"]
        if not page["data"] or len(found) >= page["count"]:
            return found


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{text.partition('=')[0]!r}: expected KEY=VALUE or "
                                 "KEY=@FILE", param_hint="KEY=VALUE")
    if value.startswith("@"):
        try:
            value = Path(value[1:]).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise click.BadParameter(f"{key}: cannot read {value[1:]!r}: {why}",
                                     param_hint="KEY=@FILE") from exc
        value = value.removesuffix("\n").removesuffix("\r")
    return key, value

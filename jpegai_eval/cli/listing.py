"""``jpegai-eval plugins``: each plugin with its hooks and what it registered, and every
registered object with where it came from."""

from __future__ import annotations

import json
from typing import TypedDict

import click

from jpegai_eval.cli.registration import plugin_commands
from jpegai_eval.framework.api.plugins import REGISTER_HOOKS, Plugins, get_plugins


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List codecs, tasks, anchors and report writers, with the plugin each came from."""
    info = describe_plugins()
    click.echo(json.dumps(info, indent=2) if as_json else format_plugins(info))


def commands_by_plugin(plugins: Plugins) -> dict[str, list[str]]:
    """The command names each plugin's ``register_commands`` adds (built-in commands
    are lazy: listing them imports no command module)."""
    added: dict[str, list[str]] = {}
    for registered in plugin_commands(plugins):
        added.setdefault(registered.plugin, []).append(registered.name)
    return {plugin: sorted(names) for plugin, names in added.items()}


class PluginInfo(TypedDict):
    """A plugin: its distribution, the hooks it implements and what it registered."""

    name: str
    distribution: dict[str, str]
    hooks: list[str]
    registered: dict[str, list[str]]


class Origin(TypedDict):
    """Where a registered object came from: its plugin and that plugin's distribution."""

    plugin: str
    distribution: dict[str, str]


class CodecInfo(Origin):
    id: str
    aliases: list[str]
    backend: str
    qualities: list[int]
    compressed_domain: bool
    available: bool
    unavailable_reason: str | None
    description: str


class TaskInfo(Origin):
    id: str
    description: str
    presets: list[str]


class AnchorInfo(Origin):
    id: str
    title: str
    domain: str
    train_on: str
    eval_on: str


class WriterInfo(Origin):
    id: str
    description: str
    outputs: list[str]


class MetricInfo(Origin):
    id: str
    higher_is_better: bool
    unit: str
    convention: str
    sets: list[str]
    available: bool
    unavailable_reason: str | None
    description: str


class PluginListing(TypedDict):
    """``jpegai-eval plugins --json``."""

    plugins: list[PluginInfo]
    codecs: list[CodecInfo]
    tasks: list[TaskInfo]
    anchors: list[AnchorInfo]
    report_writers: list[WriterInfo]
    metrics: list[MetricInfo]


def describe_plugin_list(plugins: Plugins) -> list[PluginInfo]:
    """Each plugin, in load order: its distribution, the hooks it implements and the
    ids it registered, by kind."""
    commands = commands_by_plugin(plugins)
    out = []
    for name in plugins.names():
        registered: dict[str, list[str]] = {}
        for kind in REGISTER_HOOKS:
            registry = plugins.registries[kind]
            registered[kind] = [registry.key(e.obj) for e in registry.entries() if e.plugin == name]
        registered["commands"] = commands.get(name, [])
        out.append(
            PluginInfo(
                name=name,
                distribution=plugins.distributions.get(name, {}),
                hooks=plugins.hooks_of(name),
                registered=registered,
            )
        )
    return out


def describe_plugins(plugins: Plugins | None = None) -> PluginListing:
    """The JSON shape of ``jpegai-eval plugins --json``."""
    plugins = plugins or get_plugins()
    codecs: list[CodecInfo] = [
        {
            "id": e.obj.id,
            "aliases": list(e.obj.aliases),
            "backend": e.obj.backend,
            "qualities": list(e.obj.qualities),
            "compressed_domain": e.obj.has_compressed_domain,
            "available": e.obj.unavailable_reason is None,
            "unavailable_reason": e.obj.unavailable_reason,
            "description": e.obj.description,
            "plugin": e.plugin,
            "distribution": e.distribution,
        }
        for e in plugins.codecs.entries()
    ]
    tasks: list[TaskInfo] = [
        {
            "id": e.obj.id,
            "description": e.obj.description,
            "presets": list(e.obj.presets),
            "plugin": e.plugin,
            "distribution": e.distribution,
        }
        for e in plugins.tasks.entries()
    ]
    anchors: list[AnchorInfo] = [
        {
            "id": e.obj.id,
            "title": e.obj.title,
            "domain": e.obj.domain,
            "train_on": e.obj.train_on,
            "eval_on": e.obj.eval_on,
            "plugin": e.plugin,
            "distribution": e.distribution,
        }
        for e in plugins.anchors.entries()
    ]
    writers: list[WriterInfo] = [
        {
            "id": e.obj.id,
            "description": e.obj.description,
            "outputs": list(e.obj.outputs),
            "plugin": e.plugin,
            "distribution": e.distribution,
        }
        for e in plugins.report_writers.entries()
    ]
    metrics: list[MetricInfo] = [
        {
            "id": e.obj.id,
            "higher_is_better": e.obj.higher_is_better,
            "unit": e.obj.unit,
            "convention": str(e.obj.convention),
            "sets": list(e.obj.sets),
            "available": e.obj.unavailable_reason is None,
            "unavailable_reason": e.obj.unavailable_reason,
            "description": e.obj.description,
            "plugin": e.plugin,
            "distribution": e.distribution,
        }
        for e in plugins.metrics.entries()
    ]
    return PluginListing(
        plugins=describe_plugin_list(plugins),
        codecs=codecs,
        tasks=tasks,
        anchors=anchors,
        report_writers=writers,
        metrics=metrics,
    )


def _origin(entry: Origin) -> str:
    dist = entry["distribution"]
    where = f"{dist.get('name', '?')} {dist.get('version', '')}".strip()
    return f"{entry['plugin']} ({where})"


def format_plugins(info: PluginListing) -> str:
    """A plain-text listing, one section per kind."""
    lines: list[str] = []
    lines.append("Plugins:")
    for p in info.get("plugins", []):
        dist = p["distribution"]
        where = f"{dist.get('name', '')} {dist.get('version', '')}".strip()
        lines.append(f"  {p['name']}" + (f" ({where})" if where else ""))
        lines.append(f"  {'':<4}hooks: {', '.join(p['hooks']) or '(none)'}")
        for kind, ids in p["registered"].items():
            if ids:
                lines.append(f"  {'':<4}{kind.replace('_', ' ')}: {', '.join(ids)}")
    lines.append("Codecs:")
    for c in info["codecs"]:
        qualities = ",".join(str(q) for q in c["qualities"])
        domain = " [compressed domain]" if c["compressed_domain"] else ""
        also = f" (also: {', '.join(c['aliases'])})" if c.get("aliases") else ""
        lines.append(f"  {c['id']:<27} {c['backend']:<11} q={qualities:<16}{domain}{also}")
        lines.append(f"  {'':<27} from {_origin(c)}")
        if not c["available"]:
            lines.append(f"  {'':<27} UNAVAILABLE: {c['unavailable_reason']}")
    lines.append("Tasks:")
    for t in info["tasks"]:
        lines.append(f"  {t['id']:<20} {t['description']}")
        lines.append(f"  {'':<20} from {_origin(t)}")
    lines.append("Anchors:")
    for a in info["anchors"]:
        lines.append(f"  {a['id']:<20} {a['title']}")
        lines.append(f"  {'':<20} from {_origin(a)}")
    lines.append("Report writers:")
    for w in info["report_writers"]:
        lines.append(f"  {w['id']:<20} {w['description']}")
        lines.append(f"  {'':<20} from {_origin(w)}")
    lines.append("Metrics:")
    for m in info.get("metrics", []):
        sets = f" [{', '.join(m['sets'])}]" if m["sets"] else ""
        lines.append(f"  {m['id']:<20} {m['convention']}{sets}")
        if not m["available"]:
            lines.append(f"  {'':<20} UNAVAILABLE: {m['unavailable_reason']}")
    return "\n".join(lines)

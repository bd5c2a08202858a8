"""What ``jpegai-eval plugins`` shows: every registered object and where it came from."""

from __future__ import annotations

from typing import Any

from jpegai_eval.framework.plugins import Plugins, get_plugins


def describe_plugins(plugins: Plugins | None = None) -> dict[str, list[dict[str, Any]]]:
    """The JSON shape of ``jpegai-eval plugins --json``."""
    plugins = plugins or get_plugins()
    codecs = [
        {
            "id": e.obj.id,
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
    tasks = [
        {
            "id": e.obj.id,
            "description": e.obj.description,
            "presets": list(e.obj.presets),
            "plugin": e.plugin,
            "distribution": e.distribution,
        }
        for e in plugins.tasks.entries()
    ]
    anchors = [
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
    writers = [
        {
            "id": e.obj.id,
            "description": e.obj.description,
            "outputs": list(e.obj.outputs),
            "plugin": e.plugin,
            "distribution": e.distribution,
        }
        for e in plugins.report_writers.entries()
    ]
    return {"codecs": codecs, "tasks": tasks, "anchors": anchors, "report_writers": writers}


def _origin(entry: dict[str, Any]) -> str:
    dist = entry["distribution"]
    where = f"{dist.get('name', '?')} {dist.get('version', '')}".strip()
    return f"{entry['plugin']} ({where})"


def format_plugins(info: dict[str, list[dict[str, Any]]]) -> str:
    """A plain-text listing, one section per kind."""
    lines: list[str] = []
    lines.append("Codecs:")
    for c in info["codecs"]:
        qualities = ",".join(str(q) for q in c["qualities"])
        domain = " [compressed domain]" if c["compressed_domain"] else ""
        lines.append(f"  {c['id']:<20} {c['backend']:<11} q={qualities:<16}{domain}")
        lines.append(f"  {'':<20} from {_origin(c)}")
        if not c["available"]:
            lines.append(f"  {'':<20} UNAVAILABLE: {c['unavailable_reason']}")
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
    return "\n".join(lines)

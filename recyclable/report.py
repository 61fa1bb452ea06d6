"""The report page: one self-contained HTML file with the step graph of a run or a pool.

The page holds its data as JSON in a ``<script type="application/json">``
element and a small inline script that draws the graph as SVG: one node per
step (coloured loaded / computed / failed, or stored for a pool's entries),
one edge per lineage link (an argument that another step returned).  Nodes
are laid out by level -- a step sits one row below the latest step that fed
it -- and a level wider than `ROW_NODES` wraps onto further rows, so a run
of thousands of steps stays a page that scrolls down.  Hovering a node shows its time,
size and argument values; clicking it pins them in a side panel and
highlights the steps it came from.  The totals, the time saved and the
slowest steps are plain HTML.  Nothing is fetched from the network: no CDN,
no font, no image.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recyclable.provenance import lineage_of
from recyclable.runtable import human_bytes, human_seconds, totals

if TYPE_CHECKING:
    from recyclable.manifest import Manifest
    from recyclable.pool import Pool
    from recyclable.steps import Step

__all__ = [
    "ROW_NODES",
    "layout",
    "nodes_from_entries",
    "nodes_from_steps",
    "render",
    "write_report",
]

#: Nodes side by side before a level wraps onto another row.
ROW_NODES = 6
NODE_W, NODE_H, GAP_X, GAP_Y, GAP_LEVEL, MARGIN = 180, 30, 14, 12, 22, 20
#: How many of the slowest steps the page lists.
SLOWEST = 10


def write_report(pool: Pool, path: str | os.PathLike[str]) -> Path:
    """Write the report of ``pool``'s run (or, when it ran nothing, its stored entries) to ``path``.

    Raises:
        OSError: the file cannot be written.

    """
    steps = pool.steps.snapshot()
    if steps:
        nodes = nodes_from_steps(steps)
        title = f"recyclable run in pool {pool.name}"
    else:
        nodes = nodes_from_entries(pool.entries())
        title = f"recyclable pool {pool.name}"
    target = Path(path)
    text = render(nodes, title=title, subtitle=f"cache {pool.cache.path}", steps=steps)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target


def nodes_from_steps(steps: Sequence[Step]) -> list[dict[str, Any]]:
    """One node per distinct call of a run (a call made twice is one node, with its count)."""
    nodes: dict[str, dict[str, Any]] = {}
    for step in steps:
        node = nodes.get(step.key)
        if node is not None:
            node["calls"] += 1
            continue
        nodes[step.key] = {
            "key": step.key,
            "action": step.action,
            "plugin": step.plugin,
            "state": step.state,
            "seconds": round(step.elapsed(), 6),
            "saved": round(step.saved, 6),
            "size": step.size,
            "values": [list(v) for v in step.values],
            "inputs": [list(i) for i in step.inputs],
            "parent": step.parent,
            "error": step.error,
            "calls": 1,
        }
    return list(nodes.values())


def nodes_from_entries(manifests: Iterable[Manifest]) -> list[dict[str, Any]]:
    """One node per stored entry, oldest first, with the lineage its manifest records."""
    nodes = []
    for manifest in manifests:
        lineage = lineage_of(manifest)
        size = manifest["stream"]["size"] + sum(b["size"] for b in manifest["buffers"])
        nodes.append(
            {
                "key": manifest["key"],
                "action": manifest.get("action", "?"),
                "plugin": manifest.get("plugin", "?"),
                "state": "stored",
                "seconds": float(manifest.get("compute_seconds", 0.0)),
                "saved": 0.0,
                "size": size,
                "values": [list(v) for v in lineage.get("values", [])],
                "inputs": [list(i) for i in lineage.get("inputs", [])],
                "parent": lineage.get("parent"),
                "error": None,
                "calls": 1,
                "created": manifest.get("created"),
            }
        )
    nodes.sort(key=lambda n: str(n.get("created") or ""))
    return nodes


def layout(nodes: list[dict[str, Any]]) -> tuple[list[list[str]], int, int]:
    """Give each node ``level``, ``x`` and ``y``; returns the edges and the drawing's size.

    A node's level is one more than the highest level of the nodes that fed
    it (0 without inputs in the graph).  Edges are ``[from key, to key,
    argument]`` for inputs whose producer is in the graph.
    """
    by_key = {node["key"]: node for node in nodes}

    def sources(key: str) -> list[str]:
        return [i[2] for i in by_key[key]["inputs"] if i[2] in by_key and i[2] != key]

    # Depth-first and iterative, so a chain of thousands of steps does not
    # hit the recursion limit; a (hand-made) cycle's back edge is ignored.
    level: dict[str, int] = {}
    visiting: set[str] = set()
    for node in nodes:
        if node["key"] in level:
            continue
        stack = [(node["key"], iter(sources(node["key"])))]
        visiting.add(node["key"])
        while stack:
            key, pending = stack[-1]
            for src in pending:
                if src not in level and src not in visiting:
                    visiting.add(src)
                    stack.append((src, iter(sources(src))))
                    break
            else:
                stack.pop()
                visiting.discard(key)
                level[key] = 1 + max((level[s] for s in sources(key) if s in level), default=-1)
    rows: dict[int, list[dict[str, Any]]] = {}
    for node in nodes:
        node["level"] = level[node["key"]]
        rows.setdefault(node["level"], []).append(node)
    # Levels run top to bottom (a page scrolls down); a level wider than
    # ROW_NODES wraps onto further rows.
    y = MARGIN
    widest = 1
    for lvl in sorted(rows):
        members = rows[lvl]
        for start in range(0, len(members), ROW_NODES):
            chunk = members[start : start + ROW_NODES]
            widest = max(widest, len(chunk))
            for column, node in enumerate(chunk):
                node["x"] = MARGIN + column * (NODE_W + GAP_X)
                node["y"] = y
            y += NODE_H + GAP_Y
        y += GAP_LEVEL
    width = MARGIN * 2 + widest * (NODE_W + GAP_X) - GAP_X
    height = y - GAP_LEVEL - GAP_Y + MARGIN
    edges = [
        [item[2], node["key"], item[0] + (item[1] or "")]
        for node in nodes
        for item in node["inputs"]
        if item[2] in by_key and item[2] != node["key"]
    ]
    return edges, width, height


def render(
    nodes: list[dict[str, Any]],
    *,
    title: str,
    subtitle: str = "",
    steps: Sequence[Step] = (),
) -> str:
    """The whole HTML page for ``nodes`` (see the module docstring)."""
    edges, width, height = layout(nodes)
    data = {"nodes": nodes, "edges": edges, "width": width, "height": height}
    # "</script" or "<!--" would end or derail the script element: an argument's
    # text is user data, so no "<", ">" or "&" appears raw in the JSON.
    payload = (
        json.dumps(data, separators=(",", ":"), default=str)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    summary = _summary_html(nodes, steps)
    # Ranked by compute time: a loaded step's is the time it saved.
    slowest = sorted(nodes, key=_compute_time, reverse=True)[:SLOWEST]
    slow_rows = "".join(
        f"<tr><td>{_e(n['action'])}</td><td>{_e(n['state'])}</td>"
        f"<td class=num>{_e(human_seconds(_compute_time(n)))}</td>"
        f"<td class=num>{_e(_size(n['size']))}</td><td><code>{_e(n['key'][:8])}</code></td></tr>"
        for n in slowest
    )
    return _PAGE.format(
        title=_e(title),
        subtitle=_e(subtitle),
        summary=summary,
        slow_rows=slow_rows,
        payload=payload,
        script=_SCRIPT,
        style=_STYLE,
    )


def _summary_html(nodes: list[dict[str, Any]], steps: Sequence[Step]) -> str:
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node["state"]] = counts.get(node["state"], 0) + 1
    parts = [f"<b>{len(nodes)}</b> step(s)"]
    parts += [
        f"<span class='chip {s}'>{counts[s]} {s}</span>"
        for s in ("loaded", "computed", "failed", "running", "stored")
        if counts.get(s)
    ]
    if steps:
        t = totals(steps)
        parts.append(f"time saved <b>{_e(human_seconds(t['seconds_saved']))}</b>")
        parts.append(f"computing <b>{_e(human_seconds(t['seconds_computing']))}</b>")
    else:
        total = sum(n["seconds"] for n in nodes)
        parts.append(f"stored compute time <b>{_e(human_seconds(total))}</b>")
    return " · ".join(parts)


def _compute_time(node: dict[str, Any]) -> float:
    return float(node["saved"] if node["state"] == "loaded" else node["seconds"])


def _size(size: int | None) -> str:
    return human_bytes(size) if isinstance(size, int) else "-"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_STYLE = """
body{font:14px system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{padding:12px 20px;background:#fff;border-bottom:1px solid #ddd}
h1{font-size:18px;margin:0 0 4px}
.sub{color:#666;font-size:12px}
main{display:flex;gap:12px;padding:12px 20px;align-items:flex-start}
#graphbox{flex:1;overflow:auto;max-height:75vh;background:#fff;border:1px solid #ddd}
aside{width:400px;flex:none}
#details{background:#fff;border:1px solid #ddd;padding:10px;min-height:80px;white-space:pre-wrap;
font:12px ui-monospace,monospace;overflow-wrap:anywhere}
.chip{padding:1px 6px;border-radius:8px;color:#fff}
.loaded,.node.loaded rect{background:#2e7d32;fill:#2e7d32}
.computed,.node.computed rect{background:#1565c0;fill:#1565c0}
.failed,.node.failed rect{background:#c62828;fill:#c62828}
.running,.node.running rect{background:#ef6c00;fill:#ef6c00}
.stored,.node.stored rect{background:#6a1b9a;fill:#6a1b9a}
.node{cursor:pointer}.node text{fill:#fff;font-size:12px;pointer-events:none}
.node.dim{opacity:.25}.node.sel rect{stroke:#000;stroke-width:3}
.edge{fill:none;stroke:#999;stroke-width:1.2}.edge.hot{stroke:#000;stroke-width:2}
table{border-collapse:collapse;background:#fff;margin-top:10px;width:100%}
td,th{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;font-size:12px;
white-space:nowrap}
.num{text-align:right}
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("recyclable-data").textContent);
  var NS = "http://www.w3.org/2000/svg", W = 180, H = 30;
  var svg = document.getElementById("graph");
  svg.setAttribute("width", data.width); svg.setAttribute("height", data.height);
  svg.setAttribute("viewBox", "0 0 " + data.width + " " + data.height);
  var byKey = {}, groups = {}, edgeEls = [];
  data.nodes.forEach(function (n) { byKey[n.key] = n; });
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    parent.appendChild(e); return e;
  }
  function secs(s) {
    if (s < 60) { return (s < 10 ? s.toFixed(2) : s.toFixed(0)) + " s"; }
    var m = Math.round(s / 60);
    return m < 60 ? m + " min" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function bytes(n) {
    if (n === null || n === undefined) { return "-"; }
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return i ? n.toFixed(1) + " " + u[i] : n + " B";
  }
  function describe(n) {
    var lines = [n.action + "  [" + n.state + "]", "key " + n.key,
      (n.state === "loaded" ? "loaded in " + secs(n.seconds) + ", saved " + secs(n.saved)
                            : "time " + secs(n.seconds)), "size " + bytes(n.size)];
    if (n.calls > 1) { lines.push("called " + n.calls + " times"); }
    if (n.values.length) { lines.push("arguments:"); }
    n.values.forEach(function (v) { lines.push("  " + v[0] + " = " + v[1]); });
    n.inputs.forEach(function (i) {
      var producer = byKey[i[2]];
      var from = producer ? producer.action : "entry " + i[2].slice(0, 12);
      lines.push("  " + i[0] + i[1] + " \u2190 " + from + (i[3] ? i[3] : ""));
    });
    if (n.parent && byKey[n.parent]) { lines.push("called by " + byKey[n.parent].action); }
    if (n.error) { lines.push("error: " + n.error); }
    return lines.join("\n");
  }
  var edgeLayer = el("g", {"class": "edges"}, svg);
  data.edges.forEach(function (e) {
    var a = byKey[e[0]], b = byKey[e[1]];
    var x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y, my = (y1 + y2) / 2;
    var d = "M" + x1 + "," + y1 + " C" + x1 + "," + my + " " + x2 + "," + my + " " + x2 + "," + y2;
    var p = el("path", {"class": "edge", "data-from": e[0], "data-to": e[1],
      "data-argument": e[2], "d": d}, edgeLayer);
    edgeEls.push(p);
  });
  var nodeLayer = el("g", {"class": "nodes"}, svg);
  data.nodes.forEach(function (n) {
    var g = el("g", {"class": "node " + n.state, "data-key": n.key, "data-state": n.state,
      "data-action": n.action, "transform": "translate(" + n.x + "," + n.y + ")"}, nodeLayer);
    el("title", {}, g).textContent = describe(n);
    el("rect", {"width": W, "height": H, "rx": 5}, g);
    var label = n.action.length > 22 ? n.action.slice(0, 21) + "\u2026" : n.action;
    var time = n.state === "loaded" ? "saved " + secs(n.saved) : secs(n.seconds);
    el("text", {"x": 8, "y": 19}, g).textContent = label + "  " + time;
    groups[n.key] = g;
    g.addEventListener("click", function () { select(n.key); });
  });
  function ancestors(key) {
    var seen = {}, stack = [key];
    while (stack.length) {
      var k = stack.pop();
      if (seen[k]) { continue; }
      seen[k] = true;
      (byKey[k] ? byKey[k].inputs : []).forEach(function (i) {
        if (byKey[i[2]]) { stack.push(i[2]); }
      });
    }
    return seen;
  }
  function select(key) {
    var keep = ancestors(key);
    Object.keys(groups).forEach(function (k) {
      groups[k].classList.toggle("dim", !keep[k]);
      groups[k].classList.toggle("sel", k === key);
    });
    edgeEls.forEach(function (p) {
      var on = !!keep[p.getAttribute("data-to")] && !!keep[p.getAttribute("data-from")];
      p.classList.toggle("hot", on);
    });
    document.getElementById("details").textContent = describe(byKey[key]);
  }
  document.body.setAttribute("data-rendered-nodes", String(data.nodes.length));
  document.body.setAttribute("data-rendered-edges", String(data.edges.length));
  var first = window.location.hash.slice(1);
  if (first && byKey[first]) { select(first); }
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'">
<title>{title}</title><style>{style}</style></head>
<body>
<header><h1>{title}</h1><div class="sub">{subtitle}</div><div>{summary}</div></header>
<main>
<div id="graphbox"><svg id="graph" xmlns="http://www.w3.org/2000/svg" role="img"
aria-label="step graph"></svg></div>
<aside><div id="details">Click a step for its details; hover for a summary.
Colours: <span class="chip loaded">loaded</span> <span class="chip computed">computed</span> \
<span class="chip failed">failed</span> <span class="chip stored">stored</span></div>
<table><thead><tr><th colspan=5>slowest steps</th></tr>
<tr><th>step</th><th>state</th><th class=num>compute</th><th class=num>size</th><th>key</th></tr>
</thead><tbody>{slow_rows}</tbody></table></aside>
</main>
<script type="application/json" id="recyclable-data">{payload}</script>
<script>{script}</script>
</body></html>
"""

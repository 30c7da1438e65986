"""The run timeline: one self-contained HTML page, one inline SVG chart per scenario.

How to read a chart: x is run seconds (the run's monotonic clock). Shaded bands are fault windows,
from injection to heal, labelled with the fault name (a band running to the right edge was never
healed); drill steps (backup, copy, disaster, restore, verify ...) are bands too, from invoke to completion. One lane per process (the nemesis first). Each op is one mark at its invoke time, its
height the latency in ms on a log scale (decades fitted to the data, values below the bottom decade
drawn on it); ops that never completed sit hollow at the top of their lane. Colour and shape give
the outcome: ok = green dot, fail = red square, info (indeterminate) = amber diamond. Attempts an
open-loop workload scheduled but could not send are violet ticks at the bottom of their lane, and
each lane is labelled per phase with the achieved rate against the asked one (red when under the
share that makes verdicts unknown); see ``not_sent_and_rates`` below. Verdict lines follow each chart. No scripts, no external assets; every piece of text is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Callable

from harness.history import NOT_SENT
from harness.report.records import RunRecord, ScenarioRecord, drill_bands, log_paths, shown_outcome

WIDTH, LEFT, RIGHT = 1100, 190, 16  # px
LANE_H, LANE_GAP, LABEL_ROW_H, AXIS_H, PENDING_STRIP = 64, 12, 16, 34, 8
TITLES_FOR_OK_UP_TO = 3000  # ok marks get hover titles only in charts smaller than this
COLOURS = {"ok": "#2e7d32", "fail": "#c62828", "info": "#e08600", "pending": "#616161"}
BANDS = ("#6a1b9a", "#1565c0", "#00838f", "#8d6e63", "#ad1457")


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class Mark:
    """One op as drawn: where, how long, how it ended."""

    process: str
    time_s: float
    latency_ms: float | None  # None: never completed
    kind: str  # ok | fail | info | pending
    title: str


def marks(ops: list[dict]) -> list[Mark]:
    """Each invoke paired with its completion (by invoke_index)."""
    done = {op.get("invoke_index"): op for op in ops if op.get("type") != "invoke"}
    out = []
    for op in ops:
        if op.get("type") != "invoke" or not isinstance(op.get("time"), (int, float)):
            continue
        end = done.get(op.get("index"))
        if end and end.get("type") == NOT_SENT:
            continue  # not an outcome: drawn by not_sent_and_rates
        latency = (end["time"] - op["time"]) * 1000 if end and isinstance(end.get("time"), (int, float)) \
            else None
        kind = end.get("type", "info") if end else "pending"
        kind = kind if kind in COLOURS else "info"
        took = f"{latency:.1f} ms" if latency is not None else "never completed"
        error = f": {end['error']}" if end and end.get("error") else ""
        out.append(Mark(str(op.get("process")), float(op["time"]), latency, kind,
                        f"{op.get('process')} {op.get('f')} {kind} at {op['time']:.3f} s, {took}{error}"))
    return out


def _step(span: float) -> float:
    raw = span / 10
    base = 10 ** math.floor(math.log10(raw))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= raw)


def _ms_label(ms: float) -> str:
    return f"{ms:g} ms" if ms < 1000 else f"{ms / 1000:g} s"


def render_svg(ops: list[dict], faults: list[dict], rates: dict | None = None) -> str:
    """The chart of one scenario, or a one-line note when it recorded nothing."""
    ms = marks(ops)
    skipped = not_sent_times(ops)
    if not ms and not faults and not skipped:
        return '<p class="empty">No operations or faults recorded.</p>'
    procs = sorted(dict.fromkeys([*(m.process for m in ms), *skipped]), key=lambda p: p != "nemesis")
    times = [t for ts in skipped.values() for t in ts] + [m.time_s for m in ms] + [m.time_s + m.latency_ms / 1000 for m in ms if m.latency_ms]
    times += [f[k] for f in faults for k in ("injected_at", "healed_at")
              if isinstance(f.get(k), (int, float))]
    t0, t1 = min(times, default=0.0), max(times, default=1.0)
    step = _step(max(t1 - t0, 1e-3))
    x_lo, x_hi = math.floor(t0 / step) * step, math.ceil(t1 / step) * step
    x_hi = x_hi if x_hi > x_lo else x_lo + step

    def x(t: float) -> float:
        return LEFT + (t - x_lo) / (x_hi - x_lo) * (WIDTH - LEFT - RIGHT)

    lat = [m.latency_ms for m in ms if m.latency_ms is not None]
    lo = max(-2, math.floor(math.log10(max(min(lat, default=1.0), 0.01))))
    hi = math.ceil(math.log10(max(max(lat, default=10.0), 0.01)))
    hi = hi if hi > lo else lo + 1

    # fault labels: greedy rows so overlapping labels do not collide
    rows: list[float] = []
    placed = []
    for i, f in enumerate(faults):
        if not isinstance(f.get("injected_at"), (int, float)):
            continue
        healed = f.get("healed_at")
        label = str(f.get("name")) + ("" if isinstance(healed, (int, float)) else " (not healed)")
        x0 = x(f["injected_at"])
        x1 = x(healed) if isinstance(healed, (int, float)) else x(x_hi)
        row = next((r for r, end in enumerate(rows) if end + 6 <= x0), len(rows))
        rows[row:row + 1] = [x0 + 6.5 * len(label) + 6]
        placed.append((i, f, label, x0, max(x1, x0 + 1), row))
    top = 8 + LABEL_ROW_H * max(len(rows), 1)
    height = top + len(procs) * (LANE_H + LANE_GAP) + AXIS_H
    bottom = top + len(procs) * (LANE_H + LANE_GAP) - LANE_GAP
    p = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
         f'role="img" aria-label="timeline">']
    lane_top = {}
    for n, proc in enumerate(procs):
        y0 = lane_top[proc] = top + n * (LANE_H + LANE_GAP)
        p.append(f'<rect x="{LEFT}" y="{y0}" width="{WIDTH - LEFT - RIGHT}" height="{LANE_H}" '
                 f'fill="{"#f4f4f4" if n % 2 == 0 else "#fafafa"}"/>')
        short = proc if len(proc) <= 22 else proc[:21] + "…"
        p.append(f'<text x="8" y="{y0 + LANE_H / 2 + 4}" class="lane"><title>{esc(proc)}</title>'
                 f'{esc(short)}</text>')
        for d in range(lo, hi + 1):
            yy = _y(10.0 ** d, y0, lo, hi)
            p.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>')
        every = 1 if (LANE_H - 3 - PENDING_STRIP) / (hi - lo) >= 12 else 2
        for d in [*range(lo, hi, every), hi]:
            p.append(f'<text x="{LEFT - 4}" y="{_y(10.0 ** d, y0, lo, hi) + 3:.1f}" class="tick" '
                     f'text-anchor="end">{esc(_ms_label(10.0 ** d))}</text>')
    for i, f, label, x0, x1, row in placed:
        colour = BANDS[i % len(BANDS)]
        p.append(f'<rect x="{x0:.1f}" y="{top - 2}" width="{x1 - x0:.1f}" height="{bottom - top + 4}" '
                 f'fill="{colour}" fill-opacity="0.13" stroke="{colour}" stroke-opacity="0.6" '
                 f'stroke-dasharray="4 3"><title>{esc(_fault_text(f))}</title></rect>')
        p.append(f'<text x="{x0 + 3:.1f}" y="{8 + LABEL_ROW_H * row + 11}" class="fault" '
                 f'fill="{colour}">{esc(label)}</text>')
    titles = len(ms) <= TITLES_FOR_OK_UP_TO
    for kind in ("ok", "info", "pending", "fail"):  # failures drawn last, on top
        for m in (m for m in ms if m.kind == kind):
            cx = x(m.time_s)
            cy = lane_top[m.process] + PENDING_STRIP / 2 if m.latency_ms is None \
                else _y(max(m.latency_ms, 10.0 ** lo), lane_top[m.process], lo, hi)
            title = f"<title>{esc(m.title)}</title>" if titles or kind != "ok" else ""
            p.append(_mark(kind, cx, cy, title))
    p += not_sent_and_rates(skipped, rates or {}, lane_top, x, x_lo, x_hi)
    y_axis = bottom + 4
    p.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y_axis}" y2="{y_axis}" class="axis"/>')
    t = x_lo
    while t <= x_hi + step / 2:
        p.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{y_axis}" y2="{y_axis + 4}" class="axis"/>'
                 f'<text x="{x(t):.1f}" y="{y_axis + 16}" class="tick" text-anchor="middle">'
                 f'{esc(f"{round(t, 6):g} s")}</text>')
        t += step
    p.append(f'<text x="8" y="{y_axis + 16}" class="tick">run seconds &#8594;</text>')
    p.append("</svg>")
    return "\n".join(p)


# -- open-loop workloads: attempts not sent, achieved rate per phase ------------------------------

NOT_SENT_COLOUR = "#7b1fa2"


def not_sent_times(ops: list[dict]) -> dict[str, list[float]]:
    """{process: scheduled times} of the attempts recorded not-sent."""
    invokes = {op.get("index"): op for op in ops if op.get("type") == "invoke"}
    out: dict[str, list[float]] = {}
    for op in ops:
        start = invokes.get(op.get("invoke_index"))
        if op.get("type") == NOT_SENT and start and isinstance(start.get("time"), (int, float)):
            out.setdefault(str(start.get("process")), []).append(float(start["time"]))
    return out


def not_sent_and_rates(skipped: dict[str, list[float]], rates: dict, lane_top: dict[str, float],
                       x: Callable[[float], float], x_lo: float, x_hi: float) -> list[str]:
    """Violet ticks for not-sent attempts; per phase, the achieved/asked rate label of each lane."""
    out = []
    for proc, times in skipped.items():
        if proc not in lane_top:
            continue
        y1 = lane_top[proc] + LANE_H - 2
        path = "".join(f"M{x(t):.1f} {y1:.1f}v-7" for t in times)
        out.append(f'<path d="{path}" stroke="{NOT_SENT_COLOUR}" stroke-width="1"><title>'
                   f'{esc(f"{proc}: {len(times)} attempts scheduled but not sent (every client busy)")}'
                   f'</title></path>')
    for proc, phases in rates.items():
        if proc not in lane_top or not isinstance(phases, dict):
            continue
        for phase, r in phases.items():
            if not isinstance(r, dict) or r.get("asked_hz") is None:
                continue
            lo = r.get("start") if isinstance(r.get("start"), (int, float)) else x_lo
            hi = r.get("end") if isinstance(r.get("end"), (int, float)) else x_hi
            cx = x((max(lo, x_lo) + min(hi, x_hi)) / 2)
            colour = COLOURS["fail"] if r.get("deficient") else "#555"
            text = f"{phase}: {r.get('achieved_hz'):.1f}/{r.get('asked_hz'):.1f} per s"
            title = f"{proc} {phase}: {r.get('sent')} of {r.get('scheduled')} scheduled attempts sent"
            out.append(f'<text x="{cx:.1f}" y="{lane_top[proc] + LANE_H - 12:.1f}" class="tick" '
                       f'text-anchor="middle" fill="{colour}"><title>{esc(title)}</title>{esc(text)}</text>')
    return out


def _y(ms: float, lane_y0: float, lo: int, hi: int) -> float:
    frac = (math.log10(ms) - lo) / (hi - lo)
    return lane_y0 + LANE_H - 3 - frac * (LANE_H - 3 - PENDING_STRIP)


def _mark(kind: str, cx: float, cy: float, title: str) -> str:
    c = COLOURS[kind]
    if kind == "ok":
        return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.2" fill="{c}" fill-opacity="0.7">{title}</circle>'
    if kind == "fail":
        return (f'<rect x="{cx - 2.8:.1f}" y="{cy - 2.8:.1f}" width="5.6" height="5.6" fill="{c}">'
                f'{title}</rect>')
    if kind == "info":
        return (f'<path d="M{cx:.1f} {cy - 3.6:.1f}l3.6 3.6l-3.6 3.6l-3.6-3.6z" fill="{c}">'
                f'{title}</path>')
    return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="none" stroke="{c}">{title}</circle>'


def _num(x: object) -> str:
    return f"{x:.3f} s" if isinstance(x, (int, float)) else "never"


def _fault_text(f: dict) -> str:
    held = ""
    if isinstance(f.get("injected_at"), (int, float)) and isinstance(f.get("healed_at"), (int, float)):
        held = f" (held {f['healed_at'] - f['injected_at']:.3f} s)"
    return (f"{f.get('name')}: {f.get('kind')} on {f.get('target')}, injected {_num(f.get('injected_at'))}, "
            f"healed {_num(f.get('healed_at'))}{held}")


LEGEND = (
    '<svg width="620" height="18" aria-label="legend">'
    + _mark("ok", 8, 9, "") + '<text x="16" y="13" class="tick">ok</text>'
    + _mark("fail", 48, 9, "") + '<text x="56" y="13" class="tick">fail</text>'
    + _mark("info", 92, 9, "") + '<text x="100" y="13" class="tick">info (indeterminate)</text>'
    + _mark("pending", 218, 9, "") + '<text x="226" y="13" class="tick">never completed</text>'
    + f'<rect x="330" y="3" width="22" height="12" fill="{BANDS[0]}" fill-opacity="0.13" '
      f'stroke="{BANDS[0]}" stroke-dasharray="4 3"/><text x="358" y="13" class="tick">fault window</text>'
    + f'<path d="M446 16v-7" stroke="{NOT_SENT_COLOUR}"/><text x="452" y="13" class="tick">not sent</text>'
    + "</svg>"
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#212121;margin:24px auto;
max-width:1140px;padding:0 12px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:16px;margin:28px 0 6px;font-family:ui-monospace,monospace}
.meta{color:#555;margin:2px 0}.go{color:#2e7d32;font-weight:700}.nogo{color:#c62828;font-weight:700}
.outcome{font:12px system-ui;padding:1px 6px;border-radius:3px;color:#fff;margin-left:8px;vertical-align:2px}
.passed{background:#2e7d32}.failed,.error{background:#c62828}.skipped{background:#757575}
.no-evidence{background:#b26a00}
.chart{max-width:100%;height:auto;display:block}
.chart text{font:11px system-ui,sans-serif}.lane{font-weight:600;fill:#333}.tick{fill:#666;font-size:10px}
.fault{font-weight:700}.grid{stroke:#e2e2e2}.axis{stroke:#999}
ul.v,ul.f{list-style:none;padding:0;margin:6px 0;font:12.5px/1.5 ui-monospace,monospace}
.v .pass{color:#2e7d32}.v .fail{color:#c62828}.v .unknown{color:#b26a00}.f li{color:#555}
.note{color:#555;font-style:italic}nav ol{font:12.5px ui-monospace,monospace;padding-left:20px}
"""


def _section(n: int, s: ScenarioRecord, verdict_line: Callable[[dict], str]) -> str:
    shown = shown_outcome(s)
    parts = [f'<section id="s{n}"><h2>{esc(s.id)}<span class="outcome {esc(shown.replace(" ", "-"))}">'
             f'{esc(shown)}</span></h2>',
             f'<p class="meta">{s.duration_s:.1f} s, {len(s.ops)} ops, {len(s.faults)} faults</p>']
    if s.skip_reason:
        parts.append(f'<p class="note">skipped: {esc(s.skip_reason)}</p>')
    if s.error:
        parts.append(f'<p class="note">error: {esc(s.error)}</p>')
    if s.logs:
        parts.append('<p class="logs">container logs: ' + ", ".join(
            f'<a href="{esc(path)}">{esc(service)}</a>' for service, path in log_paths(n, s).items()) + "</p>")
    parts.append(render_svg(s.ops, s.faults + drill_bands(s.ops), s.rates))   # drill steps are bands too
    if s.faults:
        parts.append('<ul class="f">' + "".join(f"<li>fault {esc(_fault_text(f))}</li>" for f in s.faults)
                     + "</ul>")
    parts.append('<ul class="v">' + "".join(
        f'<li class="{esc(v.get("validity"))}">{esc(verdict_line(v))}</li>' for v in s.verdicts)
        + ("" if s.verdicts else '<li class="note">no verdicts</li>') + "</ul></section>")
    return "\n".join(parts)


def render_html(run: RunRecord, *, verdict_line: Callable[[dict], str], status: str = "") -> str:
    """The whole timeline page for a (normalised) run record."""
    nav = "".join(f'<li><a href="#s{n}">{esc(s.id)}</a> {esc(shown_outcome(s))}</li>'
                  for n, s in enumerate(run.scenarios, start=1))
    status_html = (f'<span class="{"go" if status.startswith("GO") else "nogo"}">{esc(status)}</span>'
                   if status else "")
    return "\n".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>Timeline of run {esc(run.run_id)}</title><style>{CSS}</style></head><body>",
        f"<h1>Run {esc(run.run_id)} {status_html}</h1>",
        f'<p class="meta">seed {esc(run.seed)} &middot; {esc(run.started_at)} &rarr; '
        f'{esc(run.finished_at)} &middot; objectives {esc(run.objectives_file)}</p>',
        '<p class="meta">x = run seconds; y = op latency in ms, log scale, one lane per process; '
        'marks at invoke time; shaded bands = fault windows.</p>',
        LEGEND, f"<nav><ol>{nav}</ol></nav>",
        *(_section(n, s, verdict_line) for n, s in enumerate(run.scenarios, start=1)),
        "</body></html>\n",
    ])

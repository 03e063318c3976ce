"""The backtest's outputs: a text table, the JSON, and an HTML page with an inline SVG bar chart per section."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from shell.backtest import SIGNAL_HORIZON, BacktestResult

__all__ = ["as_json", "as_table", "write_html"]

_BLUE, _ORANGE, _GREY = "#2b6cb0", "#dd6b20", "#a0aec0"


def as_json(result: BacktestResult) -> str:
    """The documented JSON: signals (precision, recall, support), renewal (precision, recall, lift), model_version."""
    return json.dumps(result.as_json(), indent=2)


def as_table(result: BacktestResult) -> str:
    """Plain-text tables a terminal shows."""
    lines = [
        f"Backtest of model {result.model_version}, signals as of {result.as_of}",
        "",
        f"{'signal':<28} {'precision':>9} {'recall':>7} {'support':>8} {'false pos':>9} {'fired in org':>12}",
    ]
    for sid, m in result.signals.items():
        sc = result.signal_counts.get(sid, {})
        lines.append(
            f"{sid:<28} {m['precision']:>9.2f} {m['recall']:>7.2f} {m['support']:>8} "
            f"{sc.get('false_pos', 0):>9} {sc.get('fired_in_org', 0):>12}"
        )
    lines += [
        "",
        f"Red N days before a renewal -> lost renewal ({len(result.snapshots)} monthly as-of dates)",
        "",
        f"{'N days':>6} {'precision':>9} {'recall':>7} {'lift':>6} {'base rate':>9} {'renewals':>8} {'lost':>5} "
        f"{'Red':>5}",
    ]
    for n, m in result.renewal.items():
        c = result.renewal_counts.get(n, {})
        lines.append(
            f"{n:>6} {m['precision']:>9.2f} {m['recall']:>7.2f} {m['lift']:>6.2f} "
            f"{float(c.get('base_rate', 0)):>9.2f} {c.get('renewals', 0):>8} {c.get('lost', 0):>5} "
            f"{c.get('red', 0):>5}"
        )
    if result.renewal_signals:
        lines += [
            "",
            f"Each signal {SIGNAL_HORIZON} days before a renewal -> lost renewal (lift over the same base rate)",
            "",
            f"{'signal':<40} {'severity':>8} {'fired':>6} {'lost':>5} {'precision':>9} {'lift':>6}",
        ]
        for sid, m in result.renewal_signals.items():
            lines.append(
                f"{sid:<40} {m['severity']:>8} {m['fired']:>6} {m['lost']:>5} {m['precision']:>9.2f} "
                f"{m['lift']:>6.2f}"
            )
    return "\n".join(lines)


def _bars(
    groups: list[tuple[str, list[tuple[str, float, str]]]],
    title: str,
    max_value: float = 1.0,
    fmt: str = "{:.0%}",
) -> str:
    """A horizontal grouped bar chart: one row per group, one bar per (label, value, colour)."""
    bar_h, gap, left, width = 14, 10, 230, 420
    per_group = max((len(bars) for _, bars in groups), default=1) * bar_h + gap
    height = 40 + per_group * len(groups) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="0" y="18" font-weight="bold">{escape(title)}</text>',
    ]
    y = 34
    for name, bars in groups:
        out.append(
            f'<text x="{left - 8}" y="{y + bar_h}" text-anchor="end" font-size="12">{escape(name)}</text>'
        )
        for label, value, colour in bars:
            w = 0 if max_value <= 0 else max(0.0, min(1.0, value / max_value)) * width
            out.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{colour}">'
                f"<title>{escape(label)}: {escape(fmt.format(value))}</title></rect>"
            )
            out.append(
                f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 3}" font-size="11">'
                f"{escape(label)} {escape(fmt.format(value))}</text>"
            )
            y += bar_h
        y += gap
    out.append("</svg>")
    return "\n".join(out)


def write_html(result: BacktestResult, path: Path) -> Path:
    """Write the report (a chart per section, the numbers under it) and return its path."""
    signal_chart = _bars(
        [
            (sid, [("precision", m["precision"], _BLUE), ("recall", m["recall"], _ORANGE)])
            for sid, m in result.signals.items()
        ],
        "Does each warning find the planted problems (recall) without crying wolf on healthy accounts (precision)?",
    )
    top = max([m["lift"] for m in result.renewal.values()] + [2.0])
    renewal_chart = _bars(
        [
            (f"Red {n} days before renewal", [("lift over base rate", m["lift"], _BLUE)])
            for n, m in result.renewal.items()
        ],
        "How many times more often a Red account loses its renewal than an average one",
        max_value=top * 1.1,
        fmt="{:.2f}x",
    )
    rates = _bars(
        [
            (
                f"{n} days",
                [
                    ("lost when Red (precision)", m["precision"], _BLUE),
                    (
                        "lost overall (base rate)",
                        float(result.renewal_counts.get(n, {}).get("base_rate", 0)),
                        _GREY,
                    ),
                    ("lost renewals flagged Red (recall)", m["recall"], _ORANGE),
                ],
            )
            for n, m in result.renewal.items()
        ],
        "Lost renewals: Red accounts against all accounts",
    )
    per_signal = _bars(
        [
            (
                sid,
                [(f"{m['severity']}, fired {m['fired']}x", m["lift"], _ORANGE if m["lift"] < 1.5 else _BLUE)],
            )
            for sid, m in result.renewal_signals.items()
        ],
        f"Which warnings came before lost renewals ({SIGNAL_HORIZON} days ahead; 1.00x = no better than average)",
        max_value=max([m["lift"] for m in result.renewal_signals.values()] + [2.0]) * 1.1,
        fmt="{:.2f}x",
    )
    per_signal_rows = "".join(
        f"<tr><td>{escape(sid)}</td><td>{escape(str(m['severity']))}</td><td>{m['fired']}</td><td>{m['lost']}</td>"
        f"<td>{m['precision']:.2f}</td><td>{m['lift']:.2f}</td></tr>"
        for sid, m in result.renewal_signals.items()
    )
    rows = "".join(
        f"<tr><td>{escape(n)}</td><td>{m['precision']:.2f}</td><td>{m['recall']:.2f}</td><td>{m['lift']:.2f}</td>"
        f"<td>{float(result.renewal_counts.get(n, {}).get('base_rate', 0)):.2f}</td>"
        f"<td>{result.renewal_counts.get(n, {}).get('renewals', 0)}</td></tr>"
        for n, m in result.renewal.items()
    )
    sig_rows = "".join(
        f"<tr><td>{escape(sid)}</td><td>{m['precision']:.2f}</td><td>{m['recall']:.2f}</td><td>{m['support']}</td></tr>"
        for sid, m in result.signals.items()
    )
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Relationship-risk backtest</title>
<style>body{{font-family:sans-serif;max-width:820px;margin:2em auto;color:#1a202c}}
table{{border-collapse:collapse}}td,th{{padding:2px 10px;border-bottom:1px solid #e2e8f0;text-align:right}}
td:first-child,th:first-child{{text-align:left}}</style></head><body>
<h1>Relationship-risk backtest</h1>
<p>Model {escape(result.model_version)}; signals as of {escape(result.as_of)};
Red history from {len(result.snapshots)} monthly as-of dates.</p>
<h2>Signals against the planted scenarios</h2>
{signal_chart}
<table><tr><th>signal</th><th>precision</th><th>recall</th><th>support</th></tr>{sig_rows}</table>
<h2>Red before a renewal</h2>
<p>A renewal counts as flagged when its account was Red at the last monthly as-of date at least N days before the
renewal's close date.</p>
{renewal_chart}
{rates}
<table><tr><th>N days</th><th>precision</th><th>recall</th><th>lift</th><th>base rate</th><th>renewals</th></tr>{rows}
</table>
<h2>Each signal before a renewal</h2>
<p>How often the renewal was lost when the signal was live {SIGNAL_HORIZON} days before it; a mitigated firing (shown
one severity down) is counted apart. Orange: under 1.5x, which is what a mitigated firing or a positive signal should
show, and a reason to doubt a high-severity one. Few renewals behind a bar make it a weak estimate: see the counts.
The evidence for tuning a signal's severity in the rules.</p>
{per_signal}
<table><tr><th>signal</th><th>severity</th><th>renewals</th><th>lost</th><th>precision</th><th>lift</th></tr>
{per_signal_rows}</table>
</body></html>
"""
    path.write_text(html)
    return path

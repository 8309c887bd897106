"""Server-side SVG charts for the operator dashboard: no JavaScript library, nothing from a CDN."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import mark_safe

WIDTH, HEIGHT = 720, 170
LEFT, BOTTOM, TOP = 52, 22, 10


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return value


def seconds_label(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _frame(title: str, top: float, unit_label, labels: list[str], body: str) -> str:
    plot_h = HEIGHT - BOTTOM - TOP
    parts = [
        format_html(
            '<svg class="console-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" height="{}" '
            'xmlns="http://www.w3.org/2000/svg" style="font:11px sans-serif">',
            title,
            WIDTH,
            HEIGHT,
            WIDTH,
            HEIGHT,
        ),
        format_html("<title>{}</title>", title),
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#ddd"/>'
                '<text x="{}" y="{}" text-anchor="end" fill="#666">{}</text>',
                LEFT,
                f"{y:.1f}",
                WIDTH,
                f"{y:.1f}",
                LEFT - 4,
                f"{y + 4:.1f}",
                unit_label(top * fraction),
            )
        )
    step = (WIDTH - LEFT) / max(len(labels), 1)
    every = max(1, len(labels) // 6)
    for index, label in enumerate(labels):
        if index % every == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" fill="#666">{}</text>', f"{LEFT + index * step + 2:.1f}", HEIGHT - 6, label
                )
            )
    parts.append(body)
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(str(part) for part in parts))


def bar_chart(*, title: str, labels: list[str], stacks: list[tuple[str, str, list[int]]]) -> str:
    """Stacked bars per interval; `stacks` is [(name, colour, values)], drawn bottom-up."""
    totals = [sum(values[index] for _, _, values in stacks) for index in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    plot_h = HEIGHT - BOTTOM - TOP
    step = (WIDTH - LEFT) / max(len(labels), 1)
    bars = []
    for index, label in enumerate(labels):
        base = 0
        for name, colour, values in stacks:
            value = values[index]
            if value:
                height = plot_h * value / top
                y = TOP + plot_h * (1 - (base + value) / top)
                bars.append(
                    format_html(
                        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>',
                        f"{LEFT + index * step + 1:.1f}",
                        f"{y:.1f}",
                        f"{max(step - 2, 1):.1f}",
                        f"{height:.1f}",
                        colour,
                        label,
                        value,
                        name,
                    )
                )
            base += value
    return _frame(title, top, lambda v: f"{v:.0f}", labels, mark_safe("".join(str(bar) for bar in bars)))


def line_chart(*, title: str, labels: list[str], lines: list[tuple[str, str, list[float | None]]]) -> str:
    """One polyline per series (seconds); an interval without data breaks the line."""
    values = [value for _, _, series in lines for value in series if value is not None]
    top = _nice_max(max(values, default=0))
    plot_h = HEIGHT - BOTTOM - TOP
    step = (WIDTH - LEFT) / max(len(labels), 1)
    drawn = []
    for name, colour, series in lines:
        runs, current = [], []
        for index, value in enumerate(series):
            if value is None:
                if current:
                    runs.append(current)
                current = []
                continue
            current.append((LEFT + (index + 0.5) * step, TOP + plot_h * (1 - value / top), labels[index], value))
        if current:
            runs.append(current)
        for run in runs:
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in run)
            drawn.append(
                format_html('<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>', points, colour)
            )
            for x, y, label, value in run:
                drawn.append(
                    format_html(
                        '<circle cx="{}" cy="{}" r="2.5" fill="{}"><title>{} {}: {}</title></circle>',
                        f"{x:.1f}",
                        f"{y:.1f}",
                        colour,
                        label,
                        name,
                        seconds_label(value),
                    )
                )
    legend = "".join(
        str(
            format_html(
                '<text x="{}" y="{}" fill="{}">{}</text>', WIDTH - 90 * (len(lines) - index), TOP + 10, colour, name
            )
        )
        for index, (name, colour, _) in enumerate(lines)
    )
    return _frame(title, top, seconds_label, labels, mark_safe("".join(str(d) for d in drawn) + legend))

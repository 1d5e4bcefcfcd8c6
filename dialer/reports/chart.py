"""The strategy report's chart: right-party contact rate by the debtor's
local hour, a line per segment, each point with its 95% Wilson interval,
as a PNG. matplotlib is the `report` extra's (pip install
'recobro[report]'): imported only when a chart is drawn."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable

from dialer.errors import ConfigError
from dialer.reports.cells import Filters
from dialer.reports.stats import wilson
from dialer.reports.strategy import Attempt

MISSING = ("the PNG chart needs matplotlib, which the `report` extra installs: "
           "pip install 'recobro[report]'")


def require_matplotlib() -> None:
    """ConfigError naming the extra when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError(MISSING) from None


def contact_rate_png(attempts: Iterable[Attempt], title: str) -> bytes:
    """The chart's PNG bytes. ConfigError naming the extra when matplotlib
    is not installed."""
    require_matplotlib()
    from matplotlib.figure import Figure
    tried: Counter[tuple[str, int]] = Counter()
    reached: Counter[tuple[str, int]] = Counter()
    for attempt in attempts:
        tried[attempt.segment, attempt.local_hour] += 1
        reached[attempt.segment, attempt.local_hour] += attempt.right_party
    figure = Figure(figsize=(9, 4.8), dpi=100)
    axes = figure.subplots()
    segments = sorted({segment for segment, _ in tried})
    for offset, segment in enumerate(segments):
        hours = sorted(hour for s, hour in tried if s == segment)
        rates = [wilson(reached[segment, h], tried[segment, h]) for h in hours]
        # Side by side a little, so the intervals of one hour do not overlap.
        shifted = [h + (offset - (len(segments) - 1) / 2) * 0.12 for h in hours]
        axes.errorbar(shifted, [100 * r.estimate for r in rates],
                      yerr=[[100 * (r.estimate - r.low) for r in rates],
                            [100 * (r.high - r.estimate) for r in rates]],
                      marker="o", capsize=3,
                      label=f"{segment} ({sum(tried[segment, h] for h in hours)} attempts)")
    axes.set_xlim(-0.5, 23.5)
    axes.set_xticks(range(0, 24, 2))
    axes.set_ylim(bottom=0)
    axes.set_xlabel("the debtor's local hour")
    axes.set_ylabel("right-party contacts per attempt (%)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if segments:
        axes.legend(title="segment (95% Wilson intervals)")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def chart_title(filters: Filters) -> str:
    """What the chart covers, for its title."""
    dates = (f"{filters.date_from or '...'} to {filters.date_to or '...'}"
             if filters.date_from or filters.date_to else "all dates")
    return f"Right-party contact rate by local hour: campaign {filters.campaign or 'all'}, {dates}"

"""The 14-day chart of records by outcome, drawn as SVG on the server (no script needed)."""

from dataclasses import dataclass

from pushapi.store.console import OUTCOMES, DayOutcomes

# Fill colours with at least 3:1 contrast against the white page (WCAG 1.4.11).
COLOURS = {
    "created": "#1a7f37",
    "updated": "#0b5cad",
    "deleted": "#8250df",
    "unchanged": "#6e7781",
    "rejected": "#cf222e",
}
WIDTH, HEIGHT, BAR = 560, 180, 28  # the drawing's size; a day's bar is BAR wide
LABELS = 20  # the height under the bars that holds the day labels


@dataclass(frozen=True, slots=True)
class Segment:
    outcome: str
    value: int
    y: float
    height: float
    colour: str


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # the day, e.g. 12-03
    title: str  # what a pointer over it shows
    x: float
    segments: list[Segment]


def bars(days: list[DayOutcomes]) -> list[Bar]:
    """Stacked bars, one per day, scaled to the busiest day."""
    top = max((day.records for day in days), default=0) or 1
    room = HEIGHT - LABELS
    step = WIDTH / max(len(days), 1)
    drawn = []
    for position, day in enumerate(days):
        y = float(room)
        segments = []
        for outcome in OUTCOMES:
            value = getattr(day, outcome)
            height = room * value / top
            y -= height
            segments.append(
                Segment(outcome, value, round(y, 2), round(height, 2), COLOURS[outcome])
            )
        counts = ", ".join(f"{getattr(day, outcome)} {outcome}" for outcome in OUTCOMES)
        drawn.append(
            Bar(
                day.day.strftime("%m-%d"),
                f"{day.day.isoformat()}: {counts}",
                round(position * step + (step - BAR) / 2, 2),
                segments,
            )
        )
    return drawn

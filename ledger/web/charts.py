"""Pictures for auditors, drawn on the server as inline SVG from the register's numbers.

No JavaScript and nothing fetched: each chart is an <svg role="img"> with a <title> and a <desc>
saying what it shows, a tooltip (<title>) on every bar and point with its exact number, and the
numbers again in a table under it. Geometry is worked out in Decimal from the register's exact
amounts (pixels are rounded to a tenth; the amounts shown are never rounded).

- concentration: the largest holders' share of units outstanding (horizontal bars);
- coupons: each coupon's amount due on the holdings of record beside the amount paid;
- nav: a fund's NAV per unit over time (a line through each published NAV), with its
  creations (up) and redemptions (down) in units beneath;
- green: a green bond's proceeds allocated to each use-of-proceeds category of its framework.
"""

import json
from decimal import Decimal

from markupsafe import Markup, escape
from sqlalchemy import func
from sqlmodel import select

from ledger.register import models
from ledger.register.db import Register
from ledger.money import from_minor
from ledger.register.rows import CouponRow, FlowRow, HolderRow, NavRow

WIDTH = 720
LABEL = 270  # room for the category labels left of horizontal bars
ROW = 24
TOP_HOLDERS = 10
NAV_POINTS = 500  # the latest NAVs drawn (a page of the history, read backwards)


def _px(value) -> str:
    return f"{Decimal(value):.1f}"


def _share(part: int, whole: int) -> str:
    return f"{Decimal(part * 100) / whole:.2f}" if whole else "0.00"


def _figure(
    ident: str, title: str, desc: str, width: int, height: int, body: list[str], headers: list[str], rows: list[list]
) -> Markup:
    """A <figure> with the SVG (titled and described for screen readers) and its numbers as a table."""
    t, d = escape(title), escape(desc)
    svg = (
        f'<svg id="chart-{ident}" class="chart" role="img" aria-labelledby="chart-{ident}-title chart-{ident}-desc" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-{ident}-title">{t}</title><desc id="chart-{ident}-desc">{d}</desc>{"".join(body)}</svg>'
    )
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    table_rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    table = (
        f'<details class="chart-data"><summary>The numbers</summary><table id="chart-{ident}-data">'
        f"<thead><tr>{head}</tr></thead><tbody>{table_rows}</tbody></table></details>"
    )
    return Markup(
        f'<figure class="chart" id="figure-{ident}"><figcaption>{t}</figcaption>{svg}<p class="note">{d}</p>{table}</figure>'
    )


def _hbars(ident: str, bars: list[tuple[str, Decimal, str]], scale_max: Decimal, css: str = "bar") -> list[str]:
    """Horizontal bars: (label, value, tooltip) each on its row, scaled so scale_max fills the width;
    after each bar, the tooltip's last part (after ": ", or ", ")."""
    body = []
    span = Decimal(WIDTH - LABEL - 70)
    for i, (label, value, tip) in enumerate(bars):
        y = 8 + i * ROW
        length = span * value / scale_max if scale_max else Decimal(0)
        body.append(
            f'<text x="{LABEL - 8}" y="{y + 15}" text-anchor="end" class="label">{escape(label)}</text>'
            f'<rect class="{css}" x="{LABEL}" y="{y + 3}" width="{_px(length)}" height="{ROW - 7}"><title>{escape(tip)}</title></rect>'
            f'<text x="{_px(LABEL + length + 6)}" y="{y + 15}" class="value">{escape(tip.rsplit(": ", 1)[-1].rsplit(", ", 1)[-1])}</text>'
        )
    return body


def concentration(code: str, holders: list[HolderRow], outstanding: int, block: int) -> Markup | None:
    """The largest holders' share of the units outstanding after `block`, one bar each."""
    top = holders[:TOP_HOLDERS]
    if not top or not outstanding:
        return None
    held = sum(h.quantity for h in top)
    bars = [
        (
            h.investor_id or f"{h.wallet[:10]}…",
            Decimal(h.quantity),
            f"{h.investor_id or 'unregistered'} {h.wallet}: {_share(h.quantity, outstanding)}%",
        )
        for h in top
    ]
    # The scale runs from 0 to a round share just above the largest holder's, marked on the axis.
    largest = Decimal(top[0].quantity * 100) / outstanding
    ceiling = next(c for c in (1, 2, 5, 10, 20, 25, 50, 100) if c >= largest)
    body = _hbars("concentration", bars, Decimal(outstanding) * ceiling / 100)
    end = WIDTH - 70
    body.append(
        f'<line class="axis" x1="{LABEL}" y1="{8 + len(bars) * ROW}" x2="{end}" y2="{8 + len(bars) * ROW}"/>'
        f'<text x="{LABEL}" y="{20 + len(bars) * ROW}" text-anchor="middle" class="label">0%</text>'
        f'<text x="{end}" y="{20 + len(bars) * ROW}" text-anchor="middle" class="label">{ceiling}%</text>'
    )
    who = "the largest holder holds" if len(top) == 1 else f"the largest {len(top)} holders hold"
    title = f"{code}: {who} {_share(held, outstanding)}% of {outstanding:,} units"
    desc = f"Each bar is one holder's share of the units outstanding at block {block}, largest first."
    rows = [
        [i + 1, h.investor_id or "unregistered", h.wallet, f"{h.quantity:,}", f"{_share(h.quantity, outstanding)}%"]
        for i, h in enumerate(top)
    ]
    return _figure(
        "concentration", title, desc, WIDTH, 26 + len(bars) * ROW, body, ["Rank", "Investor", "Wallet", "Units", "Share"], rows
    )


def coupons(code: str, currency: str, rows: list[CouponRow]) -> Markup | None:
    """Each coupon's amount due beside the amount paid, by payment date (vertical bars in pairs)."""
    if not rows:
        return None
    height, base, left = 240, 200, 80
    top = max(max(r.due, r.paid) for r in rows) or Decimal(1)
    slot = Decimal(WIDTH - left - 10) / len(rows)
    bar = min(slot * 2 / 5, Decimal(60))
    body = [
        f'<line class="axis" x1="{left}" y1="{base}" x2="{WIDTH - 10}" y2="{base}"/>',
        f'<text x="{left - 6}" y="{base}" text-anchor="end" class="label">0</text>',
        f'<text x="{left - 6}" y="24" text-anchor="end" class="label">{escape(_short_amount(top))}</text>',
        f'<rect class="legend due" x="{left}" y="4" width="10" height="10"/><text x="{left + 14}" y="13" class="label">due</text>'
        f'<rect class="legend paid" x="{left + 60}" y="4" width="10" height="10"/><text x="{left + 74}" y="13" class="label">paid</text>',
    ]
    for i, r in enumerate(rows):
        x = Decimal(left) + slot * i + (slot - 2 * bar) / 2
        for j, (kind, value) in enumerate((("due", r.due), ("paid", r.paid))):
            h = Decimal(base - 24) * value / top
            body.append(
                f'<rect class="bar {kind}" x="{_px(x + j * bar)}" y="{_px(base - h)}" width="{_px(bar - 2)}" height="{_px(h)}">'
                f"<title>coupon {r.coupon} ({r.payment_date}) {kind}: {escape(value)} {escape(currency)}</title></rect>"
            )
        body.append(
            f'<text x="{_px(x + bar)}" y="{base + 16}" text-anchor="middle" class="label">{escape(r.payment_date)}</text>'
        )
    title = f"{code}: coupons due vs paid ({currency})"
    desc = "For each coupon by payment date: the amount due on the holdings of record (left) and the amount paid (right)."
    table = [[r.coupon, r.payment_date, r.due, r.paid, r.status] for r in rows]
    return _figure("coupons", title, desc, WIDTH, height, body, ["Coupon", "Payment date", "Due", "Paid", "Status"], table)


def nav(code: str, currency: str, history: list[NavRow], flows: list[FlowRow]) -> Markup | None:
    """The NAV per unit through each published NAV, and beneath it each creation and redemption."""
    if not history and not flows:
        return None
    height, left, line_top, line_base, flow_mid, flow_half = 300, 80, 24, 170, 240, 48
    # Time runs left to right by block: NAVs and flows share the axis.
    blocks = [n.block_number for n in history] + [f.block_number for f in flows]
    first, last = min(blocks), max(blocks)
    span = Decimal(WIDTH - left - 20)

    def x_of(block: int) -> Decimal:
        return Decimal(left + 10) + (span * (block - first) / (last - first) if last > first else span / 2)

    body = [
        f'<line class="axis" x1="{left}" y1="{line_base}" x2="{WIDTH - 10}" y2="{line_base}"/>',
        f'<line class="axis" x1="{left}" y1="{flow_mid}" x2="{WIDTH - 10}" y2="{flow_mid}"/>',
        f'<text x="{left - 6}" y="{flow_mid + 4}" text-anchor="end" class="label">units</text>',
    ]
    if history:
        values = [n.nav for n in history]
        low, high = min(values), max(values)
        pad = (high - low) / 10 or max(high / 100, Decimal("0.01"))
        low, high = low - pad, high + pad

        def y_of(value: Decimal) -> Decimal:
            return Decimal(line_base) - Decimal(line_base - line_top) * (value - low) / (high - low)

        points = [(x_of(n.block_number), y_of(v)) for n, v in zip(history, values)]
        # The exact highest and lowest NAV mark the scale.
        top_nav, bottom_nav = max(values), min(values)
        body.append(f'<text x="{left - 6}" y="{_px(y_of(top_nav) + 4)}" text-anchor="end" class="label">{escape(top_nav)}</text>')
        if bottom_nav != top_nav:
            body.append(
                f'<text x="{left - 6}" y="{_px(y_of(bottom_nav) + 4)}" text-anchor="end" class="label">{escape(bottom_nav)}</text>'
            )
        if len(points) > 1:
            body.append('<polyline class="nav-line" points="' + " ".join(f"{_px(x)},{_px(y)}" for x, y in points) + '"/>')
        for (x, y), n in zip(points, history):
            body.append(
                f'<circle class="point nav" cx="{_px(x)}" cy="{_px(y)}" r="3.5">'
                f"<title>NAV {escape(n.nav)} {escape(currency)} published {escape(n.published_at.isoformat())} (block {n.block_number})</title></circle>"
            )
    most = max((f.units for f in flows), default=0) or 1
    for f in flows:
        h = Decimal(flow_half) * f.units / most
        up = f.kind == "creation"
        body.append(
            f'<rect class="bar flow {escape(f.kind)}" x="{_px(x_of(f.block_number) - 3)}" y="{_px(flow_mid - h if up else flow_mid)}" '
            f'width="6" height="{_px(h)}"><title>{escape(f.kind)} of {f.units:,} units by {escape(f.participant)} '
            f"on {escape(f.date)} at NAV {escape(f.nav)} (block {f.block_number})</title></rect>"
        )
    title = f"{code}: NAV per unit ({currency}) with creations and redemptions"
    desc = "The line joins each NAV published, by block; beneath, creations (up) and redemptions (down) in units."
    rows = [["NAV", n.published_at.isoformat(), n.block_number, f"{n.nav} {currency}"] for n in history]
    rows += [[f.kind, f.date, f.block_number, f"{f.units:,} units"] for f in flows]
    return _figure("nav", title, desc, WIDTH, height, body, ["What", "When", "Block", "Value"], rows)


def green(register: Register, inst: models.Instrument) -> Markup | None:
    """Proceeds allocated to each use-of-proceeds category of a green bond's framework."""
    categories = (json.loads(inst.termsheet or "{}").get("green") or {}).get("use_of_proceeds") or []
    g = models.GreenAllocation
    with register.session() as s:
        allocated = dict(s.exec(select(g.category, func.sum(g.amount)).where(g.isin == inst.isin).group_by(g.category)).all())
    if not categories and not allocated:
        return None
    categories = categories + sorted(c for c in allocated if c not in categories)
    proceeds = inst.issue_size or sum(int(v) for v in allocated.values())
    amounts = {c: int(allocated.get(c) or 0) for c in categories}
    total = sum(amounts.values())
    money = {c: f"{from_minor(v, inst.currency):,} {inst.currency}" for c, v in amounts.items()}
    bars = [(c.replace("_", " "), Decimal(v), f"{c}: {money[c]}, {_share(v, proceeds)}%") for c, v in amounts.items()]
    body = _hbars("green", bars, Decimal(max(amounts.values()) or 1), css="bar green")
    title = f"{inst.isin}: green proceeds allocated by category ({_share(total, proceeds)}% of {from_minor(proceeds, inst.currency):,} {inst.currency})"
    desc = (
        f"Each bar is the amount allocated to a category of the green bond framework, with its share of the proceeds; "
        f"{from_minor(proceeds - total, inst.currency):,} {inst.currency} unallocated."
    )
    rows = [[c, money[c], f"{_share(v, proceeds)}%"] for c, v in amounts.items()]
    return _figure("green", title, desc, WIDTH, 16 + len(bars) * ROW, body, ["Category", "Allocated", "Share of proceeds"], rows)


def _short_amount(value: Decimal) -> str:
    """An axis label: 1,234,567.891 -> '1,234,568' (labels only; tooltips and tables are exact)."""
    return f"{value:,.0f}" if value >= 100 else f"{value:,.4f}".rstrip("0").rstrip(".")

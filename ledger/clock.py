"""Hong Kong time: the register's days are Hong Kong days (UTC+8, no daylight saving), so a
chain timestamp becomes a date here, in one place."""

from datetime import date, datetime, timedelta, timezone

HONG_KONG = timezone(timedelta(hours=8), "HKT")


def hk_date(timestamp: int) -> date:
    """The Hong Kong calendar day of a unix timestamp."""
    return datetime.fromtimestamp(timestamp, HONG_KONG).date()


def end_of_day(day: date) -> int:
    """The unix time at which a Hong Kong day ends (midnight into the next day): holdings "at a
    date" and holdings of record are taken at that moment."""
    return int(datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=HONG_KONG).timestamp())

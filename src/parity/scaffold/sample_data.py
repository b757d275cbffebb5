"""Deterministic sample data for the fraud-detection example repository.

Everything derives from one seeded generator and an ``end`` instant, with numpy
operations over whole arrays (no Python loop over rows), so a given ``(rows, seed, end)``
always produces the same tables and the same Parquet bytes.

The story behind the numbers: users with a typical spend, an account age and a country;
merchants with a category and a latent risk; a month of card transactions between them,
a few of them fraudulent. Fraud is more likely when the amount is far above the user's
usual spend, at risky merchants (high chargeback rate and risk score) and on young
accounts, so a model trained on the features can learn it. The daily user statistics are
computed from the transactions themselves and cover the seven days *before* each
snapshot, so joining them point-in-time never leaks the label.

Example:
    >>> from datetime import datetime, timezone
    >>> end = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> tables = generate_sample_data(rows=200, seed=0, end=end)
    >>> sorted(tables)
    ['merchant_risk', 'transactions', 'user_profile', 'user_transaction_stats']
    >>> tables["transactions"].num_rows
    200
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from parity.types import require_utc

HISTORY_DAYS = 30
STATS_WINDOW_DAYS = 7
COUNTRIES = ("BR", "CA", "DE", "ES", "FR", "GB", "IN", "IT", "NL", "US")
CATEGORIES = (
    "digital_goods",
    "electronics",
    "fashion",
    "gas",
    "grocery",
    "restaurants",
    "travel",
)
# Per category, in CATEGORIES order: how risky it is and how large its tickets are.
_CATEGORY_RISK = np.array([0.75, 0.55, 0.30, 0.15, 0.05, 0.10, 0.45])
_CATEGORY_AMOUNT = np.array([0.6, 3.0, 1.5, 1.0, 1.0, 0.8, 4.0])
_CATEGORY_SHARE = np.array([0.08, 0.10, 0.14, 0.12, 0.26, 0.22, 0.08])
_COUNTRY_SHARE = np.array([0.06, 0.05, 0.12, 0.07, 0.10, 0.12, 0.06, 0.06, 0.04, 0.32])
# Card activity peaks in the evening and is lowest at night (UTC, for simplicity).
_HOURLY_SHARE = 1.0 + np.sin((np.arange(24) - 9) / 24 * 2 * np.pi) * 0.8
_HOURLY_SHARE /= _HOURLY_SHARE.sum()

_SECOND_US = 1_000_000
_HOUR_US = 3600 * _SECOND_US
_DAY_US = 24 * _HOUR_US
_TS = pa.timestamp("us", tz="UTC")

FILES = {
    "user_transaction_stats": "user_transaction_stats.parquet",
    "user_profile": "user_profile.parquet",
    "merchant_risk": "merchant_risk.parquet",
    "transactions": "transactions.parquet",
}

IntArray = NDArray[np.int64]


def generate_sample_data(*, rows: int, seed: int, end: datetime) -> dict[str, pa.Table]:
    """The four example tables for ``rows`` transactions in the 30 days before ``end``.

    Entity counts scale with ``rows``: one user per 20 transactions and one merchant per
    60 (so the default 60,000 rows give 3,000 users and 1,000 merchants).

    Example:
        >>> from datetime import datetime, timezone
        >>> end = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> t = generate_sample_data(rows=300, seed=1, end=end)["user_profile"]
        >>> t.schema.field("event_timestamp").type
        TimestampType(timestamp[us, tz=UTC])
    """
    end_us = int(require_utc(end, what="sample data end").timestamp()) * _SECOND_US
    start_us = end_us - HISTORY_DAYS * _DAY_US
    rng = np.random.default_rng(seed)
    users = _Users(rng, max(10, rows // 20))
    merchants = _Merchants(rng, max(5, rows // 60))
    txns = _Transactions(rng, rows, users, merchants, start_us)
    return {
        "user_transaction_stats": _user_transaction_stats(rng, txns, users.count, start_us),
        "user_profile": _user_profile(rng, users, start_us),
        "merchant_risk": _merchant_risk(rng, merchants, start_us),
        "transactions": txns.table(),
    }


def write_sample_data(data_dir: Path, *, rows: int, seed: int, end: datetime) -> dict[str, Path]:
    """Generate the tables and write one Parquet file each under ``data_dir``.

    Example:
        >>> import tempfile
        >>> end = datetime(2026, 1, 1, tzinfo=UTC)
        >>> data = Path(tempfile.mkdtemp()) / "data"
        >>> sorted(write_sample_data(data, rows=100, seed=0, end=end))
        ['merchant_risk', 'transactions', 'user_profile', 'user_transaction_stats']
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in generate_sample_data(rows=rows, seed=seed, end=end).items():
        path = data_dir / FILES[name]
        pq.write_table(table, path, compression="zstd")
        paths[name] = path
    return paths


class _Users:
    """Latent user traits; the feature tables are noisy views of them."""

    def __init__(self, rng: np.random.Generator, count: int) -> None:
        self.count = count
        self.ids = np.arange(1, count + 1, dtype=np.int64)
        self.age = np.clip(rng.normal(38, 13, count), 18, 90).astype(np.int32)
        self.country = rng.choice(len(COUNTRIES), size=count, p=_COUNTRY_SHARE)
        # Mostly established accounts, and about one in ten opened in the last month.
        young = rng.random(count) < 0.1
        established = 30 + rng.exponential(500, count)
        self.account_age = np.where(young, rng.integers(0, 30, count), established)
        self.account_age = np.clip(self.account_age, 0, 3650).astype(np.int32)
        self.log_spend = rng.normal(3.3, 0.6, count)  # typical ticket around 27
        self.activity = rng.gamma(0.8, 1.0, count) + 0.05
        self.risk = rng.normal(0.0, 1.0, count)


class _Merchants:
    """Latent merchant traits."""

    def __init__(self, rng: np.random.Generator, count: int) -> None:
        self.count = count
        self.ids = np.arange(1, count + 1, dtype=np.int64)
        self.category = rng.choice(len(CATEGORIES), size=count, p=_CATEGORY_SHARE)
        self.risk = np.clip(_CATEGORY_RISK[self.category] + rng.normal(0, 0.15, count), 0, 1)
        self.popularity = rng.pareto(2.0, count) + 1.0  # popular merchants take much of the traffic


class _Transactions:
    """A month of card transactions with a learnable fraud label, sorted by time."""

    def __init__(
        self,
        rng: np.random.Generator,
        rows: int,
        users: _Users,
        merchants: _Merchants,
        start_us: int,
    ) -> None:
        user = rng.choice(users.count, size=rows, p=users.activity / users.activity.sum())
        merchant = rng.choice(
            merchants.count, size=rows, p=merchants.popularity / merchants.popularity.sum()
        )
        day = rng.integers(0, HISTORY_DAYS, rows)
        hour = rng.choice(24, size=rows, p=_HOURLY_SHARE)
        ts = start_us + day * _DAY_US + hour * _HOUR_US + rng.integers(0, _HOUR_US, rows)
        typical = np.exp(users.log_spend[user]) * _CATEGORY_AMOUNT[merchants.category[merchant]]
        # A few tickets far above the user's habit: the strongest fraud signal.
        spike = np.where(rng.random(rows) < 0.04, rng.uniform(3, 12, rows), 1.0)
        amount = typical * np.exp(rng.normal(0, 0.45, rows)) * spike
        amount = np.clip(np.round(amount, 2), 0.5, 25_000)
        young = (users.account_age[user] + day) < 30
        logit = (
            -6.2
            + 1.3 * np.log(amount / typical)
            + 4.0 * merchants.risk[merchant]
            + 1.5 * young
            + 0.4 * users.risk[user]
        )
        is_fraud = rng.random(rows) < 1 / (1 + np.exp(-logit))
        order = np.argsort(ts, kind="stable")
        self.user, self.merchant, self.day = user[order], merchant[order], day[order]
        self.ts, self.amount, self.is_fraud = ts[order], amount[order], is_fraud[order]
        self.user_ids, self.merchant_ids = users.ids, merchants.ids

    def table(self) -> pa.Table:
        """The label table: one row per transaction, in time order."""
        return pa.table(
            {
                "transaction_id": np.arange(1, len(self.ts) + 1, dtype=np.int64),
                "user_id": self.user_ids[self.user],
                "merchant_id": self.merchant_ids[self.merchant],
                "amount": self.amount,
                "event_timestamp": pa.array(self.ts, type=_TS),
                "is_fraud": self.is_fraud,
            }
        )


def _created(rng: np.random.Generator, event_us: IntArray) -> pa.Array:
    """When the feature pipeline wrote each row: a few seconds to 15 minutes later."""
    return pa.array(event_us + rng.integers(1, 900, len(event_us)) * _SECOND_US, type=_TS)


def _weeks(daily: NDArray[Any], shape: tuple[int, int]) -> NDArray[Any]:
    """Per user and day, the values of that day and the six before (zeros before day 0)."""
    padded = np.pad(daily.reshape(shape), ((0, 0), (STATS_WINDOW_DAYS - 1, 0)))
    return sliding_window_view(padded, STATS_WINDOW_DAYS, axis=1)


def _user_transaction_stats(
    rng: np.random.Generator, txns: _Transactions, n_users: int, start_us: int
) -> pa.Table:
    """Daily snapshots at midnight over the previous seven days, for users who transacted."""
    cell = txns.user * HISTORY_DAYS + txns.day
    shape = (n_users, HISTORY_DAYS)
    daily_count = np.bincount(cell, minlength=n_users * HISTORY_DAYS).reshape(shape)
    daily_sum = np.bincount(cell, weights=txns.amount, minlength=n_users * HISTORY_DAYS)
    daily_max = np.zeros(n_users * HISTORY_DAYS)
    np.maximum.at(daily_max, cell, txns.amount)
    # Column j of a window holds the days j-6..j; the snapshot at midnight after day j
    # publishes it.
    count_7d = _weeks(daily_count, shape).sum(axis=2)
    sum_7d = _weeks(daily_sum, shape).sum(axis=2)
    max_7d = _weeks(daily_max, shape).max(axis=2)
    user, day = np.nonzero(count_7d)
    order = np.lexsort((user, day))  # in publication order, like the daily job appends
    user, day = user[order], day[order]
    event_us = start_us + (day + 1) * _DAY_US
    count = count_7d[user, day]
    total = np.round(sum_7d[user, day], 2)
    return pa.table(
        {
            "user_id": txns.user_ids[user],
            "txn_count_7d": count,
            "amount_sum_7d": total,
            "amount_mean_7d": np.round(total / count, 2),
            "amount_max_7d": max_7d[user, day],
            "event_timestamp": pa.array(event_us, type=_TS),
            "created_timestamp": _created(rng, event_us),
        }
    )


def _user_profile(rng: np.random.Generator, users: _Users, start_us: int) -> pa.Table:
    """One profile per user just before the month starts; a quarter get an update later."""
    first_us = start_us - rng.integers(60, 3600, users.count) * _SECOND_US
    updated = np.flatnonzero(rng.random(users.count) < 0.25)
    update_day = rng.integers(1, HISTORY_DAYS, len(updated))
    update_us = start_us + update_day * _DAY_US + rng.integers(0, _DAY_US, len(updated))
    # Some of the updates are a move to another country.
    moved = rng.random(len(updated)) < 0.1
    new_country = np.where(
        moved, rng.choice(len(COUNTRIES), len(updated), p=_COUNTRY_SHARE), users.country[updated]
    )
    who = np.concatenate([np.arange(users.count), updated])
    event_us = np.concatenate([first_us, update_us])
    country = np.concatenate([users.country, new_country])
    account_age = np.concatenate(
        [users.account_age, users.account_age[updated] + update_day.astype(np.int32)]
    )
    order = np.lexsort((who, event_us))
    who, event_us = who[order], event_us[order]
    country, account_age = country[order], account_age[order]
    return pa.table(
        {
            "user_id": users.ids[who],
            "age": users.age[who],
            "country": pa.array(COUNTRIES).take(country),
            "account_age_days": account_age.astype(np.int32),
            "event_timestamp": pa.array(event_us, type=_TS),
            "created_timestamp": _created(rng, event_us),
        }
    )


def _merchant_risk(rng: np.random.Generator, merchants: _Merchants, start_us: int) -> pa.Table:
    """Weekly risk snapshots per merchant, drifting a little around its latent risk."""
    weeks = HISTORY_DAYS // 7 + 1
    who = np.tile(np.arange(merchants.count), weeks)
    week = np.repeat(np.arange(weeks), merchants.count)
    event_us = start_us - _HOUR_US + week * 7 * _DAY_US
    risk = merchants.risk[who]
    chargeback = np.clip(0.002 + 0.06 * risk * np.exp(rng.normal(0, 0.25, len(who))), 0, 1)
    score = np.clip(0.6 * risk + 5.0 * chargeback + rng.normal(0, 0.05, len(who)), 0, 1)
    return pa.table(
        {
            "merchant_id": merchants.ids[who],
            "category": pa.array(CATEGORIES).take(merchants.category[who]),
            "chargeback_rate": np.round(chargeback, 5),
            "risk_score": score.astype(np.float32),
            "event_timestamp": pa.array(event_us, type=_TS),
            "created_timestamp": _created(rng, event_us),
        }
    )


def default_end(now: datetime | None = None) -> datetime:
    """Midnight UTC of today, so the sample month ends just before "now".

    Example:
        >>> from datetime import timezone
        >>> default_end(datetime(2026, 3, 5, 17, 30, tzinfo=timezone.utc)).isoformat()
        '2026-03-05T00:00:00+00:00'
    """
    now = datetime.now(UTC) if now is None else require_utc(now, what="now")
    return now.replace(hour=0, minute=0, second=0, microsecond=0)

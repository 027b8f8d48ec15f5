"""Usage metering: which (day, account, source, resource) each analysed record is billed under.

GuardDuty reports usage over a rolling 30 days, per account, data source and, for S3 data events,
per bucket. A run of records (one file, or a batch of small files) is numbered once here: every
record gets the index of its usage key, so any slice of the run is metered with one ``bincount``
(its events, and its bytes by each record's share of its file). Days are the UTC days of the records'
own times (logs are often scanned long after they were written), computed from the run's time column.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import polars as pl

from trailhound.events import Source

UsageKey = tuple[str, str, Source, str]  # day (YYYY-MM-DD), account, source, resource ("" where GuardDuty has none)
UsageCodes = tuple[list[UsageKey], np.ndarray]
DAY_S = 86_400


class _BucketParams(msgspec.Struct):
    bucketName: str = ""  # noqa: N815  (CloudTrail's own name)


_bucket_params = msgspec.json.Decoder(_BucketParams | None)


def bucket_of(request_parameters: msgspec.Raw) -> str:
    """The bucket an S3 data event names (requestParameters.bucketName), or "" if none can be read."""
    try:
        params = _bucket_params.decode(request_parameters)
    except msgspec.DecodeError:
        return ""
    return params.bucketName if params is not None and isinstance(params.bucketName, str) else ""


def usage_codes(events: Any, times: np.ndarray) -> UsageCodes:
    """Each record's usage key: (the distinct keys, each record's index into them)."""
    n = len(times)
    if not n:
        return [], np.zeros(0, dtype=np.int64)
    # the raw attributes first (account; for CloudTrail data event or not, and the bucket), numbered at C speed where possible
    if isinstance(events, pl.DataFrame):  # flow records: usually one account per file (S3 delivers per account)
        accounts = events["account_id"]
        first = accounts[0]
        if first is not None and not accounts.null_count() and (accounts == first).all():
            uniq = [first]  # the usual file: one account, told without hashing every row
        else:
            accounts = accounts.fill_null("unknown")
            uniq = accounts.unique(maintain_order=True).to_list()
        raw_keys: list[tuple[str, Source, str]] = [(a, Source.FLOW, "") for a in uniq]
        raw = (np.zeros(n, dtype=np.int64) if len(uniq) == 1
               else accounts.replace_strict(uniq, list(range(len(uniq))), return_dtype=pl.Int64).to_numpy())
    else:
        raw_keys, raw = _record_codes(events)
    # then the day: one integer per record, combined with the raw code and folded with np.unique
    days = np.floor_divide(times, DAY_S).astype(np.int64)
    first = int(days.min())
    span = int(days.max()) - first + 1
    if span == 1:  # the usual run: one day
        day = _day(first)
        return [(day, acct, source, resource) for acct, source, resource in raw_keys], raw
    combined = raw * span + (days - first)
    uniq_combined, codes = np.unique(combined, return_inverse=True)
    names: dict[int, str] = {}
    keys: list[UsageKey] = []
    for value in uniq_combined.tolist():
        r, d = divmod(value, span)
        day = names.get(d) or names.setdefault(d, _day(first + d))
        acct, source, resource = raw_keys[r]
        keys.append((day, acct, source, resource))
    return keys, codes.reshape(-1).astype(np.int64, copy=False)


def _record_codes(events: list[Any]) -> tuple[list[tuple[str, Source, str]], np.ndarray]:
    from trailhound.events import ApiCall

    n = len(events)
    is_api = isinstance(events[0], ApiCall)
    pairs: dict[Any, int]  # (account, category) of CloudTrail, the account of DNS -> its number
    if is_api:
        # (read at C speed: the account property is a Python call, and the recipient account is nearly always there)
        accounts = list(map(attrgetter("recipient_account_id"), events))
        if None in accounts or "" in accounts:
            accounts = [e.account_id for e in events]
        categories = list(map(attrgetter("event_category"), events))
        data = categories.count("Data")
        if accounts.count(accounts[0]) != n:
            pairs = {}
            first = np.fromiter((pairs.setdefault(k, len(pairs)) for k in zip(accounts, categories)), dtype=np.int64, count=n)
        elif data in (0, n):  # the usual batch: one account, one source
            pairs, first = {(accounts[0], categories[0]): 0}, np.zeros(n, dtype=np.int64)
        else:  # one account, management and S3 data events
            pairs = {(accounts[0], None): 0, (accounts[0], "Data"): 1}
            first = (np.array(categories, dtype=object) == "Data").astype(np.int64)
    else:
        raw = list(map(attrgetter("account_id"), events))
        if raw.count(raw[0]) == n:
            pairs, first = {raw[0]: 0}, np.zeros(n, dtype=np.int64)
        else:
            pairs = {}
            first = np.fromiter((pairs.setdefault(k, len(pairs)) for k in raw), dtype=np.int64, count=n)
    keys: dict[tuple[str, Source, str], int] = {}
    fold = []
    data_pairs = []
    for k in pairs:
        if is_api:
            acct, source = k[0] or "unknown", Source.S3_DATA if k[1] == "Data" else Source.CLOUDTRAIL
        else:
            acct, source = k or "unknown", Source.DNS
        if source is Source.S3_DATA:
            data_pairs.append(len(fold))
        fold.append(keys.setdefault((acct, source, ""), len(keys)))
    codes = np.asarray(fold, dtype=np.int64)[first]
    if data_pairs:  # S3 data events are metered per bucket too: only these records' parameters are read
        rows = np.flatnonzero(np.isin(first, data_pairs))
        account = [k[0] for k in keys]  # of the codes so far (the keys without a bucket)
        codes[rows] = [keys.setdefault((account[c], Source.S3_DATA, bucket_of(events[i].request_parameters)), len(keys))
                       for i, c in zip(rows.tolist(), codes[rows].tolist())]
    return list(keys), codes


def _day(days_since_epoch: int) -> str:
    return str(np.datetime64(days_since_epoch, "D"))

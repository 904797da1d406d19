"""What a Yahoo Finance ticker's form says: whether it can be a ticker, and its exchange calendar.

No suffix is a US listing (XNYS); ``.L`` London, ``.DE`` Xetra, ``.T`` Tokyo, ... as data in
:data:`SUFFIX_CALENDARS`; well-known indices (``^GSPC``) by name. Currencies (``=X``), futures
(``=F``), crypto pairs (``BTC-USD``) and unknown suffixes have none.
"""

from __future__ import annotations

import re

from forecaster.data.sources.base import shorten
from forecaster.errors import ConfigError

MAX_SYMBOL = 32
"""Longest ticker accepted (Yahoo's longest, option symbols, have about 21 characters)."""
SUFFIX_CALENDARS = {
    "": "XNYS",  # no suffix: a US listing (NYSE, NASDAQ and NYSE American share the sessions)
    "L": "XLON", "IL": "XLON", "DE": "XETR", "F": "XFRA", "DU": "XDUS", "HM": "XHAM",
    "SG": "XSTU", "PA": "XPAR", "AS": "XAMS", "BR": "XBRU", "LS": "XLIS", "MI": "XMIL",
    "MC": "XMAD", "SW": "XSWX", "VI": "XWBO", "ST": "XSTO", "HE": "XHEL", "CO": "XCSE",
    "OL": "XOSL", "IR": "XDUB", "WA": "XWAR", "PR": "XPRA", "BD": "XBUD", "AT": "ASEX",
    "IS": "XIST", "T": "XTKS", "HK": "XHKG", "SS": "XSHG", "KS": "XKRX", "KQ": "XKRX",
    "TW": "XTAI", "SI": "XSES", "KL": "XKLS", "BK": "XBKK", "JK": "XIDX", "BO": "XBOM",
    "AX": "XASX", "NZ": "XNZE", "TO": "XTSE", "V": "XTSE", "SA": "BVMF", "MX": "XMEX",
    "BA": "XBUE", "SN": "XSGO", "JO": "XJSE", "SR": "XSAU",
}  # fmt: skip
"""Yahoo ticker suffix (``SAP.DE`` -> ``DE``) -> exchange calendar (ISO MIC code). Tel Aviv
(``.TA``) is left out: exchange_calendars 4.13 cannot build XTAE."""
INDEX_CALENDARS = {
    "^GSPC": "XNYS", "^SPX": "XNYS", "^DJI": "XNYS", "^IXIC": "XNYS", "^NDX": "XNYS",
    "^RUT": "XNYS", "^NYA": "XNYS", "^VIX": "XNYS", "^FTSE": "XLON", "^GDAXI": "XETR",
    "^FCHI": "XPAR", "^N225": "XTKS", "^HSI": "XHKG", "^AXJO": "XASX", "^GSPTSE": "XTSE",
}  # fmt: skip
"""Indices (``^``) carry no suffix: the calendars of well-known ones; others have none."""
_CRYPTO = re.compile(r"[A-Z0-9]+-(USD|USDT|USDC|EUR|GBP|JPY|BTC|ETH|CAD|AUD|CHF|KRW|INR)")


def calendar_for(symbol: str) -> str | None:
    """The exchange calendar of a Yahoo ticker, from its form (``None``: no exchange calendar)."""
    ticker = symbol.strip().upper()
    if ticker.startswith("^"):
        return INDEX_CALENDARS.get(ticker)
    if "=" in ticker or _CRYPTO.fullmatch(ticker):  # currencies, futures, crypto pairs
        return None
    suffix = ticker.rsplit(".", 1)[1] if "." in ticker else ""
    return SUFFIX_CALENDARS.get(suffix)


def check_symbol(symbol: str) -> str:
    """Return ``symbol`` if it can be a Yahoo Finance ticker, else raise a one-line ConfigError."""
    why = (
        f"{len(symbol):,} characters; tickers have at most {MAX_SYMBOL}"
        if len(symbol) > MAX_SYMBOL
        else "it contains spaces or control characters"
        if not symbol.isprintable() or any(c.isspace() for c in symbol)
        else "a comma-separated list names a group, which this command does not take"
        if "," in symbol
        else None
    )
    if why:
        raise ConfigError(
            f"'{shorten(symbol, 24)}' is not a Yahoo Finance ticker ({why}) — check --ticker "
            "(e.g. AAPL, ^GSPC, BRK-B)"
        )
    return symbol

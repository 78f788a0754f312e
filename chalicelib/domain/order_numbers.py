"""Human order numbers: short, safe to read aloud, with a check character.

`K7QM-R3TE`: seven random characters and one check character from an alphabet
without 0/O, 1/I/L (31 symbols, a prime, so the weighted check catches every
single mistyped character and every swap of two neighbours). Uniqueness is not
left to chance: placement claims the number with a conditional write in the
same transaction as the order and draws again if it is taken.
"""

from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BODY_LENGTH = 7
_VALUE = {symbol: index for index, symbol in enumerate(ALPHABET)}
# What people type for what they read: separators and spaces are ignored.
_IGNORED = str.maketrans("", "", "- _.")


def check_symbol(body: str) -> str:
    """The check character of `body` (weighted sum modulo 31, weights 1..n)."""
    total = sum(weight * _VALUE[symbol] for weight, symbol in enumerate(body, 1))
    return ALPHABET[total % len(ALPHABET)]


def format_number(compact: str) -> str:
    return f"{compact[:4]}-{compact[4:]}"


def new_order_number() -> str:
    """A random, well-formed number (the conditional claim makes it unique)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return format_number(body + check_symbol(body))


def parse_order_number(text: str) -> str | None:
    """The canonical `XXXX-XXXX` form of what someone typed, or None if it cannot be a number."""
    compact = text.strip().upper().translate(_IGNORED)
    if len(compact) != BODY_LENGTH + 1 or any(symbol not in _VALUE for symbol in compact):
        return None
    if check_symbol(compact[:BODY_LENGTH]) != compact[BODY_LENGTH]:
        return None
    return format_number(compact)


def legacy_reference(order_id: str) -> str:
    """What orders placed before numbers existed show: the id's last 8 characters, grouped."""
    tail = order_id.rsplit("_", 1)[-1][-8:].upper()
    return format_number(tail) if len(tail) == 8 else tail

"""The labels route's schema and the labels contract accept exactly the same ids."""

from __future__ import annotations

import re
import sys

from rtad.scorer.api.routes_labels import NOT_BLANK, parse_labels


def test_not_blank_is_exactly_not_all_isspace() -> None:
    pattern = re.compile(NOT_BLANK)
    disagree = [
        hex(c)
        for c in range(sys.maxunicode + 1)
        if bool(pattern.search(chr(c))) == chr(c).isspace()
    ]
    assert disagree == []


def test_the_contract_refuses_what_the_pattern_refuses() -> None:
    body = b'{"labels": [{"transaction_id": "t", "user_id": "\\u001d\\u0085 ", "verdict": "fraud",'
    body += b' "source": "analyst"}]}'
    assert not re.search(NOT_BLANK, "\x1d\x85 ")
    assert parse_labels(body)[1] == {0: "user_id must not be blank"}

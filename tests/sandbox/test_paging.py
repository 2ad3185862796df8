from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from clever_sandbox.paging import (
    MAX_LIMIT,
    PageRequest,
    PagingError,
    page_links,
    parse_page_request,
    select_page,
)

RECORDS = [{"id": f"{n:024x}", "even": n % 2 == 0} for n in range(1, 11)]


def _ids(records: Sequence[Mapping[str, Any]]) -> list[int]:
    return [int(str(r["id"]), 16) for r in records]


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (PageRequest(limit=3), [1, 2, 3]),
        (PageRequest(limit=3, starting_after=f"{3:024x}"), [4, 5, 6]),
        (PageRequest(limit=3, starting_after=f"{10:024x}"), []),
        (PageRequest(limit=3, ending_before=f"{5:024x}"), [2, 3, 4]),
        (PageRequest(limit=3, ending_before=f"{1:024x}"), []),
        (PageRequest(limit=100, starting_after=f"{2:024x}", ending_before=f"{6:024x}"), [3, 4, 5]),
        # cursors need not be ids of records: they compare as ids
        (PageRequest(limit=2, starting_after=f"{3:024x}"[:-1] + "38"), [4, 5]),
    ],
)
def test_select_page(page: PageRequest, expected: list[int]) -> None:
    assert _ids(select_page(RECORDS, page)) == expected


def test_select_page_filters_before_counting() -> None:
    page = select_page(RECORDS, PageRequest(limit=2, starting_after=f"{1:024x}"), lambda r: bool(r["even"]))
    assert _ids(page) == [2, 4]
    page = select_page(RECORDS, PageRequest(limit=2, ending_before=f"{9:024x}"), lambda r: bool(r["even"]))
    assert _ids(page) == [6, 8]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": "0"}, 400),
        ({"limit": "-1"}, 400),
        ({"limit": "abc"}, 400),
        ({"limit": "1.5"}, 400),
        ({"limit": ""}, 400),
        ({"limit": str(MAX_LIMIT + 1)}, 413),
    ],
)
def test_bad_limits(params: dict[str, str], status: int) -> None:
    with pytest.raises(PagingError) as caught:
        parse_page_request(params)
    assert caught.value.status == status


def test_good_limits() -> None:
    assert parse_page_request({}) == PageRequest(limit=100)
    assert parse_page_request({"limit": str(MAX_LIMIT), "starting_after": "a"}) == PageRequest(MAX_LIMIT, "a")


def test_links_keep_other_parameters_and_replace_cursors() -> None:
    query = [("role", "student"), ("limit", "2"), ("ending_before", "x")]
    links = page_links("/v3.1/users", query, RECORDS[2:4])
    assert links == [
        {"rel": "self", "uri": "/v3.1/users?role=student&limit=2&ending_before=x"},
        {"rel": "next", "uri": f"/v3.1/users?role=student&limit=2&starting_after={4:024x}"},
        {"rel": "prev", "uri": f"/v3.1/users?role=student&limit=2&ending_before={3:024x}"},
    ]
    assert page_links("/v3.1/users", [], []) == [{"rel": "self", "uri": "/v3.1/users"}]

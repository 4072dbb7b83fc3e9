from __future__ import annotations

import pytest

from common.errors import ServiceError
from common.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_token, encode_token, page_size


def test_page_size() -> None:
    assert page_size(0) == DEFAULT_PAGE_SIZE
    assert page_size(7) == 7
    assert page_size(10_000) == MAX_PAGE_SIZE
    with pytest.raises(ServiceError) as err:
        page_size(-1)
    assert err.value.violations[0].field == "page_size"


def test_token_round_trip_and_filter_binding() -> None:
    token = encode_token(["run_x"], ["running"])
    cursor = decode_token(token, ["running"], key_length=1)
    assert cursor is not None
    assert cursor.key == ["run_x"]
    assert decode_token("", ["running"]) is None
    with pytest.raises(ServiceError, match="other filters"):
        decode_token(token, ["queued"], key_length=1)


@pytest.mark.parametrize("token", ["%%%", "bm90IGpzb24", "eyJrIjoxfQ", "eyJrIjpbMSwyXSwiZiI6IngifQ"])
def test_malformed_tokens_name_the_field(token: str) -> None:
    with pytest.raises(ServiceError) as err:
        decode_token(token, [], key_length=1)
    assert [v.field for v in err.value.violations] == ["page_token"]

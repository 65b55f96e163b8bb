"""The NATS users of ``bus/auth.py`` without a server: who connects as whom, what no role
may do, the credentials file, URLs with and without passwords."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bus.auth import (
    ADMIN,
    OPERATOR,
    ROLE_USERS,
    USERS,
    Credentials,
    mask_url,
    permissions,
    url_user,
    user_for_roles,
    with_user,
)


def test_each_process_gets_the_smallest_user_covering_its_roles() -> None:
    assert user_for_roles(["edge"]) == "edge"
    assert user_for_roles(["session", "edge"]) == "front"
    assert user_for_roles(["llm"]) == "llm"
    assert user_for_roles(["stt", "llm"]) == "models"
    assert user_for_roles(["edge", "session", "stt", "llm", "tts", "embed"]) == "node"
    assert user_for_roles(["edge", "llm"]) == "node"
    with pytest.raises(ValueError):
        user_for_roles(["edge", "root"])
    with pytest.raises(ValueError):
        user_for_roles([])


def test_no_role_may_administer_or_read_everything() -> None:
    for user in (*ROLE_USERS, OPERATOR, "supervisor"):
        perms = permissions(user)
        pub, sub = perms["publish"]["allow"], perms["subscribe"]["allow"]
        assert ">" not in pub and ">" not in sub, user
        assert not [
            s
            for s in pub
            if s.startswith("$JS.API.STREAM.")
            and any(op in s for op in ("CREATE", "UPDATE", "DELETE"))
        ], user
        # purging is only for the object stores (an object's old chunks, a deleted answer)
        assert not [
            s for s in pub if "PURGE" in s and not s.endswith((".OBJ_audio", ".OBJ_answer_audio"))
        ], user
        assert "$JS.API.>" not in pub, user
        if user != OPERATOR:  # the nats CLI's own inbox; no Parley process uses it
            assert "_INBOX.>" not in sub, user
            assert sub[-1] == f"_INBOX_{user}.>", user
    assert permissions(ADMIN)["publish"]["allow"] == [">"]


def test_group_users_are_the_union_of_their_roles() -> None:
    front = set(permissions("front")["publish"]["allow"])
    assert set(permissions("edge")["publish"]["allow"]) <= front
    assert set(permissions("session")["publish"]["allow"]) <= front
    assert "interview.session.*.result" not in front
    edge_pub = permissions("edge")["publish"]["allow"]
    assert "interview.session.*.in" in edge_pub and "interview.jobs.*" not in edge_pub


def test_credentials_file_is_0600_kept_and_rotated(tmp_path: Path) -> None:
    path = tmp_path / "nats-credentials.json"
    creds = Credentials.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(path.read_text())["users"]) == set(USERS)
    again = Credentials.load_or_create(path)
    assert all(again.password(u) == creds.password(u) for u in USERS)
    again.rotate()
    rotated = Credentials.load(path)
    assert all(rotated.password(u) != creds.password(u) for u in USERS)
    assert len({rotated.password(u) for u in USERS}) == len(USERS)
    path.write_text('{"users": {"edge": 5}}')
    with pytest.raises(ValueError):
        Credentials.load(path)


def test_urls_carry_credentials_and_print_masked() -> None:
    url = with_user("nats://10.0.0.1:4222, nats://old:pw@10.0.0.2:4222", "edge", "s3cr/t")
    assert url == "nats://edge:s3cr%2Ft@10.0.0.1:4222,nats://edge:s3cr%2Ft@10.0.0.2:4222"
    assert url_user(url) == "edge"
    assert url_user("nats://127.0.0.1:4222") is None
    masked = mask_url(url)
    assert "s3cr" not in masked
    assert masked == "nats://edge:***@10.0.0.1:4222,nats://edge:***@10.0.0.2:4222"
    assert mask_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"

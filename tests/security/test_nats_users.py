"""The NATS users of ``bus/auth.py`` without a server: who connects as whom, what no role
may do, the credentials file, URLs with and without passwords."""

from __future__ import annotations

import json
from pathlib import Path

import bcrypt
import pytest

from bus.auth import (
    ADMIN,
    OPERATOR,
    ROLE_USERS,
    USERS,
    Credentials,
    authorization_block,
    connection_groups,
    mask_url,
    permissions,
    url_user,
    user_for_roles,
    with_user,
)


def test_each_role_group_connects_as_its_own_user() -> None:
    assert user_for_roles(["edge"]) == "edge"
    assert user_for_roles(["llm"]) == "llm"
    assert user_for_roles(["stt", "llm"]) == "models"
    # the edge and the session role never share a user, not even in one process
    assert connection_groups(["session", "edge"]) == [
        (("edge",), "edge"),
        (("session",), "session"),
    ]
    assert connection_groups(["edge", "session", "stt", "llm", "tts", "embed"]) == [
        (("edge",), "edge"),
        (("session",), "session"),
        (("stt", "llm", "tts", "embed"), "models"),
    ]
    assert connection_groups(["llm", "edge"]) == [(("edge",), "edge"), (("llm",), "llm")]
    for mixed in (["edge", "session"], ["edge", "llm"], ["session", "tts"]):
        with pytest.raises(ValueError):
            user_for_roles(mixed)
    with pytest.raises(ValueError):
        connection_groups(["edge", "root"])
    with pytest.raises(ValueError):
        connection_groups([])
    assert "front" not in USERS and "node" not in USERS


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
    models = set(permissions("models")["publish"]["allow"])
    for role in ("stt", "llm", "tts", "embed"):
        assert set(permissions(role)["publish"]["allow"]) <= models
    edge_pub = permissions("edge")["publish"]["allow"]
    assert "interview.session.*.in" in edge_pub and "interview.jobs.*" not in edge_pub


def test_the_edge_reads_answer_audio_and_creates_no_durable_consumer() -> None:
    edge_pub = permissions("edge")["publish"]["allow"]
    assert not [s for s in edge_pub if s.startswith("$O.")], edge_pub  # no object writes
    assert not [s for s in edge_pub if "PURGE" in s or "DELETE" in s], edge_pub
    # only the legacy ephemeral create subject, where the server refuses a durable name
    creates = [s for s in edge_pub if ".CONSUMER." in s and "CREATE" in s]
    assert creates == ["$JS.API.CONSUMER.CREATE.OUT", "$JS.API.CONSUMER.CREATE.OBJ_answer_audio"]
    assert "interview.delete" in edge_pub
    assert "interview.delete" in permissions("session")["subscribe"]["allow"]


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


def test_the_server_config_holds_bcrypt_hashes_not_passwords(tmp_path: Path) -> None:
    creds = Credentials.load_or_create(tmp_path / "nats-credentials.json")
    block = json.loads(authorization_block(creds).split(" ", 1)[1])
    for entry in block["users"]:
        assert entry["password"].startswith("$2b$"), entry["user"]
        assert bcrypt.checkpw(creds.password(entry["user"]).encode(), entry["password"].encode())
    for user in USERS:
        assert creds.password(user) not in authorization_block(creds)
    part = creds.subset(["edge", "session"], tmp_path / "child.json")
    assert part.path.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(part.path.read_text())["users"]) == {"edge", "session"}


def test_urls_carry_credentials_and_print_masked() -> None:
    url = with_user("nats://10.0.0.1:4222, nats://old:pw@10.0.0.2:4222", "edge", "s3cr/t")
    assert url == "nats://edge:s3cr%2Ft@10.0.0.1:4222,nats://edge:s3cr%2Ft@10.0.0.2:4222"
    assert url_user(url) == "edge"
    assert url_user("nats://127.0.0.1:4222") is None
    masked = mask_url(url)
    assert "s3cr" not in masked
    assert masked == "nats://edge:***@10.0.0.1:4222,nats://edge:***@10.0.0.2:4222"
    assert mask_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"

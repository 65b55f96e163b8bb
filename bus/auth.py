"""Who may do what on the bus: one NATS user per role group, each with an allow-list.

The embedded nats-server (:class:`bus.embedded.EmbeddedNats`) runs with the users of
:data:`USERS`, their generated passwords kept in a 0600 JSON file under the data dir
(:class:`Credentials`); the server's config holds only their bcrypt hashes
(:func:`authorization_block`). A process opens one connection per role group it runs
(:func:`connection_groups`: the edge, the session role and its model roles each connect
as their own user, also when they share a process), so whoever takes over one role's
connection holds that role's rights and no other's. The supervisor hands each child a
credentials file with only its users (:meth:`Credentials.subset`); tests and tools put
a user into a URL (:func:`with_user`). Never log such a URL as is: :func:`mask_url`.

Users and what they may do (the table of ``docs/operating.md``, "Security")::

    edge        publish .in, interview.activate and interview.delete; read OUT through
                ephemeral consumers only (never a durable one) and .audio; read answer
                audio (the replay object store), never write or delete it
    session     answer .in/activate/delete; publish .out/.audio/jobs; read RESULTS; the lease
                bucket; write and delete answer audio (the replay object store)
    stt llm     their own job consumer (fetch, ack) and result subjects
    tts embed   (tts also its audio cache object store)
    models      stt + llm + tts + embed (one process serving every model)
    supervisor  its own micro service only
    operator    read-only inspection: $SRV.*, stream and consumer info, parley.*.status
    admin       everything: creates, updates, deletes and purges streams (provisioning)

Every role user has its own inbox prefix ``_INBOX_<user>`` (:func:`inbox_prefix`) and may
subscribe only there, so one role cannot read the replies and push deliveries of another;
replies to requests it received are allowed by ``allow_responses``.
"""

from __future__ import annotations

__all__ = [
    "ADMIN",
    "OPERATOR",
    "ROLE_USERS",
    "SUPERVISOR",
    "USERS",
    "Credentials",
    "authorization_block",
    "connection_groups",
    "inbox_prefix",
    "mask_url",
    "permissions",
    "url_credentials",
    "url_user",
    "user_for_roles",
    "with_user",
    "write_authorization",
]

import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import bcrypt

from bus import subjects

ADMIN = "admin"
OPERATOR = "operator"
SUPERVISOR = "supervisor"

_ROLES: tuple[str, ...] = ("edge", "session", "stt", "llm", "tts", "embed")

_MODEL_ROLES: tuple[str, ...] = ("stt", "llm", "tts", "embed")

#: The role set of each role user. No user holds the edge's or the session's rights
#: together with any other role's.
ROLE_USERS: dict[str, frozenset[str]] = {
    **{r: frozenset({r}) for r in _ROLES},
    "models": frozenset(_MODEL_ROLES),
}

USERS: tuple[str, ...] = (*ROLE_USERS, SUPERVISOR, OPERATOR, ADMIN)

_JS = "$JS.API"


def user_for_roles(roles: Iterable[str]) -> str:
    """The user of one role group: exactly the role for one role, ``models`` for several
    model roles. Raises ValueError for anything else (split it with
    :func:`connection_groups`)."""
    wanted = frozenset(roles)
    if wanted - set(_ROLES) or not wanted:
        raise ValueError(f"no NATS user for roles {sorted(wanted)}")
    fits = [u for u, have in ROLE_USERS.items() if wanted <= have]
    if not fits:
        raise ValueError(f"roles {sorted(wanted)} need one connection each group")
    return min(fits, key=lambda u: len(ROLE_USERS[u]))


def connection_groups(roles: Iterable[str]) -> list[tuple[tuple[str, ...], str]]:
    """The connections a process with ``roles`` opens: (roles, user) for the edge, the
    session role and the model roles, each group that is present, in that order."""
    wanted = set(roles)
    if wanted - set(_ROLES) or not wanted:
        raise ValueError(f"no NATS user for roles {sorted(wanted)}")
    groups: list[tuple[str, ...]] = [(r,) for r in ("edge", "session") if r in wanted]
    models = tuple(r for r in _MODEL_ROLES if r in wanted)
    if models:
        groups.append(models)
    return [(g, user_for_roles(g)) for g in groups]


def inbox_prefix(user: str | None) -> str:
    """The reply-inbox prefix of ``user``'s connections (``_INBOX`` when anonymous)."""
    return f"_INBOX_{user}" if user else "_INBOX"


def _service(name: str, *endpoints: str) -> list[str]:
    """What a ``nats.micro`` service named ``name`` subscribes to."""
    return [
        "$SRV.PING",
        "$SRV.INFO",
        "$SRV.STATS",
        f"$SRV.*.{name}",
        f"$SRV.*.{name}.*",
        *endpoints,
    ]


def _object_store_reader(bucket: str) -> list[str]:
    """Read objects of one object store: look up its stream, get an object's last meta
    message, and read its chunks through an ephemeral ordered consumer (the legacy
    create subject only: the server refuses a durable consumer there)."""
    obj = f"OBJ_{bucket}"
    return [
        f"{_JS}.STREAM.INFO.{obj}",
        f"{_JS}.STREAM.MSG.GET.{obj}",
        f"{_JS}.DIRECT.GET.{obj}",
        f"{_JS}.DIRECT.GET.{obj}.>",
        f"{_JS}.CONSUMER.CREATE.{obj}",
        f"{_JS}.STREAM.NAMES",
    ]


def _object_store(bucket: str) -> list[str]:
    """Read, write and delete objects of one object store (put() purges the chunks of an
    object it replaces; nats-py finds the stream of the chunks by name)."""
    obj = f"OBJ_{bucket}"
    return [
        f"$O.{bucket}.>",
        f"{_JS}.STREAM.INFO.{obj}",
        f"{_JS}.STREAM.MSG.GET.{obj}",
        f"{_JS}.DIRECT.GET.{obj}",
        f"{_JS}.DIRECT.GET.{obj}.>",
        f"{_JS}.CONSUMER.CREATE.{obj}",
        f"{_JS}.CONSUMER.CREATE.{obj}.>",
        f"{_JS}.CONSUMER.INFO.{obj}.*",
        f"{_JS}.CONSUMER.DELETE.{obj}.*",
        f"{_JS}.STREAM.PURGE.{obj}",
        f"{_JS}.STREAM.NAMES",
    ]


def _role_permissions(role: str) -> tuple[list[str], list[str]]:
    """(publish, subscribe) allow-lists of one role."""
    if role == "edge":
        return (
            [
                subjects.ALL_SESSION_IN,
                subjects.ACTIVATE,
                subjects.DELETE,  # "delete my interview": the session nodes do it
                "$SRV.>",  # readiness: pings and stats of the services
                # ephemeral consumers only: a durable name on this subject is refused
                f"{_JS}.CONSUMER.CREATE.{subjects.STREAM_OUT}",
                f"{_JS}.CONSUMER.INFO.{subjects.STREAM_OUT}.*",
                *_object_store_reader(subjects.OBJ_REPLAY),  # replay answer audio
            ],
            [subjects.ALL_SESSION_AUDIO],
        )
    if role == "session":
        kv = f"KV_{subjects.KV_OWNERS}"
        return (
            [
                subjects.ALL_SESSION_OUT,
                subjects.ALL_SESSION_AUDIO,
                subjects.ALL_JOBS,
                f"$KV.{subjects.KV_OWNERS}.>",
                f"{_JS}.STREAM.INFO.{kv}",
                f"{_JS}.STREAM.MSG.GET.{kv}",
                f"{_JS}.DIRECT.GET.{kv}",
                f"{_JS}.DIRECT.GET.{kv}.>",
                f"{_JS}.STREAM.MSG.GET.{subjects.STREAM_OUT}",
                # ephemeral consumers only (the legacy create subject refuses durables)
                f"{_JS}.CONSUMER.CREATE.{subjects.STREAM_RESULTS}",
                f"{_JS}.CONSUMER.INFO.{subjects.STREAM_RESULTS}.*",
                # keeps each spoken answer's audio, deletes it with the interview
                *_object_store(subjects.OBJ_REPLAY),
            ],
            [
                subjects.ALL_SESSION_IN,
                subjects.ACTIVATE,
                subjects.DELETE,
                *_service("parley-session", "parley.session.*.status"),
            ],
        )
    kinds = ("llm", "assess") if role == "llm" else (role,)
    pub = [subjects.ALL_SESSION_RESULTS]
    for kind in kinds:
        consumer = f"{subjects.STREAM_JOBS}.{subjects.job_consumer(kind)}"
        pub += [
            f"{_JS}.CONSUMER.INFO.{consumer}",
            f"{_JS}.CONSUMER.MSG.NEXT.{consumer}",
            f"$JS.ACK.{consumer}.>",
        ]
    if role == "tts":  # the TTS cache
        pub += _object_store(subjects.OBJ_AUDIO)
    return pub, _service(f"parley-{role}", f"parley.{role}.status")


def _dedup(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def permissions(user: str) -> dict[str, Any]:
    """The nats-server ``permissions`` map of ``user`` (see the module docstring)."""
    if user == ADMIN:
        return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
    if user == OPERATOR:
        return {
            "publish": {
                "allow": [
                    "$SRV.>",
                    f"{_JS}.INFO",
                    f"{_JS}.STREAM.NAMES",
                    f"{_JS}.STREAM.LIST",
                    f"{_JS}.STREAM.INFO.*",
                    f"{_JS}.CONSUMER.NAMES.*",
                    f"{_JS}.CONSUMER.LIST.*",
                    f"{_JS}.CONSUMER.INFO.*.*",
                    "parley.*.status",
                    "parley.*.*.status",
                ]
            },
            # the nats CLI's default inbox, and ours; no Parley process uses either
            "subscribe": {"allow": ["_INBOX.>", f"{inbox_prefix(user)}.>"]},
        }
    if user == SUPERVISOR:
        pub: list[str] = []
        sub = _service("parley-supervisor", "parley.supervisor.*.status")
    elif user in ROLE_USERS:
        pub, sub = [], []
        for role in _ROLES:  # a fixed order: the generated config is stable
            if role in ROLE_USERS[user]:
                p, s = _role_permissions(role)
                pub += p
                sub += s
    else:
        raise ValueError(f"unknown NATS user {user!r}")
    sub.append(f"{inbox_prefix(user)}.>")
    return {
        # an empty allow-list would allow everything: "_" is a subject nobody uses
        "publish": {"allow": _dedup(pub) or ["_"]},
        "subscribe": {"allow": _dedup(sub)},
        "allow_responses": True,
    }


#: bcrypt cost of the hashes in the server's config. The passwords are 32 random URL-safe
#: characters (192 bits): no cost makes guessing them easier or harder; the hash keeps the
#: config (copied to every server of a cluster) from holding a usable password, and the
#: server checks one hash per connect, so it is kept cheap (about 4 ms here).
BCRYPT_ROUNDS = 6


def authorization_block(creds: Credentials) -> str:
    """The ``authorization { users: [...] }`` section of a nats-server config (JSON is
    valid nats-server config syntax), with each password as a bcrypt hash (nats-server
    takes ``$2b$...`` as one and then does not warn about plaintext passwords). Written
    0600 all the same."""
    users = [
        {"user": u, "password": _bcrypt(creds.password(u)), "permissions": permissions(u)}
        for u in USERS
    ]
    return "authorization " + json.dumps({"users": users}, indent=2) + "\n"


def _bcrypt(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


def write_authorization(credentials: Path, out: Path, *, rotate: bool = False) -> None:
    """Write the ``authorization`` block of the users in ``credentials`` (created when
    missing; every password new with ``rotate``) to ``out``, mode 0600: what
    ``parley nats-auth`` does for servers Parley does not start (``include`` it)."""
    creds = Credentials.load_or_create(credentials)
    if rotate:
        creds.rotate()
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# generated by `parley nats-auth` from " + str(credentials) + "\n")
        f.write(authorization_block(creds))
    os.replace(tmp, out)


class Credentials:
    """The password of every user in :data:`USERS`, kept in a 0600 JSON file.

    :meth:`load_or_create` generates missing passwords (32 random URL-safe characters)
    once and keeps them, so processes configured with them survive a restart. Rotation:
    :meth:`rotate`, then restart the server and every process (``docs/operating.md``).
    """

    def __init__(self, path: Path, passwords: dict[str, str]) -> None:
        self.path = path
        self._passwords = passwords

    @classmethod
    def load(cls, path: Path) -> Credentials:
        """Read ``path``; raises ValueError when it is not a map of user to password."""
        data = json.loads(Path(path).read_text())
        users = data.get("users") if isinstance(data, dict) else None
        if not isinstance(users, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in users.items()
        ):
            raise ValueError(f'{path}: expected {{"users": {{name: password}}}}')
        return cls(Path(path), dict(users))

    @classmethod
    def load_or_create(cls, path: Path) -> Credentials:
        """The credentials in ``path``, with any missing user added (file mode 0600)."""
        path = Path(path)
        creds = cls.load(path) if path.exists() else cls(path, {})
        missing = [u for u in USERS if u not in creds._passwords]
        if missing:
            for user in missing:
                creds._passwords[user] = secrets.token_urlsafe(24)
            creds.save()
        elif path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return creds

    def rotate(self) -> None:
        """New passwords for every user, saved. Takes effect when the server restarts."""
        self._passwords = {u: secrets.token_urlsafe(24) for u in USERS}
        self.save()

    def save(self) -> None:
        """Write the file atomically, mode 0600 from its creation."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"users": self._passwords}, f, indent=2)
        os.replace(tmp, self.path)

    def password(self, user: str) -> str:
        try:
            return self._passwords[user]
        except KeyError:
            raise KeyError(f"no password for NATS user {user!r} in {self.path}") from None

    def has(self, user: str) -> bool:
        return user in self._passwords

    def subset(self, users: Iterable[str], path: Path) -> Credentials:
        """A credentials file at ``path`` (0600) with only ``users``: what the supervisor
        gives a child, so that it holds no other role's password (nor ``admin``)."""
        part = Credentials(Path(path), {u: self.password(u) for u in users})
        part.save()
        return part

    def url(self, url: str, user: str) -> str:
        """``url`` (comma-separated for a cluster) with ``user``'s name and password."""
        return with_user(url, user, self.password(user))


def with_user(url: str, user: str, password: str) -> str:
    """Put ``user:password`` into every URL of the comma-separated ``url`` (replacing any
    userinfo there). nats-py reads credentials from the URL."""
    out = []
    for one in (u.strip() for u in url.split(",") if u.strip()):
        parts = urlsplit(one if "://" in one else f"nats://{one}")
        host = parts.netloc.rsplit("@", 1)[-1]
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
        out.append(urlunsplit(parts._replace(netloc=netloc)))
    return ",".join(out)


def url_credentials(url: str) -> tuple[str | None, str | None]:
    """(user, password) in the first URL of ``url`` (None when absent). Give them to
    nats-py as options too: the servers a cluster announces come without userinfo."""
    first = url.split(",", 1)[0].strip()
    parts = urlsplit(first if "://" in first else f"nats://{first}")
    return (
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password is not None else None,
    )


def url_user(url: str) -> str | None:
    """The user name in the first URL of ``url``, or None."""
    return url_credentials(url)[0]


def mask_url(url: str) -> str:
    """``url`` with every password replaced by ``***``, for logs and the terminal."""
    out = []
    for one in url.split(","):
        parts = urlsplit(one.strip() if "://" in one else f"nats://{one.strip()}")
        if parts.password is not None:
            host = parts.netloc.rsplit("@", 1)[-1]
            one = urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
        out.append(one.strip())
    return ",".join(out)

"""The schema. It changes only through Alembic migrations (alembic/versions)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlmodel import Field, SQLModel


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


class JobKind(StrEnum):
    GENERATE = "generate"
    EDIT = "edit"


class Role(StrEnum):
    """Who wrote a message."""

    USER = "user"
    ASSISTANT = "assistant"


class LedgerStatus(StrEnum):
    RESERVED = "reserved"
    CHARGED = "charged"
    RELEASED = "released"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(**kw) -> Field:
    return Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False, **kw)


def _opt_ts() -> Field:
    return Field(default=None, sa_type=sa.DateTime(timezone=True), nullable=True)


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=sa.Column(sa.String(64), unique=True, nullable=False))
    password_hash: str = Field(sa_type=sa.Text, nullable=False)
    created_at: datetime = _ts()
    is_admin: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Set by `python -m imagechat users disable`: no log-in, and every session is revoked.
    disabled_at: datetime | None = _opt_ts()
    # Set by an administrator on /admin; None: the server-wide setting applies (core.limits.user_caps).
    daily_budget_usd: float | None = None
    monthly_budget_usd: float | None = None
    rate_limit: str | None = Field(default=None, max_length=64)  # limits syntax, e.g. 10/minute
    composer_options: dict | None = Field(default=None, sa_type=JSONB)  # the last options chosen (core/preferences.py)


class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_sessions"
    # sha256 of the session token: a database leak does not leak live sessions.
    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    created_at: datetime = _ts()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False, index=True)  # purge


class Invite(SQLModel, table=True):
    """A single-use sign-up code (ALLOW_SIGNUP=invite). Only its sha256 is stored, like session tokens."""

    __tablename__ = "invites"
    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(sa_column=sa.Column(sa.String(64), unique=True, nullable=False))
    # None: made on the command line.
    created_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    used_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = _ts()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    used_at: datetime | None = _opt_ts()


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (sa.Index("ix_conversations_owner_updated", "owner_id", "updated_at"),)
    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    title: str = Field(default="New chat", max_length=200)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    # "Continue from this one" (one image of a batch): what the next change refers to, until a newer image.
    focus_image_id: uuid.UUID | None = Field(default=None, foreign_key="images.id", ondelete="SET NULL")
    focus_set_at: datetime | None = _opt_ts()


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        # Paging a conversation from its newest message back: keyset on (created_at, id).
        sa.Index("ix_messages_conversation_created_id", "conversation_id", "created_at", "id"),
        sa.Index("ix_messages_job", "job_id"),  # an image's message, from its job
    )
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id", ondelete="CASCADE")
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    role: str = Field(max_length=16)  # a Role
    content: str = Field(default="", sa_type=sa.Text)
    job_id: uuid.UUID | None = Field(default=None, foreign_key="generation_jobs.id", ondelete="SET NULL")
    # Set on an assistant reply that reports a refused request (rate limit, budget, ...): offers Retry.
    error_code: str | None = Field(default=None, max_length=64)
    # An answer from the library (core/cache.py): the images of an earlier identical request, at no cost.
    from_library: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = _ts()


class GenerationJob(SQLModel, table=True):
    __tablename__ = "generation_jobs"
    __table_args__ = (
        sa.Index("ix_jobs_owner_created", "owner_id", "created_at"),
        sa.Index("ix_jobs_status_heartbeat", "status", "heartbeat_at"),
        # The history view: its status filter and its search.
        sa.Index("ix_jobs_owner_status_created", "owner_id", "status", "created_at"),
        sa.Index("ix_jobs_prompt_fts", sa.text("to_tsvector('english'::regconfig, prompt)"), postgresql_using="gin"),
        # An identical earlier request that succeeded (core/cache.py).
        sa.Index("ix_jobs_owner_request_key", "owner_id", "request_key", "created_at",
                 postgresql_where=sa.text("request_key IS NOT NULL AND status = 'succeeded'")),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id", ondelete="SET NULL")
    kind: str = Field(default=JobKind.GENERATE, max_length=16)
    status: str = Field(default=JobStatus.QUEUED, max_length=16)
    percent: float = 0.0
    stage: str = Field(default="Queued", max_length=200)
    error: str | None = Field(default=None, sa_type=sa.Text)
    error_code: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    engine: str = Field(max_length=32)
    model: str = Field(default="", max_length=128)
    prompt: str = Field(sa_type=sa.Text)
    params: dict = Field(default_factory=dict, sa_type=JSONB)
    # No foreign key: images.job_id already points here, and a job keeps its history if the source is deleted.
    source_image_id: uuid.UUID | None = None
    reserved_usd: float = 0.0
    cost_usd: float = 0.0
    # sha256 of the normalised request (core/cache.request_key); None for edits and explicit seeds.
    request_key: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()
    started_at: datetime | None = _opt_ts()
    heartbeat_at: datetime | None = _opt_ts()
    finished_at: datetime | None = _opt_ts()


class JobMask(SQLModel, table=True):
    """The area painted for an edit (the detail view's mask editor): a PNG of the source image's size whose fully
    transparent pixels mark where to change it. Apart from generation_jobs so listing jobs stays light."""

    __tablename__ = "job_masks"
    job_id: uuid.UUID = Field(primary_key=True, foreign_key="generation_jobs.id", ondelete="CASCADE")
    mask_b64: str = Field(sa_type=sa.Text)


# Full-text document of an image: the prompt weighs most, then the revised prompt, then tags and album
# names. PostgreSQL keeps it (a generated column), so no write path can leave it stale. array_to_string is
# only STABLE, so an IMMUTABLE wrapper (created before the table, see below) joins the tags.
TAGS_TEXT_FUNCTION = """
CREATE OR REPLACE FUNCTION imagechat_tags_text(tags varchar[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT array_to_string(tags, ' ') $$
"""
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('english'::regconfig, prompt), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(revised_prompt, '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, imagechat_tags_text(tags) || ' ' || album_names), 'C')"
)
MAX_TAG_CHARS = 40
MAX_ALBUM_NAME_CHARS = 100


class Image(SQLModel, table=True):
    """Metadata only: listing queries read this table and never the Base64 payload."""

    __tablename__ = "images"
    __table_args__ = (
        # Keyset pagination: (created_at, id) per owner, newest or oldest first; deleted images never listed.
        sa.Index("ix_images_owner_created_id", "owner_id", "created_at", "id",
                 postgresql_where=sa.text("deleted_at IS NULL")),
        sa.Index("ix_images_deleted", "deleted_at", postgresql_where=sa.text("deleted_at IS NOT NULL")),  # purge
        sa.UniqueConstraint("job_id", "index_in_job", name="uq_images_job_index"),
        sa.Index("ix_images_search", "search", postgresql_using="gin"),
        sa.Index("ix_images_tags", "tags", postgresql_using="gin"),
        sa.Index("ix_images_parent", "parent_image_id"),
        sa.CheckConstraint("storage IN ('postgres', 's3')", name="ck_images_storage"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    job_id: uuid.UUID | None = Field(default=None, foreign_key="generation_jobs.id", ondelete="SET NULL")
    index_in_job: int = 0
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id", ondelete="SET NULL")
    parent_image_id: uuid.UUID | None = Field(default=None, foreign_key="images.id", ondelete="SET NULL")
    prompt: str = Field(sa_type=sa.Text)
    revised_prompt: str | None = Field(default=None, sa_type=sa.Text)
    style: str | None = Field(default=None, max_length=64)
    engine: str = Field(max_length=32)
    model: str = Field(default="", max_length=128)
    seed: int | None = Field(default=None, sa_type=sa.BigInteger)
    width: int
    height: int
    mime: str = Field(max_length=32)
    byte_size: int
    sha256: str = Field(max_length=64)
    # Which store holds the bytes (core.storage): "postgres" (image_data) or "s3". Per image, so a library can be
    # mixed while `python -m imagechat storage migrate` moves it.
    storage: str = Field(default="postgres", max_length=16, sa_column_kwargs={"server_default": "postgres"})
    favorite: bool = False
    # Lower-case, trimmed, unique per image (core.organise keeps them so).
    tags: list[str] = Field(default_factory=list, sa_column=sa.Column(
        ARRAY(sa.String(MAX_TAG_CHARS)), nullable=False, server_default=sa.text("'{}'::varchar[]")))
    # The names of the albums holding this image, space-joined: only for the search document.
    album_names: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    search: str | None = Field(default=None, sa_column=sa.Column(
        TSVECTOR, sa.Computed(SEARCH_DOCUMENT, persisted=True), nullable=True))
    # Set by a delete: hidden everywhere at once, purged after the undo window (core.organise).
    deleted_at: datetime | None = _opt_ts()
    created_at: datetime = _ts()


# create_all (tests' scratch databases) needs the function before the table; migrations create it themselves.
sa.event.listen(Image.__table__, "before_create", sa.DDL(TAGS_TEXT_FUNCTION))


class Album(SQLModel, table=True):
    __tablename__ = "albums"
    __table_args__ = (sa.Index("uq_albums_owner_name", "owner_id", sa.text("lower(name)"), unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    name: str = Field(max_length=MAX_ALBUM_NAME_CHARS)
    # None: the newest image in the album is the cover.
    cover_image_id: uuid.UUID | None = Field(default=None, foreign_key="images.id", ondelete="SET NULL")
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class AlbumImage(SQLModel, table=True):
    """An image may be in several albums."""

    __tablename__ = "album_images"
    album_id: int = Field(foreign_key="albums.id", ondelete="CASCADE", primary_key=True)
    image_id: uuid.UUID = Field(foreign_key="images.id", ondelete="CASCADE", primary_key=True, index=True)
    added_at: datetime = _ts()


class ShareLink(SQLModel, table=True):
    """A revocable, view-only link to one image or one album. The token is the whole secret."""

    __tablename__ = "share_links"
    __table_args__ = (
        sa.CheckConstraint("(image_id IS NULL) <> (album_id IS NULL)", name="ck_share_links_one_target"),
        sa.Index("ix_share_links_owner_created", "owner_id", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    token: str = Field(sa_column=sa.Column(sa.String(64), unique=True, nullable=False))
    image_id: uuid.UUID | None = Field(default=None, foreign_key="images.id", ondelete="CASCADE")
    album_id: int | None = Field(default=None, foreign_key="albums.id", ondelete="CASCADE")
    expires_at: datetime | None = _opt_ts()
    revoked_at: datetime | None = _opt_ts()
    views: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_viewed_at: datetime | None = _opt_ts()
    created_at: datetime = _ts()


class ImageData(SQLModel, table=True):
    __tablename__ = "image_data"
    image_id: uuid.UUID = Field(primary_key=True, foreign_key="images.id", ondelete="CASCADE")
    data_b64: str = Field(sa_type=sa.Text)
    thumb_b64: str = Field(sa_type=sa.Text)


class UsageEntry(SQLModel, table=True):
    """The cost ledger. A reservation is made before the engine runs and settled or released after."""

    __tablename__ = "usage_ledger"
    __table_args__ = (
        sa.Index("ix_usage_owner_created", "owner_id", "created_at"),
        sa.Index("ix_usage_created", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    job_id: uuid.UUID | None = Field(default=None, foreign_key="generation_jobs.id", ondelete="SET NULL", unique=True)
    status: str = Field(max_length=16)  # a LedgerStatus
    amount_usd: float
    engine: str = Field(max_length=32)
    model: str = Field(default="", max_length=128)
    usage: dict = Field(default_factory=dict, sa_type=JSONB)
    created_at: datetime = _ts()
    settled_at: datetime | None = _opt_ts()


class ApiKey(SQLModel, table=True):
    """A key for the OpenAI-compatible API (/v1). Only its sha256 is stored (the key is 256 random bits, so a fast
    hash is right, as for session tokens); `prefix` is the start of the key, shown to tell keys apart."""

    __tablename__ = "api_keys"
    __table_args__ = (sa.Index("ix_api_keys_owner_created", "owner_id", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    name: str = Field(max_length=64)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(sa_column=sa.Column(sa.String(64), unique=True, nullable=False))
    created_at: datetime = _ts()
    last_used_at: datetime | None = _opt_ts()
    revoked_at: datetime | None = _opt_ts()


class ApiJob(SQLModel, table=True):
    """A job asked for through the OpenAI-compatible API: how to answer with its result (the API's model name, the
    output format), and the client's Idempotency-Key, unique per owner, so a retry finds the job instead of paying
    twice. Written in the job's own transaction (jobs.submit's `record`)."""

    __tablename__ = "api_jobs"
    __table_args__ = (
        sa.Index("uq_api_jobs_owner_idempotency", "owner_id", "idempotency_key", unique=True,
                 postgresql_where=sa.text("idempotency_key IS NOT NULL")),
    )
    job_id: uuid.UUID = Field(primary_key=True, foreign_key="generation_jobs.id", ondelete="CASCADE")
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    api_key_id: int | None = Field(default=None, foreign_key="api_keys.id", ondelete="SET NULL")
    idempotency_key: str | None = Field(default=None, max_length=255)
    fingerprint: str = Field(max_length=64)  # sha256 of the request, to refuse a reused key with another body
    kind: str = Field(max_length=16)  # "generation" | "edit"
    model: str = Field(max_length=128)  # the model id the client named
    output_format: str = Field(default="png", max_length=8)
    output_compression: int | None = None
    created_at: datetime = _ts()

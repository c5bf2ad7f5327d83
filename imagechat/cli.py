"""Command line: the same domain calls as the web app.

    python -m imagechat generate "a sunset over mountains with a lake reflection" --out sunset.png
    python -m imagechat images list [--search lake]
    python -m imagechat images export IMAGE_ID --format webp --out sunset.webp
    python -m imagechat users create ada --admin        (asks for the password; or --password-stdin)
    python -m imagechat users disable ada               (also ends every session of ada's at once)
    python -m imagechat users list
    python -m imagechat invites create --days 7         (prints a single-use sign-up code)
    python -m imagechat storage status                  (images per store; does the object store answer?)
    python -m imagechat storage migrate --to s3         (move existing images; resumable, sha256-checked)
    python -m imagechat keys create --user ada --name laptop   (prints a key for the OpenAI-compatible API, once)
    python -m imagechat keys list --user ada
    python -m imagechat keys revoke KEY_ID --user ada
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
import time
import uuid
from pathlib import Path

from sqlmodel import select

from imagechat.core import api_keys, auth, gallery, jobs, library, progress, storage, storage_migration
from imagechat.core.errors import ImagechatError
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import JobStatus, User

UNUSABLE_PASSWORD = "!cli-only"  # not an argon2 hash: nobody can log in as a command-line user


def cli_user(name: str) -> int:
    """The local user the command line acts as (created on first use)."""
    name = name.lower()
    with session_scope() as s:
        user = s.exec(select(User).where(User.username == name)).first()
        if user is None:
            user = User(username=name, password_hash=UNUSABLE_PASSWORD)
            s.add(user)
            s.flush()
        return user.id


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{2,5})x(\d{2,5})", text.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError("use WIDTHxHEIGHT, for example 1024x1024")
    return int(match.group(1)), int(match.group(2))


def _bar(event: progress.ProgressEvent, width: int = 30) -> str:
    filled = int(width * event.percent / 100)
    where = f" (#{event.queue_position} in queue)" if event.status == JobStatus.QUEUED and event.queue_position else ""
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {event.percent:5.1f}%  {event.stage}{where}"


async def _follow(job_id: uuid.UUID, no_worker_hint_s: float) -> progress.ProgressEvent:
    out = sys.stderr
    last_len = 0
    hinted = False
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with progress.Subscriber() as sub:
        await sub.add(str(job_id))
        while True:
            event = await sub.get(timeout=1.0)
            if event is None:
                if not hinted and loop.time() - started > no_worker_hint_s:
                    out.write("\nStill waiting: is a worker running? Start one with `make run` "
                              "or `python -m workers`.\n")
                    hinted = True
                continue
            line = _bar(event)
            out.write(line + " " * max(0, last_len - len(line)))
            out.flush()
            last_len = len(line)
            if event.terminal:
                out.write("\n")
                return event


def cmd_generate(args: argparse.Namespace) -> int:
    owner = cli_user(args.user)
    width, height = args.size
    try:
        job_id = jobs.submit(owner, ImageRequest(prompt=args.prompt, style=args.style, width=width,
                                             height=height, n=args.n, seed=args.seed), engine=args.engine)
    except ImagechatError as exc:
        print(f"error: {exc.user_message}", file=sys.stderr)
        return 2
    print(f"job {job_id} queued", file=sys.stderr)
    try:
        event = asyncio.run(_follow(job_id, args.hint_after))
    except KeyboardInterrupt:
        jobs.cancel(owner, job_id)
        print("\ncancelled", file=sys.stderr)
        return 130
    if event.status != JobStatus.SUCCEEDED:
        print(f"error: {event.error or event.status}", file=sys.stderr)
        return 1
    image_ids = [uuid.UUID(i) for i in event.image_ids]
    for index, image_id in enumerate(image_ids):
        out = _numbered(Path(args.out), index, len(image_ids))
        fmt = out.suffix.lstrip(".").lower() or "png"
        _, data = library.export(owner, image_id, fmt)
        out.write_bytes(data)
        print(f"{image_id}  {out}")
    return 0


def _numbered(path: Path, index: int, count: int) -> Path:
    return path if count == 1 else path.with_name(f"{path.stem}-{index + 1}{path.suffix}")


def cmd_list(args: argparse.Namespace) -> int:
    owner = cli_user(args.user)
    query = gallery.parse_query({"q": args.search or ""})
    for image in gallery.page(owner, query, limit=args.limit).cards:
        print(f"{image.id}  {image.created_at:%Y-%m-%d %H:%M}  {image.width}x{image.height}  "
              f"{image.engine:<9} {image.style or '-':<14} {image.prompt[:70]}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    owner = cli_user(args.user)
    try:
        image, data = library.export(owner, uuid.UUID(args.image_id), args.format)
    except (ImagechatError, ValueError) as exc:
        print(f"error: {getattr(exc, 'user_message', 'not a valid image id')}", file=sys.stderr)
        return 2
    out = Path(args.out or f"{image.id}.{'jpg' if args.format == 'jpeg' else args.format}")
    out.write_bytes(data)
    print(out)
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    """From stdin (one line) with --password-stdin, else asked twice on the terminal; None after a message."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        print("error: no terminal to ask for the password on: pipe it in with --password-stdin", file=sys.stderr)
        return None
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Same password again: ") != first:
        print("error: the two passwords differ; nothing was changed", file=sys.stderr)
        return None
    return first


def cmd_users_create(args: argparse.Namespace) -> int:
    password = _read_password(args)
    if password is None:
        return 2
    try:
        user = auth.create_user(args.name, password, admin=args.admin)
    except ImagechatError as exc:
        print(f"error: {exc.user_message}", file=sys.stderr)
        return 2
    print(f"created {user.username}{' (administrator)' if user.is_admin else ''}: they can log in now")
    return 0


def cmd_users_disable(args: argparse.Namespace, disabled: bool = True) -> int:
    try:
        ended = auth.set_disabled(args.name, disabled)
    except ImagechatError as exc:
        print(f"error: {exc.user_message}", file=sys.stderr)
        return 2
    name = args.name.strip().lower()
    if disabled:
        print(f"disabled {name}: {ended} session(s) ended; their open tabs return to the log-in page")
    else:
        print(f"enabled {name}: they can log in again")
    return 0


def cmd_users_enable(args: argparse.Namespace) -> int:
    return cmd_users_disable(args, disabled=False)


def cmd_users_list(args: argparse.Namespace) -> int:
    for row in auth.list_users():
        flags = [f for f, on in (("admin", row.is_admin), ("disabled", row.disabled),
                                 ("no password", not row.has_password)) if on]
        line = f"{row.username:<32} {row.created_at:%Y-%m-%d}  sessions: {row.sessions:<3} {', '.join(flags)}"
        print(line.rstrip())
    return 0


def cmd_invites_create(args: argparse.Namespace) -> int:
    try:
        code, expires_at = auth.create_invite(args.days)
    except ImagechatError as exc:
        print(f"error: {exc.user_message}", file=sys.stderr)
        return 2
    print(f"single-use sign-up code, valid until {expires_at:%Y-%m-%d %H:%M} UTC:", file=sys.stderr)
    print(code)
    return 0


def _account(name: str) -> User | None:
    """An existing account by name (keys are never made for a name nobody has), or None after a message."""
    with session_scope() as s:
        user = s.exec(select(User).where(User.username == name.strip().lower())).first()
    if user is None:
        print(f"error: there is no user {name.strip().lower()!r}; create it first with `python -m imagechat users "
              "create NAME`", file=sys.stderr)
    return user


def cmd_keys_create(args: argparse.Namespace) -> int:
    user = _account(args.user)
    if user is None:
        return 2
    view, key = api_keys.create(user.id, args.name)
    print(f"API key {view.id} ({view.name}) for {user.username}. It is shown only now: store it somewhere safe. "
          "Use it as the api_key of the openai SDK with base_url http://HOST:PORT/v1.", file=sys.stderr)
    print(key)
    return 0


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "never"


def cmd_keys_list(args: argparse.Namespace) -> int:
    user = _account(args.user)
    if user is None:
        return 2
    for view in api_keys.list_keys(user.id):
        status = "active" if view.active else f"revoked {_when(view.revoked_at)}"
        print(f"{view.id:<6} {view.prefix}...  {view.name[:32]:<32} created {_when(view.created_at)}  "
              f"last used {_when(view.last_used_at):<16}  {status}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    user = _account(args.user)
    if user is None:
        return 2
    view = api_keys.revoke(user.id, args.key_id)
    print(f"revoked key {view.id} ({view.prefix}..., {view.name}): requests with it now get 401")
    return 0


def _check_object_store(needed: bool) -> bool:
    """Whether the configured object store answers (printing why not); True when it is not needed."""
    if not needed:
        return True
    try:
        storage.get_store(storage.S3).check()
    except ImagechatError as exc:
        print(f"error: {exc.user_message}", file=sys.stderr)
        return False
    return True


def cmd_storage_status(args: argparse.Namespace) -> int:
    from imagechat.settings import get_settings

    counts = storage_migration.counts()
    print(f"new images go to: {get_settings().image_store} (IMAGE_STORE)")
    for name in storage.STORES:
        print(f"{name:<9} {counts.get(name, 0):>9,} image(s)")
    settings = get_settings()
    if settings.image_store == storage.S3 or counts.get(storage.S3) or settings.s3_endpoint_url:
        if not _check_object_store(True):
            return 1
        print(f"s3: bucket {settings.s3_bucket!r} at {settings.s3_endpoint_url or 'AWS S3'} answers")
    return 0


class _ProgressBar:
    """A bar redrawn in place on a terminal; elsewhere (a log, CI) a line at every tenth of the way."""

    def __init__(self, total: int, out=None, width: int = 30):
        self.total, self.width, self.out = total, width, out or sys.stderr
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._tenth = 0

    def update(self, summary: storage_migration.Summary) -> None:
        done = summary.done
        rate = done / max(1e-6, time.monotonic() - self.started)
        share = done / self.total if self.total else 1.0
        failed = f", {len(summary.failed)} failed" if summary.failed else ""
        text = f"{done:,}/{self.total:,} ({share:4.0%}){failed}  {rate:.1f} images/s"
        if self.tty:
            filled = int(self.width * share)
            self.out.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {text}   ")
            self.out.flush()
        elif int(share * 10) > self._tenth or done == self.total:
            self._tenth = int(share * 10)
            print(text, file=self.out, flush=True)

    def finish(self) -> None:
        if self.tty:
            self.out.write("\n")


def cmd_storage_migrate(args: argparse.Namespace) -> int:
    from imagechat.settings import get_settings

    if args.batch < 1 or args.workers < 1 or (args.limit is not None and args.limit < 1):
        print("error: --batch, --workers and --limit take whole numbers from 1", file=sys.stderr)
        return 2
    counts = storage_migration.counts()
    if not _check_object_store(args.to == storage.S3 or bool(counts.get(storage.S3))):
        return 2
    total = storage_migration.pending(args.to)
    if args.limit is not None:
        total = min(total, args.limit)
    print(f"moving {total:,} image(s) to {args.to} ({args.workers} at a time; each checked by sha256 before its "
          "old copy is dropped)", file=sys.stderr)
    bar = _ProgressBar(total)
    summary = storage_migration.migrate(args.to, batch=args.batch, workers=args.workers, limit=args.limit,
                                        on_progress=bar.update)
    bar.finish()
    rate = summary.moved / summary.seconds if summary.seconds else 0.0
    print(f"Moved {summary.moved:,} image(s) to {args.to} in {summary.seconds:.1f} s ({rate:.1f} images/s).")
    if summary.failed:
        print(f"{len(summary.failed):,} image(s) could not be moved and stay where they were:")
        for image_id, why in summary.failed[:20]:
            print(f"  {image_id}: {why}")
        if len(summary.failed) > 20:
            print(f"  ... and {len(summary.failed) - 20:,} more (the log names each)")
    if summary.vanished:
        print(f"{summary.vanished:,} image(s) were deleted for good during the run.")
    if summary.skipped:
        print(f"{summary.skipped:,} image(s) were moved by another run meanwhile.")
    if summary.source_copies_left:
        print(f"{summary.source_copies_left:,} old copy(ies) could not be deleted from the object store; they are "
              "no longer used and can be removed by hand.")
    if summary.error:
        print(f"Stopped early: {summary.error} Run the same command again to continue.")
    elif summary.interrupted:
        print("Interrupted: run the same command again to continue.")
    print(f"{summary.remaining:,} image(s) still kept elsewhere than {args.to}.")
    if get_settings().image_store != args.to:
        print(f"Note: IMAGE_STORE is {get_settings().image_store}, so new images still go there; set "
              f"IMAGE_STORE={args.to} to keep them all in one place.")
    clean = not (summary.failed or summary.error or summary.interrupted)
    return 0 if clean else (130 if summary.interrupted else 1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m imagechat", description=__doc__.split("\n")[0])
    parser.add_argument("--user", default=getpass.getuser(), help="local user to act as (default: your login)")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="make an image and save it")
    gen.add_argument("prompt")
    gen.add_argument("--style", help="photorealistic, watercolor, cartoon, abstract, ...")
    gen.add_argument("--size", type=_size, default=(1024, 1024), help="WIDTHxHEIGHT (default 1024x1024)")
    gen.add_argument("--n", type=int, default=1, help="how many images")
    gen.add_argument("--seed", type=int)
    gen.add_argument("--engine", choices=("offline", "openai", "diffusers"), help="default: configured engine")
    gen.add_argument("--out", default="image.png", help="file to write; the suffix picks png/jpeg/webp")
    gen.add_argument("--hint-after", type=float, default=10.0, help=argparse.SUPPRESS)
    gen.set_defaults(func=cmd_generate)

    images = sub.add_parser("images", help="list or export stored images").add_subparsers(dest="action",
                                                                                         required=True)
    ls = images.add_parser("list")
    ls.add_argument("--search", help="full-text search in prompts")
    ls.add_argument("--limit", type=int, default=50)
    ls.set_defaults(func=cmd_list)
    ex = images.add_parser("export")
    ex.add_argument("image_id")
    ex.add_argument("--format", choices=("png", "jpeg", "webp"), default="png")
    ex.add_argument("--out")
    ex.set_defaults(func=cmd_export)

    users = sub.add_parser("users", help="accounts that log in on the web page").add_subparsers(
        dest="action", required=True)
    create = users.add_parser("create", help="create an account (whatever ALLOW_SIGNUP says)")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="make it an administrator")
    create.add_argument("--password-stdin", action="store_true", help="read the password from the first line "
                                                                      "of stdin instead of asking")
    create.set_defaults(func=cmd_users_create)
    disable = users.add_parser("disable", help="refuse log-ins and end every session of the account now")
    disable.add_argument("name")
    disable.set_defaults(func=cmd_users_disable)
    enable = users.add_parser("enable", help="allow a disabled account to log in again")
    enable.add_argument("name")
    enable.set_defaults(func=cmd_users_enable)
    users.add_parser("list", help="every account, with live sessions").set_defaults(func=cmd_users_list)

    invites = sub.add_parser("invites", help="sign-up codes for ALLOW_SIGNUP=invite").add_subparsers(
        dest="action", required=True)
    invite = invites.add_parser("create", help="print a new single-use sign-up code")
    invite.add_argument("--days", type=float, default=auth.INVITE_DAYS,
                        help=f"how long the code stays valid (default {auth.INVITE_DAYS})")
    invite.set_defaults(func=cmd_invites_create)

    keys = sub.add_parser("keys", help="API keys for the OpenAI-compatible API (/v1)").add_subparsers(
        dest="action", required=True)
    # --user after the action too (`keys create --user ada`); SUPPRESS keeps the global --user when it is absent.
    key_create = keys.add_parser("create", help="print a new API key for a user (shown once)")
    key_create.add_argument("--name", default="command line", help="a label to tell the key apart later")
    key_list = keys.add_parser("list", help="a user's keys: id, prefix, name, created, last used, status")
    key_revoke = keys.add_parser("revoke", help="turn one of a user's keys off for good")
    key_revoke.add_argument("key_id", type=int)
    for parser_, func in ((key_create, cmd_keys_create), (key_list, cmd_keys_list), (key_revoke, cmd_keys_revoke)):
        parser_.add_argument("--user", default=argparse.SUPPRESS, help="the account the key belongs to")
        parser_.set_defaults(func=func)

    stores = sub.add_parser("storage", help="where image bytes are kept (IMAGE_STORE)").add_subparsers(
        dest="action", required=True)
    stores.add_parser("status", help="images per store, and whether the object store answers").set_defaults(
        func=cmd_storage_status)
    move = stores.add_parser("migrate", help="move existing images to another store: resumable (run it again "
                                             "to continue), each image checked by sha256 before its old copy goes")
    move.add_argument("--to", required=True, choices=storage.STORES, help="the store to move every image to")
    move.add_argument("--batch", type=int, default=50, help="images read per database query (default 50)")
    move.add_argument("--workers", type=int, default=4, help="images moved at once (default 4)")
    move.add_argument("--limit", type=int, help="move at most this many images in this run")
    move.set_defaults(func=cmd_storage_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ImagechatError as exc:  # e.g. the database is away: a message, not a traceback
        print(f"error: {exc.user_message}", file=sys.stderr)
        return 2

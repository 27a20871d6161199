"""Posts on X (Twitter): one account per province, with updates and the ending in the action's thread.

Participants follow the province accounts they care about, so the channel's audience is its own: the
account(s) of the province(s) an action concerns. The start post opens a thread; every update and the
closing message reply to the last post of that thread. Posts go through tweepy's
:class:`tweepy.asynchronous.AsyncClient` (API v2 ``POST /2/tweets``, OAuth 1.0a user context); photos
are uploaded with ``POST /2/media/upload`` on the same session, signed the way tweepy signs.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import aiohttp
import tweepy
from oauthlib.oauth1 import Client as OAuthClient

from hub.channel import AudienceKind, Channel
from hub.errors import DeliveryError, PermanentDeliveryError, PluginError, TransientDeliveryError
from hub.models import ActionView, Delivery, MessageKind, Notice, Receipt, Recipient, Rendered
from hub.photos import GIF, JPEG, PNG, WEBP, sniff

from .provinces import PROVINCES, province_of
from .quota import Quotas, QuotaState
from .text import shorten

if TYPE_CHECKING:
    from tweepy.asynchronous import AsyncClient

HERE = Path(__file__).parent
#: the host tweepy's AsyncClient posts to; the media upload uses the same host and connection pool
API_HOST = "https://api.twitter.com"
MEDIA_UPLOAD_URL = f"{API_HOST}/2/media/upload"
#: the image types X takes, read from the bytes
PHOTO_TYPES = (JPEG, PNG, GIF, WEBP)
MAX_PHOTOS = 4


@dataclass(frozen=True, slots=True)
class Account:
    province: str
    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str
    handle: str | None
    language: str
    daily_quota: int


class TwitterChannel(Channel):
    name = "twitter"
    title = "X (Twitter): one account per province, updates and the ending in the action's thread"
    settings_schema = json.loads((HERE / "settings.schema.json").read_text())
    credentials = ("accounts",)
    #: tweepy's async client needs its ``async`` extra (async_lru); imported in start()
    requirements = ("tweepy", "oauthlib", "async_lru")
    audience = AudienceKind.OWN
    contact = None
    batch_size = 1  # one post per call: the API has no bulk posting
    exclusive = True  # a thread's replies follow its last post: one hub of a cluster posts
    concurrency = 4
    templates_dir = HERE / "templates"

    def __init__(self, context) -> None:
        super().__init__(context)
        s = self.settings
        self.provinces: tuple[str, ...] = tuple(s.get("provinces", PROVINCES))
        self.aliases: dict[str, str] = dict(s.get("region_aliases", {}))
        self.daily_quota = int(s.get("daily_quota", 100))
        self.attach_photos = bool(s.get("attach_photos", True))
        self.max_photo_bytes = int(s.get("max_photo_bytes", 5 * 1024 * 1024))
        self.timeout = float(s.get("request_timeout", 15))
        self.accounts: dict[str, Account] = {}
        self.quotas = Quotas(context.records)
        self._clients: dict[str, "AsyncClient"] = {}
        self._locks: collections.defaultdict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self._photos: collections.OrderedDict[str, tuple[bytes, str]] = collections.OrderedDict()
        self._session: aiohttp.ClientSession | None = None
        self._provinces_in: Any = None  # hub.places.provinces_in once looked up; False when the core lacks it

    # -- life cycle -------------------------------------------------------------------------------

    def _load_accounts(self) -> dict[str, Account]:
        s = self.settings
        accounts = {}
        for province, raw in dict(s.get("accounts", {})).items():
            if province not in self.provinces:
                raise PluginError(f"twitter: account for unknown province {province!r} (known: {', '.join(self.provinces)})")
            consumer_key = raw.get("consumer_key") or s.get("consumer_key")
            consumer_secret = raw.get("consumer_secret") or s.get("consumer_secret")
            if not (consumer_key and consumer_secret):
                raise PluginError(f"twitter: account {province!r} has no consumer_key/consumer_secret (set them on the account or channel)")
            accounts[province] = Account(
                province=province,
                consumer_key=consumer_key,
                consumer_secret=consumer_secret,
                access_token=raw["access_token"],
                access_token_secret=raw["access_token_secret"],
                handle=raw.get("handle"),
                language=raw.get("language", "nl"),
                daily_quota=int(raw.get("daily_quota", self.daily_quota)),
            )
        return accounts

    def make_session(self) -> aiohttp.ClientSession:
        """The HTTP session for the X API and photo downloads, shared by every account."""
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout), connector=aiohttp.TCPConnector(limit=32)
        )

    async def start(self) -> None:
        self.accounts = self._load_accounts()
        if self.context.sandbox:
            return
        if not self.accounts:
            raise PluginError("twitter: no accounts configured")
        try:
            from tweepy.asynchronous import AsyncClient
        except (ImportError, tweepy.TweepyException) as e:
            raise PluginError(f"twitter: tweepy's async client is not installed (pip install 'tweepy[async]'): {e}") from e
        self._session = self.make_session()
        for province, account in self.accounts.items():
            client = AsyncClient(
                consumer_key=account.consumer_key,
                consumer_secret=account.consumer_secret,
                access_token=account.access_token,
                access_token_secret=account.access_token_secret,
                return_type=aiohttp.ClientResponse,  # keeps the response headers, which carry the quotas
            )
            client.session = self._session  # one pool for all accounts instead of a session per request
            self._clients[province] = client

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._clients.clear()

    def describe(self) -> Mapping[str, Any]:
        return {
            "api": "X API v2 (tweepy AsyncClient), OAuth 1.0a user context",
            "accounts": {p: a.handle for p, a in sorted(self.accounts.items())},
            "daily_quota": self.daily_quota,
        }

    # -- audience ---------------------------------------------------------------------------------

    async def resolve_audience(self, action: ActionView) -> Sequence[Recipient]:
        provinces: set[str] = set()
        if (p := province_of(action.region, self.provinces, self.aliases)) is not None:
            provinces.add(p)
        provinces.update(self._provinces_in_area(action))
        if not self.context.sandbox:
            missing = provinces - set(self.accounts)
            if missing:
                self.context.logger.info("twitter: no account for %s; action %s not posted there", sorted(missing), action.id)
            provinces &= set(self.accounts)
        return [
            Recipient(address=p, language=self.accounts[p].language if p in self.accounts else "nl")
            for p in sorted(provinces)
        ]

    def _provinces_in_area(self, action: ActionView) -> set[str]:
        """Provinces the area touches, when the core can tell (``hub.places.provinces_in``)."""
        if self._provinces_in is None:
            try:
                from hub.places import provinces_in  # type: ignore[import-not-found]
            except ImportError:
                provinces_in = False
            self._provinces_in = provinces_in
        if self._provinces_in is False:
            return set()
        try:
            found = self._provinces_in(action.area)
        except Exception:  # an optional refinement must never stop an alert
            self.context.logger.exception("twitter: hub.places.provinces_in failed for action %s", action.id)
            return set()
        return {p for name in found if (p := province_of(str(name), self.provinces, self.aliases))}

    # -- text -------------------------------------------------------------------------------------

    def compose(self, notice: Notice, language: str) -> str:
        """The post for this notice, at most 280 weighted characters; reference and number are never cut."""
        action = notice.action
        templates = self.context.templates

        def render(free: str) -> str:
            return templates.render(
                "tweet.txt.j2", language, notice=notice, action=action, ref=action.reference,
                description=free if notice.kind is not MessageKind.END else "",
                result_text=free if notice.kind is MessageKind.END else "",
            )

        free = (action.result_text or "") if notice.kind is MessageKind.END else action.description
        return shorten(free, render)

    def render(self, notice: Notice, recipient: Recipient) -> Rendered:
        account = self.accounts.get(recipient.address)
        language = account.language if account else recipient.language
        return Rendered(
            text=self.compose(notice, language),
            extra={"province": recipient.address, "thread": "start" if notice.kind is MessageKind.START else "reply"},
        )

    # -- delivery ---------------------------------------------------------------------------------

    async def deliver(self, notice: Notice, deliveries: Sequence[Delivery]) -> Sequence[Receipt]:
        receipts = []
        for delivery in deliveries:
            try:
                receipts.append(await self._deliver_one(notice, delivery))
            except DeliveryError as e:
                receipts.append(Receipt.failed(delivery, e))
        return receipts

    async def _deliver_one(self, notice: Notice, delivery: Delivery) -> Receipt:
        province = delivery.recipient.address
        account, client = self.accounts.get(province), self._clients.get(province)
        if account is None or client is None:
            raise PermanentDeliveryError(f"no X account configured for {province!r}", code="no_account")
        key = f"thread:{delivery.action_id}:{province}"
        # One post at a time per account: keeps the thread in order and the quota count exact.
        async with self._locks[province]:
            thread = await self.context.records.get(key) or {"start": None, "last": None, "posts": {}}
            done = thread["posts"].get(str(delivery.id))
            if done:  # a retry of a post that went out: never post twice
                return Receipt.sent(delivery, provider_id=done, duplicate=True)
            if notice.kind is MessageKind.START and thread["start"]:
                return Receipt.sent(delivery, provider_id=thread["start"], duplicate=True)
            reply_to = thread["last"] if notice.kind is not MessageKind.START else None
            state = await self.quotas.check(province, account.daily_quota)
            if not state.ok:
                raise self._quota_error(notice, province, state)
            text = self.compose(notice, account.language)
            media_ids, skipped = await self._media(notice, account)
            response, body, replied = await self._post(client, province, text, reply_to, media_ids)
            tweet_id = str(body["data"]["id"])
            if thread["start"] is None:
                thread["start"] = tweet_id
            thread["last"] = tweet_id
            thread["posts"][str(delivery.id)] = tweet_id
            await self.context.records.put(key, thread)
            await self.quotas.record_post(province, response.headers)
        detail: dict[str, Any] = {"province": province, "in_reply_to": replied}
        if account.handle:
            detail["url"] = f"https://x.com/{account.handle.lstrip('@')}/status/{tweet_id}"
        if skipped:
            detail["photos_skipped"] = skipped
        return Receipt.sent(delivery, provider_id=tweet_id, **detail)

    def _quota_error(self, notice: Notice, province: str, state: QuotaState) -> DeliveryError:
        now = time.time()
        wait = max(1.0, (state.retry_at or now) - now)
        reason = (
            f"posting quota of the {province} account is used up ({state.reason}); "
            f"posting is possible again in {wait / 3600:.1f} h"
        )
        expires = notice.action.expires_at
        if notice.kind is not MessageKind.END and expires is not None and expires.timestamp() <= now + wait:
            return PermanentDeliveryError(reason + ", after the action expires", code="quota_exhausted")
        return TransientDeliveryError(reason, code="quota_exhausted", retry_after=wait)

    async def _post(
        self, client: "AsyncClient", province: str, text: str, reply_to: str | None, media_ids: list[str]
    ) -> tuple[aiohttp.ClientResponse, dict, str | None]:
        try:
            response, body = await self._create(client, province, text, reply_to, media_ids)
            return response, body, reply_to
        except PermanentDeliveryError as e:
            if reply_to is None or e.provider_status not in (400, 403, 404):
                raise
            # The post to reply to is gone (deleted by hand, say): the message itself must still go out.
            self.context.logger.warning("twitter: reply to %s refused for %s (%s); posting without thread", reply_to, province, e)
            response, body = await self._create(client, province, text, None, media_ids)
            return response, body, None

    async def _create(
        self, client: "AsyncClient", province: str, text: str, reply_to: str | None, media_ids: list[str]
    ) -> tuple[aiohttp.ClientResponse, dict]:
        try:
            response = await client.create_tweet(
                text=text, in_reply_to_tweet_id=reply_to, media_ids=media_ids or None, user_auth=True
            )
            return response, await response.json()
        except tweepy.TooManyRequests as e:
            headers = e.response.headers
            reset = await self.quotas.observe(province, headers)
            if reset is None and e.reset_time:
                reset = e.reset_time
                await self.quotas.block(province, reset, "X answered 429 Too Many Requests")
            retry_after = max(1.0, reset - time.time()) if reset else None
            raise TransientDeliveryError(
                f"X rate limit for the {province} account: {e}", code="rate_limited", retry_after=retry_after, provider_status=429
            ) from e
        except tweepy.HTTPException as e:
            raise _http_error(e.response.status, str(e).replace("\n", "; ")) from e
        except aiohttp.ContentTypeError as e:  # an error answer that is not JSON (a proxy's HTML page)
            raise _http_error(e.status, f"X answered {e.status} without JSON") from e
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise TransientDeliveryError(f"X API unreachable: {type(e).__name__}: {e}", code="network") from e

    # -- photos -----------------------------------------------------------------------------------

    async def _media(self, notice: Notice, account: Account) -> tuple[list[str], list[str]]:
        """Media ids for the action's photos on the start post (and an update that changed them).

        A photo that cannot be fetched or uploaded is left out, never the post.
        """
        wanted = notice.kind is MessageKind.START or (notice.kind is MessageKind.UPDATE and "photos" in notice.changes)
        if not (self.attach_photos and wanted):
            return [], []
        ids, skipped = [], []
        for photo in notice.action.photos[:MAX_PHOTOS]:
            try:
                data, mime = await self._fetch_photo(photo.url)
                ids.append(await self._upload(account, data, mime))
            except (DeliveryError, aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError) as e:
                self.context.logger.warning("twitter: photo %s not attached for %s: %s", photo.url, account.province, e)
                skipped.append(photo.url)
        return ids, skipped

    async def _fetch_photo(self, url: str) -> tuple[bytes, str]:
        if url in self._photos:
            return self._photos[url]
        if not url.startswith(("https://", "http://")):
            raise ValueError("photo URL is not http(s)")
        assert self._session is not None
        async with self._session.get(url, max_redirects=3) as resp:
            if resp.status != 200:
                raise ValueError(f"photo answered HTTP {resp.status}")
            chunks, size = [], 0
            async for chunk in resp.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > self.max_photo_bytes:
                    raise ValueError(f"photo larger than {self.max_photo_bytes} bytes")
                chunks.append(chunk)
        data = b"".join(chunks)
        mime = sniff(data)
        if mime not in PHOTO_TYPES:
            raise ValueError("photo is not a JPEG, PNG, GIF or WebP image")
        self._photos[url] = (data, mime)
        while len(self._photos) > 16:
            self._photos.popitem(last=False)
        return data, mime

    async def _upload(self, account: Account, data: bytes, mime: str) -> str:
        """``POST /2/media/upload`` (multipart), OAuth 1.0a signed like tweepy: the body is not signed."""
        oauth = OAuthClient(account.consumer_key, account.consumer_secret, account.access_token, account.access_token_secret)
        url, headers, _ = oauth.sign(MEDIA_UPLOAD_URL, "POST", headers={})
        form = aiohttp.FormData()
        form.add_field("media", data, filename="photo", content_type=mime)
        form.add_field("media_category", "tweet_image")
        assert self._session is not None
        async with self._session.post(url, data=form, headers=headers) as resp:
            body = await resp.json(content_type=None)
            if resp.status >= 400:
                raise _http_error(resp.status, f"media upload refused: {body}")
        return str(body["data"]["id"])


def _http_error(status: int | None, reason: str) -> DeliveryError:
    if status == 429:
        return TransientDeliveryError(reason, code="rate_limited", provider_status=status)
    if status is not None and status >= 500:
        return TransientDeliveryError(reason, code="provider_error", provider_status=status)
    code = {401: "unauthorized", 403: "forbidden"}.get(status or 0, "rejected")
    return PermanentDeliveryError(reason, code=code, provider_status=status)

"""The use cases shared by the API, the web screen and the command line."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from postback import conditions
from postback.config import Network, Settings
from postback.delivery import metrics, outcome, signing
from postback.delivery.outcome import Outcome
from postback.delivery.redact import redact
from postback.delivery.transport import SendResult, Transport, as_sent, transport_for
from postback.domain import keys
from postback.domain.catalogue import catalogue_for, sample_params
from postback.domain.clock import Clock, utcnow
from postback.domain.records import (
    CATALOGUE_OF_KIND,
    Account,
    AccountKind,
    ApiKey,
    BodyFormat,
    Contract,
    Delivery,
    Event,
    EventKind,
    EventTopic,
    EventType,
    FailureReason,
    MediaSource,
    NewDelivery,
    PartnerType,
    Postback,
    PostbackConfig,
    PostbackKind,
    Program,
    RenderedRequest,
    Replay,
    Resend,
    SigningSecret,
)
from postback.errors import Forbidden, NotFound, Problem, ValidationProblem, problem
from postback.rules import event as event_rules
from postback.rules import postback as rules
from postback.service.inbox import Inbox
from postback.storage.interfaces import (
    AccountPage,
    DeliveryFilter,
    IngestItem,
    IngestResult,
    Notice,
    Page,
    Store,
)
from postback.template import TemplateError
from postback.template.lookalike import lookalikes

RENDER_FAILED, TOO_LARGE = FailureReason.RENDER_FAILED.value, FailureReason.TOO_LARGE.value
MAX_SHOWN_URL = 2048
PARTNER_KINDS = frozenset(
    {
        PostbackKind.ACTION_LIFECYCLE,
        PostbackKind.ACTION_CLEARING,
        PostbackKind.ACTION_INQUIRY,
        PostbackKind.CATALOG_CHANGE,
    }
)
INQUIRY_PARTNER_TYPES = frozenset({PartnerType.CASHBACK, PartnerType.LOYALTY})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the operator (sees everything) or one account."""

    account: Account | None

    @property
    def owner_id(self) -> str | None:
        return None if self.account is None else self.account.id

    @property
    def is_operator(self) -> bool:
        return self.account is None


OPERATOR = Principal(None)


class Service:
    def __init__(self, store: Store, settings: Settings, clock: Clock = utcnow) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._compiled: dict[str, tuple[datetime, rules.Compiled]] = {}
        self._conditions: dict[str, conditions.Condition | conditions.ConditionError] = {}
        self.inbox = Inbox()
        self._sender: Transport | None = None

    # -- accounts --------------------------------------------------------------------
    async def create_account(
        self,
        name: str,
        kind: AccountKind,
        partner_type: PartnerType | None,
        allowed_networks: tuple[Network, ...] = (),
    ) -> tuple[Account, str]:
        """A new brand or partner and its first API key (shown once)."""
        if kind is AccountKind.PARTNER and partner_type is None:
            partner_type = PartnerType.OTHER
        if kind is not AccountKind.PARTNER:
            partner_type = None
        key = keys.new_key()
        account = await self.store.create_account(
            name,
            kind,
            partner_type,
            keys.hash_key(key),
            key_prefix=keys.prefix(key),
            allowed_networks=allowed_networks,
        )
        return account, key

    async def authenticate(self, key: str) -> Principal | None:
        """Who holds ``key``: looked up on every request (nothing cached), so a revoked
        key is refused at once by every API process."""
        admin = self.settings.admin_key
        if admin is not None and keys.same(key, admin):
            return OPERATOR
        found = await self.store.find_api_key(keys.hash_key(key))
        if found is None:
            return None
        account, api_key = found
        now = self.clock()
        if keys.worth_noting(api_key.last_used_at, now):
            await self.store.touch_api_key(api_key.id, now)
        return OPERATOR if account.kind is AccountKind.OPERATOR else Principal(account)

    # -- API keys --------------------------------------------------------------------
    async def key_owner(self, who: Principal, account_id: str) -> Account:
        """The account whose keys ``who`` manages: its own, or (the operator) any;
        ``operator`` names the operator's own account. Another's is not found."""
        if account_id == "operator" and who.is_operator:
            return await self.operator_account()
        if who.account is not None and who.account.id != account_id:
            raise NotFound(f"account {account_id} not found")
        return await self.store.get_account(account_id)

    async def create_key(self, who: Principal, account_id: str) -> tuple[ApiKey, str]:
        """A new key for the account; the key itself is returned once, here."""
        owner = await self.key_owner(who, account_id)
        key = keys.new_key()
        record = await self.store.add_api_key(owner.id, keys.hash_key(key), keys.prefix(key))
        return record, key

    async def list_keys(self, who: Principal, account_id: str) -> list[ApiKey]:
        owner = await self.key_owner(who, account_id)
        return await self.store.list_api_keys(owner.id)

    async def revoke_key(self, who: Principal, account_id: str, key_id: str) -> ApiKey:
        owner = await self.key_owner(who, account_id)
        return await self.store.revoke_api_key(owner.id, key_id)

    async def operator_account(self) -> Account:
        """The operator's account (created, without a key, when there is none yet)."""
        for account in await self.store.list_accounts():
            if account.kind is AccountKind.OPERATOR:
                return account
        return await self.store.create_account("operator", AccountKind.OPERATOR, None, "")

    async def set_allowed_networks(self, account_id: str, nets: tuple[Network, ...]) -> Account:
        return await self.store.set_allowed_networks(account_id, nets)

    async def list_accounts(self, who: Principal) -> list[Account]:
        """The caller's own account, or every account for the operator."""
        if who.account is not None:
            return [who.account]
        return await self.store.list_accounts()

    async def list_partners(
        self, who: Principal, q: str | None, limit: int, cursor: str | None
    ) -> AccountPage:
        """The partner directory (id, name, type), for brands to name the other party of
        a contract and for the operator; a partner has no use for it and is refused."""
        if who.account is not None and who.account.kind is not AccountKind.BRAND:
            raise Forbidden("only brands and the operator can list partners")
        return await self.store.list_partners((q or "").strip() or None, limit, cursor)

    # -- programs, event types, contracts, media sources ------------------------------
    async def brand_id(self, who: Principal, brand_id: str | None) -> str:
        """The brand a new program or media source belongs to: the caller, or the one
        the operator names."""
        if who.account is not None:
            if who.account.kind is not AccountKind.BRAND:
                raise only("a brand")
            return who.account.id
        if brand_id is None:
            raise ValidationProblem(
                [problem("brand_id", "required", "the operator must name brand_id")]
            )
        brand = await self.store.get_account(brand_id)
        if brand.kind is not AccountKind.BRAND:
            raise ValidationProblem(
                [problem("brand_id", "not_a_brand", "that account is not a brand")]
            )
        return brand.id

    async def create_program(self, who: Principal, brand_id: str | None, name: str) -> Program:
        return await self.store.create_program(await self.brand_id(who, brand_id), name)

    async def list_programs(self, who: Principal) -> list[Program]:
        return await self.store.list_programs(who.owner_id)

    async def create_event_type(
        self, who: Principal, program_id: str, name: str, category: str
    ) -> EventType:
        program = await self.store.get_program(program_id, who.owner_id)
        return await self.store.create_event_type(program.id, name, category)

    async def list_event_types(self, who: Principal) -> list[EventType]:
        """Event types of the brand's programs, or of programs the partner has a contract on."""
        return await self.store.list_event_types(who.owner_id)

    async def create_contract(
        self, who: Principal, program_id: str, partner_id: str, event_type_ids: list[str]
    ) -> Contract:
        program = await self.store.get_program(program_id, who.owner_id)
        partner = await self.store.get_account(partner_id)
        if partner.kind is not AccountKind.PARTNER:
            raise ValidationProblem(
                [problem("partner_id", "not_a_partner", "that account is not a partner")]
            )
        return await self.store.create_contract(partner.id, program.id, event_type_ids)

    async def list_contracts(self, who: Principal) -> list[NamedContract]:
        """The caller's contracts, each with its partner's, its program's and the program's
        brand's names (both parties may see who and what a contract is with)."""
        found = await self.store.list_contracts(who.owner_id)
        names: dict[str, str] = {}
        brands: dict[str, str] = {}  # program id -> its brand's id
        for c in found:
            if c.partner_id not in names:
                names[c.partner_id] = (await self.store.get_account(c.partner_id)).name
            if c.program_id not in names:
                program = await self.store.get_program(c.program_id, None)
                names[c.program_id], brands[c.program_id] = program.name, program.brand_id
            if brands[c.program_id] not in names:
                names[brands[c.program_id]] = (
                    await self.store.get_account(brands[c.program_id])
                ).name
        return [
            NamedContract(c, names[c.partner_id], names[c.program_id], names[brands[c.program_id]])
            for c in found
        ]

    async def list_media_sources(self, who: Principal) -> list[MediaSource]:
        return await self.store.list_media_sources(who.owner_id)

    async def create_media_source(
        self, who: Principal, brand_id: str | None, name: str
    ) -> MediaSource:
        return await self.store.create_media_source(await self.brand_id(who, brand_id), name)

    # -- postbacks -------------------------------------------------------------------
    async def list_postbacks(self, who: Principal) -> list[Postback]:
        return await self.store.list_postbacks(who.owner_id)

    async def get_postback(self, who: Principal, postback_id: str) -> Postback:
        return await self.store.get_postback(postback_id, who.owner_id)

    async def delete_postback(self, who: Principal, postback_id: str) -> None:
        await self.store.delete_postback(postback_id, who.owner_id)

    async def signing_secret(self, who: Principal, postback_id: str) -> SigningSecret:
        return await self.store.signing_secret(postback_id, who.owner_id)

    async def rotate_signing_secret(
        self, who: Principal, postback_id: str, keep_old_seconds: int | None
    ) -> SigningSecret:
        """A new signing secret; the old one keeps signing for ``keep_old_seconds``
        (by default the configured overlap)."""
        keep = keep_old_seconds
        if keep is None:
            keep = int(self.settings.secret_overlap_seconds)
        return await self.store.rotate_signing_secret(postback_id, who.owner_id, keep)

    async def create_postback(
        self, who: Principal, config: PostbackConfig, owner_id: str | None = None
    ) -> Postback:
        owner = await self._owner(who, owner_id)
        config = rules.with_defaults(config)
        await self._validate(owner, config)
        postback = await self.store.create_postback(owner.id, config)
        return postback

    async def update_postback(
        self, who: Principal, postback_id: str, changes: dict[str, Any]
    ) -> Postback:
        current = await self.store.get_postback(postback_id, who.owner_id)
        config = rules.with_defaults(dataclasses.replace(current.config, **changes))
        owner = await self.store.get_account(current.owner_id)
        await self._validate(owner, config)
        return await self.store.update_postback(postback_id, who.owner_id, config)

    async def _owner(self, who: Principal, owner_id: str | None) -> Account:
        if who.account is not None:
            return who.account
        if owner_id is None:
            raise ValidationProblem(
                [problem("owner_id", "required", "the operator must name the owner_id")]
            )
        return await self.store.get_account(owner_id)

    async def _validate(self, owner: Account, config: PostbackConfig) -> None:
        found = rules.check_shape(config) + await self._check_scope(owner, config)
        found += rules.check_url_address(
            config.url, self.settings.allowed_networks + owner.allowed_networks
        )
        _, template_problems = rules.compile_config(config)
        found += template_problems + rules.check_condition(config.condition)
        if found:
            raise ValidationProblem(found)

    async def _check_scope(self, owner: Account, config: PostbackConfig) -> list[Problem]:
        if config.kind in PARTNER_KINDS:
            return self._check_partner_kind(owner, config)
        if owner.kind is not AccountKind.BRAND:
            return [problem("kind", "not_allowed", f"only a brand can set up {config.kind}")]
        if config.kind is PostbackKind.PARTNER_INTEGRATION:
            return await self._check_integration(owner, config)
        return await self._check_media_source(owner, config)

    def _check_partner_kind(self, owner: Account, config: PostbackConfig) -> list[Problem]:
        if owner.kind is not AccountKind.PARTNER:
            return [problem("kind", "not_allowed", f"{config.kind} postbacks are a partner's")]
        if (
            config.kind is PostbackKind.ACTION_INQUIRY
            and owner.partner_type not in INQUIRY_PARTNER_TYPES
        ):
            return [
                problem(
                    "kind",
                    "not_allowed",
                    "action inquiry postbacks are only for cashback and loyalty partners",
                )
            ]
        return []

    async def _check_integration(self, brand: Account, config: PostbackConfig) -> list[Problem]:
        if config.partner_id is None or config.event_type_id is None:
            return _scope_required(config, "partner_id")
        event_type = await self._brand_event_type(brand, config.event_type_id)
        if event_type is None:
            return [problem("event_type_id", "not_found", "no such event type of yours")]
        contract = await self.store.find_contract(config.partner_id, event_type.program_id)
        if contract is None or event_type.id not in contract.event_type_ids:
            return [
                problem(
                    "event_type_id",
                    "not_in_contract",
                    "the event type must be in the partner's contract for its program",
                )
            ]
        return rules.check_mobile_app(config, event_type.category)

    async def _check_media_source(self, brand: Account, config: PostbackConfig) -> list[Problem]:
        if config.media_source_id is None or config.event_type_id is None:
            return _scope_required(config, "media_source_id")
        try:
            await self.store.get_media_source(config.media_source_id, brand.id)
        except NotFound:
            return [problem("media_source_id", "not_found", "no such media source of yours")]
        if await self._brand_event_type(brand, config.event_type_id) is None:
            return [problem("event_type_id", "not_found", "no such event type of yours")]
        return []

    async def _brand_event_type(self, brand: Account, event_type_id: str) -> EventType | None:
        try:
            event_type = await self.store.get_event_type(event_type_id)
            await self.store.get_program(event_type.program_id, brand.id)
        except NotFound:
            return None
        return event_type

    # -- rendering -------------------------------------------------------------------
    def compiled(self, postback: Postback) -> rules.Compiled:
        """Templates compiled once per saved version of a postback."""
        cached = self._compiled.get(postback.id)
        if cached is not None and cached[0] == postback.updated_at:
            return cached[1]
        compiled, problems = rules.compile_config(postback.config)
        if compiled is None:
            raise ValidationProblem(problems)
        self._compiled[postback.id] = (postback.updated_at, compiled)
        return compiled

    def render(self, postback: Postback, params: dict[str, Any]) -> RenderedRequest:
        """The request exactly as it will be sent, for these parameters."""
        return rules.render(postback.config, self.compiled(postback), params)

    def sample(self, postback: Postback) -> dict[str, Any]:
        return sample_params(CATALOGUE_OF_KIND[postback.config.kind])

    # -- events ----------------------------------------------------------------------
    async def ingest(self, batch: Sequence[Event], single: bool = False) -> list[IngestResult]:
        """Validate, match, render and store a batch of events in one transaction.

        ``single``: the batch is one event posted alone, so problems name its fields
        without the ``[0]`` of a list.
        """
        max_items = self.settings.max_items
        problems = [
            p
            for i, e in enumerate(batch)
            for p in event_rules.check(e, _where(i, single), max_items)
        ]
        if problems:
            raise ValidationProblem(problems)
        matched = await self.store.matching_postbacks_many(batch)
        items = [
            self._fan_out(_where(i, single), event, found)
            for i, (event, found) in enumerate(zip(batch, matched, strict=True))
        ]
        return await self.store.ingest(items)

    def _fan_out(self, where: str, event: Event, matched: Sequence[Postback]) -> IngestItem:
        """A delivery per matching postback. One that cannot be rendered or is too large
        is stored failed, with the reason, and never sent; the event and every other
        postback's delivery go on (acceptance never depends on one partner's template)."""
        params = event_rules.with_defaults(event)
        deliveries = []
        bound: list[conditions.Bindings] = []  # bound on first use, shared by the postbacks
        for postback in matched:
            if postback.config.condition is not None:
                verdict = self.check_condition(postback, event, params, bound)
                if verdict.error is not None:
                    metrics.CONDITION_ERRORS.labels(postback_id=postback.id).inc()
                if not verdict.holds:
                    continue
            try:
                request = self.render(postback, params)
            except TemplateError as exc:
                reason = TOO_LARGE if exc.code == TOO_LARGE else RENDER_FAILED
                deliveries.append(self._unsendable(postback, event, reason, str(exc)))
                continue
            size = request_size(request)
            if size > self.settings.max_request_bytes:
                message = (
                    f"the rendered request (URL, headers and body) is {size:,} bytes, over the "
                    f"limit of {self.settings.max_request_bytes:,} bytes "
                    "(POSTBACK_MAX_REQUEST_BYTES); it was not kept and will not be sent"
                )
                deliveries.append(self._unsendable(postback, event, TOO_LARGE, message))
                continue
            deliveries.append(self._delivery(postback, event, request))
        return IngestItem(event, tuple(deliveries))

    def _unsendable(
        self, postback: Postback, event: Event, reason: str, message: str
    ) -> NewDelivery:
        """A delivery stored as failed: its request is kept only as its method and the
        start of its URL template, for the owner to recognise."""
        config = postback.config
        shown = RenderedRequest(config.method, config.url[:MAX_SHOWN_URL], (), None)
        new = self._delivery(postback, event, shown)
        return dataclasses.replace(new, failure=f"{reason}: {message}")

    def condition(self, text: str) -> conditions.Condition | conditions.ConditionError:
        """A condition compiled once per text (a saved one always compiles; kept if not)."""
        found = self._conditions.get(text)
        if found is None:
            if len(self._conditions) >= 10_000:  # bound the cache; texts are per postback
                self._conditions.clear()
            try:
                found = conditions.compile_condition(text)
            except conditions.ConditionError as exc:
                found = exc
            self._conditions[text] = found
        return found

    def check_condition(
        self,
        postback: Postback,
        event: Event,
        params: dict[str, Any],
        bound: list[conditions.Bindings],
    ) -> conditions.Verdict:
        """Whether the postback's condition holds for this event (no condition: it does)."""
        if postback.config.condition is None:
            return conditions.Verdict(True)
        compiled = self.condition(postback.config.condition)
        if isinstance(compiled, conditions.ConditionError):
            return conditions.Verdict(False, f"the condition does not compile: {compiled}")
        if not bound:
            kind = event_rules.kind_of(event.type)
            bound.append(conditions.bind(kind, event.type.value, params))
        return conditions.evaluate(compiled, bound[0])

    def _delivery(self, postback: Postback, event: Event, request: RenderedRequest) -> NewDelivery:
        due = event.occurred_at + timedelta(seconds=postback.config.min_delay_seconds)
        action_id = event.data.get("ActionId")
        return NewDelivery(
            postback_id=postback.id,
            owner_id=postback.owner_id,
            request=request,
            due_at=due,
            order_key=event_rules.order_key(event),
            action_id=None if action_id is None else str(action_id),
            postback_version=postback.version,
        )

    # -- previews --------------------------------------------------------------------
    async def preview(
        self, postback: Postback, event: Event | None, event_id: str | None
    ) -> Preview:
        """The request as it would be sent, for a given or stored event, or a sample."""
        if event_id is not None:
            event = await self._visible_event(postback, event_id)
        params = self.sample(postback) if event is None else event_rules.with_defaults(event)
        try:
            request = self.render(postback, params)
        except TemplateError as exc:
            raise ValidationProblem([problem("event.data", exc.code, str(exc))]) from exc
        verdict = None
        if postback.config.condition is not None:
            target = event or Event("sample", _SAMPLE_TOPIC[postback.config.kind], self.clock(), {})
            verdict = self.check_condition(postback, target, params, [])
        warnings = _warnings(postback.config, request) + self._size_warnings(request)
        return Preview(request, _jsonable(params), warnings, verdict)

    def _size_warnings(self, request: RenderedRequest) -> list[str]:
        size, limit = request_size(request), self.settings.max_request_bytes
        if size <= limit:
            return []
        return [
            f"the rendered request is {size:,} bytes, over the limit of {limit:,} bytes "
            "(POSTBACK_MAX_REQUEST_BYTES): a delivery like this one fails with too_large"
        ]

    async def _visible_event(self, postback: Postback, event_id: str) -> Event:
        """A stored event, if it fans out to this postback (else it is not the caller's)."""
        event = await self.store.get_event(event_id)
        if not await self.store.event_reaches(postback.id, event):
            raise NotFound(f"no event {event_id!r} for this postback")
        return event

    async def test_send(
        self, postback: Postback, event: Event | None, event_id: str | None
    ) -> TestSend:
        """Send the postback now, bypassing the delay and the log; return what happened."""
        shown = await self.preview(postback, event, event_id)
        message_id = f"test_{keys.new_key()[4:20]}"
        request = shown.request
        if postback.config.signing_enabled:  # signed like a delivery, with the current secret
            with contextlib.suppress(NotFound):  # a configuration not saved yet has none
                secret = await self.store.signing_secret(postback.id, None)
                stamp = int(self.clock().timestamp())
                request = signing.sign(request, message_id, stamp, (secret.secret,))
        owner = await self.store.get_account(postback.owner_id)
        sent = await self._transport().send(request, message_id, owner.allowed_networks)
        verdict = outcome.classify(
            sent.reply,
            sent.failure,
            postback.config.success_response,
            postback.config.error_response,
        )
        return TestSend(redact(as_sent(request, message_id)), sent, verdict, shown.condition)

    def _transport(self) -> Transport:
        if self._sender is None:
            self._sender = transport_for(self.settings)
        return self._sender

    # -- unsaved configurations ------------------------------------------------------
    async def preview_configuration(
        self,
        who: Principal,
        config: PostbackConfig,
        owner_id: str | None,
        topic: EventTopic | None,
        data: dict[str, Any] | None,
    ) -> ConfigPreview:
        """What an unsaved postback would send, and what saving it would report.

        The problems are those a save would raise (the owner's own rules included); the
        request is rendered whenever the templates compile, for the given event data or a
        sample of the chosen (or first fitting) topic.
        """
        # The same checks as a save (_validate), so whatever a save refuses shows here too.
        problems: list[Problem] = []
        owner: Account | None = None
        try:
            owner = await self._owner(who, owner_id)
        except ValidationProblem as exc:
            problems += exc.problems
        except NotFound:
            problems.append(problem("owner_id", "not_found", "no such account"))
        try:
            if owner is not None:
                await self._validate(owner, config)
            else:
                problems += rules.check_shape(config) + rules.compile_config(config)[1]
        except ValidationProblem as exc:
            problems += exc.problems
        compiled, _ = rules.compile_config(config)
        kind = CATALOGUE_OF_KIND[config.kind]
        chosen = topic if topic is not None else FIRST_TOPIC[kind]
        sample = sample_params(kind) if data is None else data
        request = None
        verdict: conditions.Verdict | None = None
        if event_rules.kind_of(chosen) is not kind:
            problems.append(
                problem(
                    "event.type",
                    "wrong_kind",
                    f"a {config.kind} postback never gets {chosen} events",
                )
            )
        elif compiled is not None:
            event = Event("preview", chosen, self.clock(), sample)
            params = event_rules.with_defaults(event)
            try:
                request = rules.render(config, compiled, params)
            except TemplateError as exc:
                problems.append(problem("event.data", exc.code, str(exc)))
            if config.condition is not None:
                # The editor shows whether the condition holds for the sample, and why not.
                condition = self.condition(config.condition)
                if not isinstance(condition, conditions.ConditionError):
                    bound = conditions.bind(event_rules.kind_of(chosen), chosen.value, params)
                    verdict = conditions.evaluate(condition, bound)
        warnings = _lookalike_warnings(config)
        if request is not None:
            warnings += [problem("body", "invalid_json", w) for w in _warnings(config, request)]
        return ConfigPreview(request, problems, warnings, chosen, _jsonable(sample), verdict)

    async def test_configuration(
        self,
        who: Principal,
        config: PostbackConfig,
        owner_id: str | None,
        topic: EventTopic | None,
        data: dict[str, Any] | None,
    ) -> tuple[ConfigPreview, TestSend]:
        """Send an unsaved postback once, as a test: refused with the problems a save would
        report, so what passes here also saves."""
        shown = await self.preview_configuration(who, config, owner_id, topic, data)
        if shown.problems or shown.request is None:
            raise ValidationProblem(shown.problems)
        owner = await self._owner(who, owner_id)
        message_id = f"test_{keys.new_key()[4:20]}"
        sent = await self._transport().send(shown.request, message_id, owner.allowed_networks)
        verdict = outcome.classify(
            sent.reply, sent.failure, config.success_response, config.error_response
        )
        return shown, TestSend(redact(as_sent(shown.request, message_id)), sent, verdict)

    # -- deliveries ------------------------------------------------------------------
    async def list_deliveries(
        self, who: Principal, flt: DeliveryFilter, limit: int, cursor: str | None
    ) -> Page:
        return await self.store.list_deliveries(who.owner_id, flt, limit, cursor)

    async def get_delivery(self, who: Principal, delivery_id: str) -> Delivery:
        return await self.store.get_delivery(delivery_id, who.owner_id)

    async def redeliver(
        self, who: Principal, delivery_id: str, how: Resend = Resend.CURRENT
    ) -> Delivery:
        """Send a delivery again now. ``current``: the same delivery, queued with a fresh
        retry round, its event rendered by the postback as it is now. ``as_sent``: a new
        delivery (returned) with the original's stored request, byte for byte, signed
        afresh for its own id and time."""
        if how is Resend.AS_SENT:
            return await self.store.resend_as_sent(delivery_id, who.owner_id, self.clock())
        return await self.store.redeliver(delivery_id, who.owner_id, self.clock())

    async def list_notices(self, who: Principal) -> list[Notice]:
        """Messages for the caller's account; the operator has none."""
        if who.account is None:
            return []
        return await self.store.list_notices(who.account.id)

    async def replay(self, who: Principal, flt: DeliveryFilter, everything: bool = False) -> Replay:
        """Send again now every finished delivery the filter selects; return the replay
        (its id and how many it queued), whose progress :meth:`replay_progress` reads.

        A postback named in the filter must be one the caller sees (else NotFound), so a
        mistyped id is an error, not "0 replayed"; no filter at all needs ``everything``.
        """
        problems = replay_problems(flt, everything)
        if problems:
            raise ValidationProblem(problems)
        if flt.postback_id is not None:
            await self.store.get_postback(flt.postback_id, who.owner_id)
        return await self.store.start_replay(who.owner_id, flt, self.clock())

    async def replay_progress(self, who: Principal, replay_id: str) -> Replay:
        """How far a replay has got; only its owner (or the operator) sees it."""
        return await self.store.get_replay(replay_id, who.owner_id)

    # -- start and stop --------------------------------------------------------------
    async def ensure_operator(self) -> str | None:
        """Create the operator account on first start; return its new key, shown once.

        With ``POSTBACK_ADMIN_KEY`` set, that key is the operator's: the account is created
        without a key (keys can be added to it later, and revoked).
        """
        accounts = await self.store.list_accounts()
        if any(a.kind is AccountKind.OPERATOR for a in accounts):
            return None
        if self.settings.admin_key is not None:
            # An operator account without a key of its own: more keys can be added to it
            # (and revoked), so the operator's keys rotate without a restart.
            await self.store.create_account("operator", AccountKind.OPERATOR, None, "")
            return None
        key = keys.new_key()
        await self.store.create_account(
            "operator", AccountKind.OPERATOR, None, keys.hash_key(key), key_prefix=keys.prefix(key)
        )
        return key

    async def aclose(self) -> None:
        if self._sender is not None:
            await self._sender.close()
        await self.store.close()


@dataclass(frozen=True, slots=True)
class NamedContract:
    """A contract with the names a person knows its parties and program by."""

    contract: Contract
    partner_name: str
    program_name: str
    brand_name: str


@dataclass(frozen=True, slots=True)
class TestSend:
    request: RenderedRequest  # as sent, secrets redacted
    sent: SendResult
    verdict: Outcome
    condition: conditions.Verdict | None = None  # sent anyway; ingest would skip it if false


@dataclass(frozen=True, slots=True)
class ConfigPreview:
    request: RenderedRequest | None  # None while a template or the event is at fault
    problems: list[Problem]
    warnings: list[Problem]
    topic: EventTopic
    data: dict[str, Any]  # the event data rendered (the sample when none was given)
    condition: conditions.Verdict | None = None  # None: no condition, or it does not compile


@dataclass(frozen=True, slots=True)
class Preview:
    request: RenderedRequest
    params: dict[str, Any]
    warnings: list[str]
    condition: conditions.Verdict | None = None  # None: the postback has no condition


# The topic a sample preview stands for, per postback kind (the condition's ``type``).
_SAMPLE_TOPIC: dict[PostbackKind, EventTopic] = {
    PostbackKind.ACTION_LIFECYCLE: EventTopic.ACTION_TRACKED,
    PostbackKind.ACTION_CLEARING: EventTopic.ACTION_CLEARED,
    PostbackKind.PARTNER_INTEGRATION: EventTopic.ACTION_TRACKED,
    PostbackKind.MEDIA_SOURCE: EventTopic.ACTION_TRACKED,
    PostbackKind.ACTION_INQUIRY: EventTopic.INQUIRY_CREATED,
    PostbackKind.CATALOG_CHANGE: EventTopic.CATALOG_ITEM_CHANGED,
}


def _scope_required(config: PostbackConfig, field: str) -> list[Problem]:
    """The refusal of a brand's postback that lacks ``field`` or its event type."""
    kind = config.kind.value.replace("_", " ")
    return [problem(field, "required", f"a {kind} postback needs {field} and event_type_id")]


def only(who: str) -> ValidationProblem:
    """The refusal of an action only ``who`` may take."""
    return ValidationProblem([problem("account", "not_allowed", f"only {who} can do this")])


def request_size(request: RenderedRequest) -> int:
    """Bytes of a rendered request's URL, header names and values, and body (UTF-8)."""
    size = _utf8_len(request.url) + sum(_utf8_len(n) + _utf8_len(v) for n, v in request.headers)
    return size if request.body is None else size + _utf8_len(request.body)


def _utf8_len(text: str) -> int:
    # isascii() is O(1) on CPython's compact strings: most values need no encoding.
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def replay_problems(flt: DeliveryFilter, everything: bool) -> list[Problem]:
    """A replay needs a filter, or ``all`` to say every finished delivery is meant."""
    if flt == DeliveryFilter() and not everything:
        return [
            problem(
                "all",
                "required",
                "give a filter (postback_id, status, action_id, event_id, since, until), "
                "or all: true to replay every finished delivery",
            )
        ]
    if flt.since is not None and flt.until is not None and flt.since >= flt.until:
        return [problem("since", "out_of_range", "since must be earlier than until")]
    return []


def _where(index: int, single: bool) -> str:
    return "" if single else f"[{index}]"


def _warnings(config: PostbackConfig, request: RenderedRequest) -> list[str]:
    if config.body_format is not BodyFormat.JSON or request.body is None:
        return []
    try:
        json.loads(request.body)
    except ValueError as exc:
        return [f"the rendered body is not valid JSON ({exc}); check quotes and commas"]
    return []


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(params, default=str))  # type: ignore[no-any-return]


# The topic a preview renders when none is chosen: the commonest of each catalogue.
FIRST_TOPIC: dict[EventKind, EventTopic] = {
    EventKind.ACTION: EventTopic.ACTION_TRACKED,
    EventKind.ACTION_INQUIRY: EventTopic.INQUIRY_CREATED,
    EventKind.CATALOG_CHANGE: EventTopic.CATALOG_ITEM_CHANGED,
}


def _lookalike_warnings(config: PostbackConfig) -> list[Problem]:
    """Text in the templates that looks like a parameter but is sent as typed."""
    catalogue = catalogue_for(CATALOGUE_OF_KIND[config.kind])
    names = (*catalogue.names, *catalogue.field_names)
    fields = [("url", config.url), ("body", config.body or "")]
    fields += [(f"headers.{name}", value) for name, value in config.headers]
    return [
        problem(field, "lookalike", w.message, w.position)
        for field, text in fields
        for w in lookalikes(text, names)
    ]

"""`postback serve --demo`: demo accounts and a postback to the built-in inbox.

A brand, a partner, a program, a contract and a postback that delivers to the built-in
inbox, so a first event can be posted with one curl command."""

from __future__ import annotations

from dataclasses import dataclass

from postback.domain import keys
from postback.domain.records import (
    AccountKind,
    HttpMethod,
    PartnerType,
    PostbackConfig,
    PostbackKind,
)
from postback.service.usecases import Service

BRAND = "Demo Brand"


@dataclass(frozen=True, slots=True)
class Demo:
    brand_id: str
    partner_id: str
    program_id: str
    event_type_id: str
    postback_id: str
    inbox: str


async def ensure_demo(service: Service, base_url: str) -> Demo:
    """Create the demo objects once; later starts find and reuse them."""
    store = service.store
    accounts = {a.name: a for a in await store.list_accounts()}
    if BRAND in accounts:
        return await _existing(service, accounts[BRAND].id, accounts["Demo Partner"].id)
    brand, _ = await service.create_account(BRAND, AccountKind.BRAND, None)
    partner, _ = await service.create_account(
        "Demo Partner", AccountKind.PARTNER, PartnerType.CASHBACK
    )
    program = await store.create_program(brand.id, "Demo Program")
    event_type = await store.create_event_type(program.id, "Online Sale", "sale")
    await store.create_contract(partner.id, program.id, [event_type.id])
    inbox = f"{base_url}/inbox/demo-{keys.new_key()[4:16]}"
    config = PostbackConfig(
        kind=PostbackKind.ACTION_LIFECYCLE,
        url=inbox + "?action={ActionId}&status={Status}&payout={Payout}&sale={Amount}",
        method=HttpMethod.GET,
        name="Demo: every status change to the built-in inbox",
    )
    postback = await store.create_postback(partner.id, config)
    return Demo(brand.id, partner.id, program.id, event_type.id, postback.id, inbox)


async def _existing(service: Service, brand_id: str, partner_id: str) -> Demo:
    store = service.store
    program = (await store.list_programs(brand_id))[0]
    contract = (await store.list_contracts(partner_id))[0]
    postback = (await store.list_postbacks(partner_id))[0]
    inbox = postback.config.url.split("?", 1)[0]
    return Demo(brand_id, partner_id, program.id, contract.event_type_ids[0], postback.id, inbox)


def curl_command(demo: Demo, base_url: str, operator_key: str) -> str:
    event = (
        '{"id": "demo-1", "type": "action.tracked", "occurred_at": "2026-11-23T10:00:00Z", '
        f'"data": {{"MediaPartnerId": "{demo.partner_id}", "CampaignId": "{demo.program_id}", '
        f'"ActionTrackerId": "{demo.event_type_id}", "ActionId": "1000.2000.3000", '
        '"Payout": "12.5", "Amount": "149.9", "Currency": "USD"}}'
    )
    return (
        f"curl -s -X POST {base_url}/v1/events \\\n"
        f"  -H \"Authorization: Bearer {operator_key}\" -H 'Content-Type: application/json' \\\n"
        f"  -d '{event}'\n"
        f'curl -s {base_url}/v1/deliveries -H "Authorization: Bearer {operator_key}"\n'
        f"curl -s {demo.inbox}/requests"
    )

"""The parameter catalogues, as data: which names a template of each event kind may use.

A parameter's declared type decides how its value is formatted (see ``formatting``):
money always gets two decimals, date/times become ISO 8601 with an offset, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from postback.domain.records import EventKind


class ParamType(StrEnum):
    """How a parameter's value is formatted before it is escaped."""

    TEXT = "text"
    INTEGER = "integer"
    MONEY = "money"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    LIST = "list"


@dataclass(frozen=True, slots=True)
class Parameter:
    """One name a template may use, its type and what it holds."""

    name: str
    type: ParamType
    description: str


@dataclass(frozen=True)
class Catalogue:
    """The parameters (and item fields, when the events carry items) of one event kind."""

    kind: str
    parameters: tuple[Parameter, ...]
    item_fields: tuple[Parameter, ...] = ()
    _by_name: dict[str, Parameter] = field(init=False, repr=False, compare=False)
    _fields: dict[str, Parameter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {p.name: p for p in self.parameters})
        object.__setattr__(self, "_fields", {p.name: p for p in self.item_fields})

    def get(self, name: str) -> Parameter | None:
        """The order-level parameter called ``name`` (case-sensitive), or None."""
        return self._by_name.get(name)

    def item_field(self, name: str) -> Parameter | None:
        """The item field called ``name``, or None."""
        return self._fields.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        """Every order-level parameter name, in catalogue order."""
        return tuple(self._by_name)

    @property
    def field_names(self) -> tuple[str, ...]:
        """Every item field name, in catalogue order."""
        return tuple(self._fields)

    @property
    def has_items(self) -> bool:
        """Whether events of this kind carry items (so ``join`` is allowed)."""
        return bool(self.item_fields)


# Short aliases keep the tables below one row per line.
TXT, INT, MON, DT, BOOL, LST = (
    ParamType.TEXT,
    ParamType.INTEGER,
    ParamType.MONEY,
    ParamType.DATETIME,
    ParamType.BOOLEAN,
    ParamType.LIST,
)

ACTION_ROWS: tuple[tuple[str, ParamType, str], ...] = (
    # identifiers
    ("CampaignId", TXT, "Identifier of the program the action belongs to"),
    ("ActionTrackerId", TXT, "Identifier of the event type that tracked the action"),
    ("MediaPartnerId", TXT, "Identifier of the partner account credited with the action"),
    ("MediaSourceId", TXT, "Identifier of the media source the action came from, if any"),
    ("ActionId", TXT, "Unique identifier of the action"),
    ("AdId", TXT, "Identifier of the ad that was clicked"),
    ("Oid", TXT, "The brand's own order number"),
    ("RefClickId", TXT, "Case-sensitive identifier created when the click happened"),
    ("SharedId", TXT, "Value the partner put in the click URL, handed back as is"),
    ("SubId1", TXT, "First sub-identifier the partner put in the click URL"),
    ("SubId2", TXT, "Second sub-identifier the partner put in the click URL"),
    ("SubId3", TXT, "Third sub-identifier the partner put in the click URL"),
    # names and kinds
    ("CampaignName", TXT, "Name of the program"),
    ("ActionTrackerName", TXT, "Name of the event type"),
    ("MediaPartnerName", TXT, "Name of the partner account"),
    ("ActionType", TXT, "Kind of action, such as SALE, LEAD or APP_INSTALL"),
    ("ReferringType", TXT, "How the customer was referred, such as CLICK or COUPON"),
    ("Status", TXT, "Life-cycle state of the action: PENDING, APPROVED or REVERSED"),
    ("StatusDetail", TXT, "Why the status changed, e.g. the reason for a reversal"),
    ("CustomerStatus", TXT, "Whether the customer is new or returning"),
    ("PromoCode", TXT, "Coupon or promotion code used on the order"),
    ("Note", TXT, "Free-form remark sent along with the action"),
    # money
    ("Payout", MON, "What the partner earns for the action, in the partner's currency"),
    ("DeltaPayout", MON, "How much the payout changed in this modification"),
    ("IntendedPayout", MON, "Payout the action would have earned had no limit applied"),
    ("Amount", MON, "Sale amount of the action, in the account's currency"),
    ("DeltaAmount", MON, "How much the sale amount changed in this modification"),
    ("IntendedAmount", MON, "Sale amount the action would have had if no limit applied"),
    ("OriginalAmount", MON, "Sale amount in the shopper's (cart) currency"),
    ("Money1", MON, "Custom amount field 1 reported with the action"),
    ("Money2", MON, "Custom amount field 2 reported with the action"),
    ("Money3", MON, "Custom amount field 3 reported with the action"),
    # currency codes
    ("Currency", TXT, "ISO 4217 code of the action's currency"),
    ("OriginalCurrency", TXT, "ISO 4217 code of the shopper's (cart) currency"),
    # date/time
    ("EventDate", DT, "When the conversion happened"),
    ("CreationDate", DT, "When the action was recorded by the platform"),
    ("LockingDate", DT, "When the action locks and can no longer change"),
    ("ClearedDate", DT, "When the action is (or was) scheduled to clear for payment"),
    ("Date1", DT, "Custom date field 1 reported with the action"),
    ("Date2", DT, "Custom date field 2 reported with the action"),
    ("Date3", DT, "Custom date field 3 reported with the action"),
    # referral and customer
    ("ReferringDomain", TXT, "Web domain the referral came from"),
    ("LandingPageUrl", TXT, "Page the customer landed on after the click"),
    ("RefCustomerArea", TXT, "Customer's area, looked up from the IP address"),
    ("RefCustomerCity", TXT, "Customer's city, looked up from the IP address"),
    ("RefCustomerRegion", TXT, "Customer's region, looked up from the IP address"),
    ("RefCustomerCountry", TXT, "Customer's country code, looked up from the IP address"),
    ("CustomerPostCode", TXT, "Customer's postal code as reported by the brand"),
    ("CustomerCity", TXT, "Customer's city as reported by the brand"),
    ("CustomerCountry", TXT, "Customer's country code as reported by the brand"),
    ("CustomerRegion", TXT, "Customer's region as reported by the brand"),
    # free fields
    ("Text1", TXT, "Custom text field 1 reported with the action"),
    ("Text2", TXT, "Custom text field 2 reported with the action"),
    ("Text3", TXT, "Custom text field 3 reported with the action"),
    ("Numeric1", INT, "Custom number field 1 reported with the action"),
    ("Numeric2", INT, "Custom number field 2 reported with the action"),
    ("Numeric3", INT, "Custom number field 3 reported with the action"),
    # mobile and device
    ("appPackage", TXT, "Package or bundle identifier of the mobile app"),
    ("appName", TXT, "Display name of the mobile app"),
    ("appVersion", TXT, "Version of the mobile app"),
    ("deviceOs", TXT, "Operating system of the device"),
    ("deviceOsVersion", TXT, "Version of the device's operating system"),
    ("deviceManuf", TXT, "Maker of the device"),
    ("deviceModel", TXT, "Model of the device"),
    ("macAddress", TXT, "Device MAC address (upper case, lower case or hashed)"),
    ("iosIfa", TXT, "iOS identifier for advertisers"),
    ("iosAdTracking", BOOL, "Whether ad tracking is allowed on the iOS device"),
    ("androidId", TXT, "Android device identifier"),
    ("odin1", TXT, "ODIN-1: SHA-1 of the device MAC address"),
    ("openUdid", TXT, "OpenUDID of the device"),
    ("deviceId", TXT, "Generic device identifier"),
    ("deviceIp", TXT, "IP address of the device"),
    ("UserAgent", TXT, "Browser or app user agent string"),
    ("IpAddressPlain", TXT, "Customer IP address, unmasked"),
)

ITEM_ROWS: tuple[tuple[str, ParamType, str], ...] = (
    ("sku", TXT, "Stock-keeping unit of the item"),
    ("name", TXT, "Product name of the item"),
    ("cat", TXT, "Product category of the item"),
    ("itemlist", TXT, "Item list or collection the item came from"),
    ("qty", INT, "How many units were bought"),
    ("amt", MON, "Price of one unit"),
    ("cartamt", MON, "Total for this line of the cart"),
    ("rbt", MON, "Rebate or discount on this line"),
)

INQUIRY_ROWS: tuple[tuple[str, ParamType, str], ...] = (
    ("InquiryId", TXT, "Identifier of the inquiry"),
    ("MediaPartnerInquiryId", TXT, "The partner's own reference for the inquiry"),
    ("InquiryType", TXT, "What is asked about: UNTRACKED, INCORRECT or DECLINED"),
    ("ResolutionStatus", TXT, "Where it stands: PENDING, VALID, DECLINED or INCOMPLETE"),
    ("RejectReason", TXT, "Why the brand declined the inquiry"),
    ("CampaignId", TXT, "Identifier of the program the inquiry is about"),
    ("CampaignName", TXT, "Name of the program"),
    ("MediaPartnerId", TXT, "Identifier of the partner that raised the inquiry"),
    ("ActionTrackerId", TXT, "Identifier of the event type concerned"),
    ("ActionId", TXT, "Identifier of the action concerned, once there is one"),
    ("Oid", TXT, "The brand's order number for the transaction"),
    ("TransactionDate", DT, "When the customer made the transaction"),
    ("TransactionAmount", MON, "Amount of the transaction"),
    ("Currency", TXT, "ISO 4217 code of the transaction currency"),
    ("CustomerId", TXT, "The brand's identifier for the customer"),
    ("InquiryDate", DT, "When the inquiry was raised"),
    ("ExpectedPayout", MON, "Payout the partner expects for the transaction"),
    ("ResolutionDeadlineDate", DT, "Date by which the brand must answer"),
    ("ResolutionDate", DT, "When the brand answered"),
    ("InquiryNotes", TXT, "Notes written on the inquiry"),
)

CATALOG_ROWS: tuple[tuple[str, ParamType, str], ...] = (
    ("Operation", TXT, "What happened to the item: INSERT, UPDATE or DELETE"),
    ("CatalogId", TXT, "Identifier of the catalog"),
    ("CatalogItemId", TXT, "Identifier of the item in the catalog"),
    ("CampaignId", TXT, "Identifier of the brand's program"),
    ("CampaignName", TXT, "Name of the brand's program"),
    ("Name", TXT, "Product name"),
    ("Description", TXT, "Product description"),
    ("Url", TXT, "Product page address"),
    ("ImageUrl", TXT, "Product image address"),
    ("CurrentPrice", MON, "Price the product sells for now"),
    ("OriginalPrice", MON, "Price before any reduction"),
    ("Currency", TXT, "ISO 4217 code of the prices"),
    ("StockAvailability", TXT, "Stock state, such as InStock or OutOfStock"),
    ("Gtin", TXT, "Global trade item number (EAN/UPC)"),
    ("Manufacturer", TXT, "Maker or brand of the product"),
    ("Category", TXT, "Product category"),
    ("Multipack", INT, "Number of units sold together as one"),
    ("Bullets", LST, "Selling points, rendered comma-separated"),
    ("Labels", LST, "Free labels on the product, rendered comma-separated"),
)


def _params(rows: tuple[tuple[str, ParamType, str], ...]) -> tuple[Parameter, ...]:
    return tuple(Parameter(name, kind, text) for name, kind, text in rows)


CATALOGUES: dict[EventKind, Catalogue] = {
    EventKind.ACTION: Catalogue("action", _params(ACTION_ROWS), _params(ITEM_ROWS)),
    EventKind.ACTION_INQUIRY: Catalogue("action_inquiry", _params(INQUIRY_ROWS)),
    EventKind.CATALOG_CHANGE: Catalogue("catalog_change", _params(CATALOG_ROWS)),
}
ACTION_CATALOGUE = CATALOGUES[EventKind.ACTION]


def catalogue_for(kind: EventKind) -> Catalogue:
    """The catalogue templates of this event kind are checked against."""
    return CATALOGUES[EventKind(kind)]


_SAMPLE_ACTION: dict[str, Any] = {
    "CampaignId": 1234,
    "ActionTrackerId": 5678,
    "MediaPartnerId": 98765,
    "MediaSourceId": "ms-42",
    "ActionId": "1000.2000.3000",
    "AdId": 445566,
    "Oid": "ORD-2026-0042",
    "RefClickId": "Xy9-aBc12",
    "SharedId": "newsletter-nov",
    "SubId1": "homepage",
    "SubId2": "banner-top",
    "SubId3": "",
    "CampaignName": "Outdoor Gear Co.",
    "ActionTrackerName": "Online Sale",
    "MediaPartnerName": "Cashback World",
    "ActionType": "SALE",
    "ReferringType": "CLICK",
    "Status": "PENDING",
    "StatusDetail": "",
    "CustomerStatus": "NEW",
    "PromoCode": "WINTER10",
    "Note": "Gift wrap requested",
    "Payout": "12.50",
    "DeltaPayout": "0.00",
    "IntendedPayout": "12.50",
    "Amount": "149.90",
    "DeltaAmount": "0.00",
    "IntendedAmount": "149.90",
    "OriginalAmount": "139.95",
    "Money1": "5.00",
    "Money2": None,
    "Money3": None,
    "Currency": "USD",
    "OriginalCurrency": "EUR",
    "EventDate": "2026-11-22T10:15:00-08:00",
    "CreationDate": "2026-11-22T10:15:04-08:00",
    "LockingDate": "2026-12-15T00:00:00-08:00",
    "ClearedDate": "2027-01-10T00:00:00-08:00",
    "Date1": "2026-11-20T00:00:00+00:00",
    "Date2": None,
    "Date3": None,
    "ReferringDomain": "blog.example",
    "LandingPageUrl": "https://shop.example/winter?utm_source=partner",
    "RefCustomerArea": "415",
    "RefCustomerCity": "San Francisco",
    "RefCustomerRegion": "CA",
    "RefCustomerCountry": "US",
    "CustomerPostCode": "94107",
    "CustomerCity": "San Francisco",
    "CustomerCountry": "US",
    "CustomerRegion": "CA",
    "Text1": "loyalty-gold",
    "Text2": "",
    "Text3": "",
    "Numeric1": 3,
    "Numeric2": 0,
    "Numeric3": None,
    "appPackage": "com.example.shop",
    "appName": "Example Shop",
    "appVersion": "4.2.1",
    "deviceOs": "iOS",
    "deviceOsVersion": "18.1",
    "deviceManuf": "Apple",
    "deviceModel": "iPhone15,2",
    "macAddress": "",
    "iosIfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
    "iosAdTracking": True,
    "androidId": "",
    "odin1": "",
    "openUdid": "",
    "deviceId": "device-7f3a",
    "deviceIp": "203.0.113.7",
    "UserAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)",
    "IpAddressPlain": "203.0.113.7",
}

_SAMPLE_ITEMS: list[dict[str, Any]] = [
    {"sku": "GH23", "name": "Field Watch", "cat": "Watches", "itemlist": "featured",
     "qty": 1, "amt": "89.90", "cartamt": "89.90", "rbt": "5.00"},
    {"sku": "UT66", "name": "Trail Runner", "cat": "Shoes", "itemlist": "",
     "qty": 1, "amt": "45.00", "cartamt": "45.00", "rbt": "0.00"},
    {"sku": "RW87", "name": "Sun Hat", "cat": "Hats", "itemlist": "",
     "qty": 2, "amt": "7.50", "cartamt": "15.00", "rbt": "0.00"},
]  # fmt: skip

_SAMPLE_INQUIRY: dict[str, Any] = {
    "InquiryId": "INQ-20261122-0007",
    "MediaPartnerInquiryId": "cb-77812",
    "InquiryType": "UNTRACKED",
    "ResolutionStatus": "PENDING",
    "RejectReason": "",
    "CampaignId": 1234,
    "CampaignName": "Outdoor Gear Co.",
    "MediaPartnerId": 98765,
    "ActionTrackerId": 5678,
    "ActionId": None,
    "Oid": "ORD-2026-0042",
    "TransactionDate": "2026-11-22T10:15:00-08:00",
    "TransactionAmount": "149.90",
    "Currency": "USD",
    "CustomerId": "cust-5521",
    "InquiryDate": "2026-11-29T09:00:00+00:00",
    "ExpectedPayout": "12.50",
    "ResolutionDeadlineDate": "2026-12-29T00:00:00+00:00",
    "ResolutionDate": None,
    "InquiryNotes": "Order confirmation e-mail attached",
}

_SAMPLE_CATALOG: dict[str, Any] = {
    "Operation": "UPDATE",
    "CatalogId": 77,
    "CatalogItemId": "GH23",
    "CampaignId": 1234,
    "CampaignName": "Outdoor Gear Co.",
    "Name": "Field Watch",
    "Description": "Rugged 40 mm field watch with a canvas strap",
    "Url": "https://shop.example/p/GH23",
    "ImageUrl": "https://shop.example/img/GH23.jpg",
    "CurrentPrice": "89.90",
    "OriginalPrice": "119.00",
    "Currency": "USD",
    "StockAvailability": "InStock",
    "Gtin": "00012345678905",
    "Manufacturer": "Example Watch Works",
    "Category": "Watches",
    "Multipack": 1,
    "Bullets": ["Water resistant to 100 m", "Sapphire crystal"],
    "Labels": ["sale", "outdoor"],
}


def sample_params(kind: EventKind) -> dict[str, Any]:
    """A realistic event of this kind, for previews; a fresh copy on every call."""
    if EventKind(kind) is EventKind.ACTION:
        return {**_SAMPLE_ACTION, "items": [dict(i) for i in _SAMPLE_ITEMS]}
    if EventKind(kind) is EventKind.ACTION_INQUIRY:
        return dict(_SAMPLE_INQUIRY)
    return {k: list(v) if isinstance(v, list) else v for k, v in _SAMPLE_CATALOG.items()}

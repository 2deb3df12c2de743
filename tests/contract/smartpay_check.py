"""Checks recorded Smartpay exchanges against Smartpay's contract.

Usage: python smartpay_check.py EXCHANGES.jsonl

Each line is one exchange the simulator recorded (``method``, ``path`` with
the ``/smartpay/v1`` prefix, ``query``, ``status``, parsed ``request`` and
``response`` bodies) or ``{"webhook": <event body>}``. Checked:

- every checkout session and token order kessai asked for, against the JTD
  schema the official SDK (PyPI ``smartpay==0.8.1``) ships for it
  (``flat-checkout-session-payload``, ``token-order-payload``);
- every other request against the documented shape (seeds 000 and 002,
  providers.md): required fields, types, enumerations, no unknown fields;
- every answer: the documented object for the endpoint (order, payment,
  refund, checkout session, collection), or the error shape
  ``{statusCode, errorCode, message, details[]}``;
- every webhook event ``{id, object, createdAt, test, eventData: {type,
  version, data}}`` and its object.

Prints one line per violation and exits 1 if there is any, 0 otherwise.
"""

import importlib.util
import json
import os
import re
import sys
from urllib.parse import parse_qsl

import jtd

PREFIX = "/smartpay/v1"
CURRENCY = re.compile(r"^[A-Z]{3}$")
ORDER_STATUSES = {
    "requires_authorization",
    "requires_capture",
    "succeeded",
    "canceled",
    "rejected",
    "pending",
    "failed",
}
PAYMENT_STATUSES = {"processed", "refunded"}
REFUND_STATUSES = {"succeeded", "failed"}
REFUND_REASONS = {"requested_by_customer", "fraudulent"}
CAPTURE_METHODS = {"manual", "automatic"}
EVENT_TYPES = {
    "order.authorized",
    "order.rejected",
    "order.canceled",
    "payment.created",
    "refund.created",
}


def schema(name):
    """A JTD schema shipped in the smartpay wheel, loaded by path (importing
    the package itself fails: the wheel's client is incomplete)."""
    spec = importlib.util.find_spec("smartpay")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the smartpay wheel is not installed")
    for location in spec.submodule_search_locations:
        path = os.path.join(location, "schemas", f"{name}.jtd.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return jtd.Schema.from_dict(json.load(f))
    raise SystemExit(f"no {name}.jtd.json in the smartpay wheel")


SCHEMAS = {
    "checkout": schema("flat-checkout-session-payload"),
    "token-order": schema("token-order-payload"),
}


class Checker:
    def __init__(self):
        self.violations = []
        self.counts = {}

    def bad(self, where, problem):
        self.violations.append(f"{where}: {problem}")

    # -- primitive checks -------------------------------------------------

    def typed(self, where, value, kind):
        ok = {
            "str": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "obj": isinstance(value, dict),
            "list": isinstance(value, list),
        }[kind]
        if not ok:
            self.bad(where, f"must be {kind}, got {json.dumps(value, ensure_ascii=False)[:60]}")
        return ok

    def fields(self, where, body, required, optional=None, closed=False):
        """`required`/`optional`: name -> kind or a callable(where, value)."""
        if not isinstance(body, dict):
            self.bad(where, "must be a JSON object")
            return False
        optional = optional or {}
        for name, kind in required.items():
            if name not in body or body[name] is None:
                self.bad(f"{where}.{name}", "is required")
            else:
                self.field(f"{where}.{name}", body[name], kind)
        for name, kind in optional.items():
            if name in body and body[name] is not None:
                self.field(f"{where}.{name}", body[name], kind)
        if closed:
            for name in body:
                if name not in required and name not in optional:
                    self.bad(f"{where}.{name}", "is not a documented field")
        return True

    def field(self, where, value, kind):
        if callable(kind):
            kind(where, value)
        else:
            self.typed(where, value, kind)

    def id_of(self, prefix):
        pattern = re.compile(rf"^{prefix}_(test|live)_[0-9A-Za-z]+$")

        def check(where, value):
            if self.typed(where, value, "str") and not pattern.match(value):
                self.bad(where, f"must be an id {prefix}_(test|live)_…, got {value!r}")

        return check

    def one_of(self, allowed):
        def check(where, value):
            if self.typed(where, value, "str") and value not in allowed:
                self.bad(where, f"must be one of {sorted(allowed)}, got {value!r}")

        return check

    def amount(self, minimum=0):
        def check(where, value):
            if self.typed(where, value, "int") and not 0 <= minimum <= value <= 2**32 - 1:
                self.bad(where, f"must be an integer from {minimum} to 4294967295, got {value}")

        return check

    def currency(self, where, value):
        if self.typed(where, value, "str") and not CURRENCY.match(value):
            self.bad(where, f"must be three upper-case letters, got {value!r}")

    def metadata(self, where, value):
        if self.typed(where, value, "obj"):
            for key, item in value.items():
                self.typed(f"{where}.{key}", item, "str")

    def list_of(self, check):
        def run(where, value):
            if self.typed(where, value, "list"):
                for i, item in enumerate(value):
                    check(f"{where}[{i}]", item)

        return run

    def address(self, where, value):
        self.fields(
            where,
            value,
            {"line1": "str", "locality": "str", "postalCode": "str", "country": "str"},
            {
                name: "str"
                for name in [
                    "line2",
                    "line3",
                    "line4",
                    "line5",
                    "administrativeArea",
                    "subLocality",
                    "addressType",
                ]
            },
        )

    def shipping_info(self, where, value):
        self.fields(
            where,
            value,
            {"address": self.address},
            {"addressType": "str", "feeAmount": self.amount(), "feeCurrency": self.currency},
        )

    # -- provider objects -------------------------------------------------

    def common(self, prefix, object_name):
        return {
            "id": self.id_of(prefix),
            "object": self.one_of({object_name}),
            "createdAt": "int",
            "updatedAt": "int",
            "test": "bool",
        }

    def order(self, where, body):
        self.fields(
            where,
            body,
            {
                **self.common("order", "order"),
                "amount": self.amount(),
                "currency": self.currency,
                "status": self.one_of(ORDER_STATUSES),
                "lineItems": self.list_of(self.id_of("li")),
                "payments": self.list_of(self.id_of("payment")),
                "discounts": "list",
                "metadata": self.metadata,
            },
            {
                "expiresAt": "int",
                "reference": "str",
                "description": "str",
                "shippingInfo": self.shipping_info,
            },
        )

    def line_item(self, where, body):
        self.fields(
            where,
            body,
            {
                "id": self.id_of("li"),
                "object": self.one_of({"lineItem"}),
                "quantity": "int",
                "price": self.price,
                "metadata": "obj",
                "test": "bool",
                "updatedAt": "int",
            },
            {"description": "str", "createdAt": "int"},
        )

    def price(self, where, body):
        self.fields(
            where,
            body,
            {
                "id": self.id_of("price"),
                "object": self.one_of({"price"}),
                "amount": self.amount(),
                "currency": self.currency,
                "product": self.product,
                "active": "bool",
                "metadata": "obj",
                "test": "bool",
                "createdAt": "int",
                "updatedAt": "int",
            },
        )

    def product(self, where, body):
        self.fields(
            where,
            body,
            {
                "id": self.id_of("product"),
                "object": self.one_of({"product"}),
                "name": "str",
                "active": "bool",
                "categories": "list",
                "images": self.list_of(lambda w, v: self.typed(w, v, "str")),
                "metadata": "obj",
                "test": "bool",
                "createdAt": "int",
                "updatedAt": "int",
            },
            {"description": "str"},
        )

    def expanded_order(self, where, body):
        """The order a checkout session embeds (checkout_session.created.json)."""
        self.fields(
            where,
            body,
            {
                **self.common("order", "order"),
                "amount": self.amount(),
                "currency": self.currency,
                "status": self.one_of(ORDER_STATUSES),
                "lineItems": self.list_of(self.line_item),
                "metadata": self.metadata,
            },
            {"expiresAt": "int", "shippingInfo": self.shipping_info},
        )

    def checkout_session(self, where, body):
        self.fields(
            where,
            body,
            {
                **self.common("checkout", "checkoutSession"),
                "url": "str",
                "order": self.expanded_order,
                "successUrl": "str",
                "cancelUrl": "str",
                "customerInfo": "obj",
                "metadata": self.metadata,
            },
            {"reference": "str"},
        )

    def payment(self, where, body):
        self.fields(
            where,
            body,
            {
                **self.common("payment", "payment"),
                "amount": self.amount(1),
                "currency": self.currency,
                "order": self.id_of("order"),
                "status": self.one_of(PAYMENT_STATUSES),
                "metadata": self.metadata,
            },
            {"reference": "str", "description": "str", "lineItems": "list"},
        )

    def refund(self, where, body):
        self.fields(
            where,
            body,
            {
                **self.common("refund", "refund"),
                "amount": self.amount(1),
                "currency": self.currency,
                "payment": self.id_of("payment"),
                "reason": self.one_of(REFUND_REASONS),
                "status": self.one_of(REFUND_STATUSES),
                "lineItems": "list",
                "metadata": self.metadata,
            },
            {"reference": "str", "description": "str"},
        )

    def collection(self, item):
        def check(where, body):
            if not self.fields(
                where,
                body,
                {
                    "object": self.one_of({"collection"}),
                    "pageToken": "str",
                    "maxResults": "int",
                    "results": "int",
                    "data": self.list_of(item),
                },
                {"nextPageToken": "str"},
                closed=True,
            ):
                return
            data, results = body.get("data"), body.get("results")
            if isinstance(data, list) and isinstance(results, int):
                if results != len(data):
                    self.bad(f"{where}.results", f"is {results} but data holds {len(data)}")
                if isinstance(body.get("maxResults"), int) and results > body["maxResults"]:
                    self.bad(f"{where}.results", "exceeds maxResults")

        return check

    def error(self, where, body, status):
        if status == 401 and isinstance(body, dict) and "errorCode" not in body:
            # error.401.json: {statusCode, scheme, realm}
            self.fields(where, body, {"statusCode": "int", "scheme": "str", "realm": "str"}, closed=True)
        else:
            self.fields(
                where,
                body,
                {"statusCode": "int", "errorCode": "str", "message": "str", "details": "list"},
                closed=True,
            )
        if isinstance(body, dict) and body.get("statusCode") != status:
            self.bad(f"{where}.statusCode", f"is {body.get('statusCode')} but the HTTP status is {status}")

    # -- requests ---------------------------------------------------------

    def jtd(self, where, name, body):
        errors = jtd.validate(schema=SCHEMAS[name], instance=body)
        for e in errors:
            pointer = "/".join(str(p) for p in e.instance_path) or "(body)"
            self.bad(f"{where} {pointer}", f"violates {name} schema at {'/'.join(e.schema_path)}")

    def item(self, where, body):
        self.fields(
            where,
            body,
            {"name": "str", "amount": self.amount(), "currency": self.currency, "quantity": "int"},
            {"description": "str", "images": "list"},
        )

    def checkout_request(self, where, body):
        self.jtd(where, "checkout", body)
        self.fields(
            where,
            body,
            {
                "amount": self.amount(1),
                "currency": self.currency,
                "items": self.list_of(self.item),
                "customerInfo": "obj",
                "shippingInfo": self.shipping_info,
                "successUrl": "str",
                "cancelUrl": "str",
            },
            {"captureMethod": self.one_of(CAPTURE_METHODS), "reference": "str", "metadata": self.metadata},
        )

    def token_order_request(self, where, body):
        self.jtd(where, "token-order", body)
        self.fields(
            where,
            body,
            {
                "token": "str",
                "amount": self.amount(1),
                "currency": self.currency,
                "items": self.list_of(self.item),
                "customerInfo": "obj",
                "shippingInfo": self.shipping_info,
            },
            {"captureMethod": self.one_of(CAPTURE_METHODS), "reference": "str", "metadata": self.metadata},
        )

    def payment_request(self, where, body):
        # Seed 000: amount, currency, order required.
        self.fields(
            where,
            body,
            {"order": self.id_of("order"), "amount": self.amount(1), "currency": self.currency},
            {
                "cancelRemainder": self.one_of({"automatic", "manual"}),
                "reference": "str",
                "description": "str",
                "lineItems": "list",
                "metadata": self.metadata,
            },
            closed=True,
        )

    def refund_request(self, where, body):
        # Seed 002: amount, currency, payment, reason required.
        self.fields(
            where,
            body,
            {
                "payment": self.id_of("payment"),
                "amount": self.amount(1),
                "currency": self.currency,
                "reason": self.one_of(REFUND_REASONS),
            },
            {"reference": "str", "description": "str", "lineItems": "list", "metadata": self.metadata},
            closed=True,
        )

    def query(self, where, query, allowed):
        for key, value in parse_qsl(query or "", keep_blank_values=True):
            if key not in allowed:
                self.bad(f"{where}?{key}", "is not a documented parameter")
            elif key == "maxResults" and not (value.isdigit() and int(value) >= 1):
                self.bad(f"{where}?maxResults", f"must be a positive integer, got {value!r}")
            elif key == "expand" and value not in ("all", "no"):
                self.bad(f"{where}?expand", f"must be all or no, got {value!r}")

    # -- routing ----------------------------------------------------------

    ROUTES = [
        # method, path pattern, request check, answer check, query parameters
        ("POST", r"/checkout-sessions", "checkout_request", "checkout_session", ()),
        ("GET", r"/checkout-sessions", None, "checkout_sessions", ("maxResults", "pageToken", "expand")),
        ("GET", r"/checkout-sessions/[^/]+", None, "checkout_session", ("expand",)),
        ("POST", r"/orders", "token_order_request", "order", ()),
        ("GET", r"/orders", None, "orders", ("maxResults", "pageToken", "expand")),
        ("GET", r"/orders/[^/]+", None, "order", ("expand",)),
        ("PUT", r"/orders/[^/]+/cancellation", None, "order", ()),
        ("POST", r"/payments", "payment_request", "payment", ()),
        ("GET", r"/payments", None, "payments", ("maxResults", "pageToken", "expand")),
        ("GET", r"/payments/[^/]+", None, "payment", ("expand",)),
        ("POST", r"/refunds", "refund_request", "refund", ()),
        ("GET", r"/refunds", None, "refunds", ("maxResults", "pageToken", "expand")),
        ("GET", r"/refunds/[^/]+", None, "refund", ("expand",)),
    ]

    def answer(self, name):
        lists = {
            "checkout_sessions": self.checkout_session,
            "orders": self.order,
            "payments": self.payment,
            "refunds": self.refund,
        }
        if name in lists:
            return self.collection(lists[name])
        return getattr(self, name)

    def exchange(self, n, e):
        path = e.get("path", "")
        if not path.startswith(PREFIX + "/"):
            return
        method, rest, status = e.get("method"), path[len(PREFIX):], e.get("status")
        where = f"#{n} {method} {path}"
        for route_method, pattern, request, answer, params in self.ROUTES:
            if method == route_method and re.fullmatch(pattern, rest):
                break
        else:
            self.bad(where, "is not a documented Smartpay endpoint")
            return
        key = f"{method} {pattern}"
        self.counts[key] = self.counts.get(key, 0) + 1
        self.query(where, e.get("query"), params)
        body = e.get("request")
        if request:
            if body is None:
                self.bad(f"{where} request", "has no JSON body")
            else:
                getattr(self, request)(f"{where} request", body)
        elif body not in (None, {}):
            self.bad(f"{where} request", "must have no body")
        response = e.get("response")
        if not isinstance(status, int):
            self.bad(where, "has no status")
        elif 200 <= status < 300:
            if status == 204 and response is None:
                return
            self.answer(answer)(f"{where} answer", response)
        else:
            self.error(f"{where} error", response, status)

    def webhook(self, n, event):
        where = f"#{n} webhook"
        self.counts["webhook"] = self.counts.get("webhook", 0) + 1
        if not self.fields(
            where,
            event,
            {
                "id": self.id_of("evt"),
                "object": self.one_of({"event"}),
                "createdAt": "int",
                "test": "bool",
                "eventData": "obj",
            },
            closed=True,
        ):
            return
        data = event.get("eventData")
        if not isinstance(data, dict):
            return
        self.fields(
            f"{where}.eventData",
            data,
            {"type": self.one_of(EVENT_TYPES), "version": "str", "data": "obj"},
            closed=True,
        )
        kind, obj = data.get("type"), data.get("data")
        if isinstance(kind, str) and isinstance(obj, dict):
            check = {"payment": self.payment, "refund": self.refund}.get(kind.split(".")[0], self.order)
            check(f"{where}.eventData.data", obj)


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    checker = Checker()
    with open(argv[1], encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            if "webhook" in record:
                checker.webhook(n, record["webhook"])
            else:
                checker.exchange(n, record)
    for v in checker.violations:
        print(v)
    for key in sorted(checker.counts):
        print(f"checked {checker.counts[key]:4} × {key}")
    if checker.violations:
        print(f"{len(checker.violations)} contract violation(s)")
        return 1
    print("Smartpay contract: no violations")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

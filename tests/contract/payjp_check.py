"""Checks recorded PAY.JP v2 exchanges against the official SDK (payjpv2).

Usage: payjp_check.py EXCHANGES.jsonl [--webhooks WEBHOOKS.jsonl] [--answers-only]

EXCHANGES.jsonl holds one exchange a line, as kessai's simulators record
them (`method`, `path` with its `/payjp/v2/...` prefix, `query`, `status`,
parsed `request` and `response` bodies); lines for other providers are
skipped. WEBHOOKS.jsonl holds one webhook body (an event) a line.
--answers-only skips the checks of requests (for a session that sent bad
requests on purpose, to see the answers).

Each request kessai sent must validate against the SDK's request model for
its endpoint, strictly (no field the model lacks), and obey the rules the
SDK states in field descriptions (customer_id with payment_method_id,
return_url only with confirm, amounts within the flow's). Each answer must
have a status the SDK lists for the endpoint and validate strictly against
its response model (every required field present, no unknown field, enums
and types as declared) or, for errors, against ErrorResponse. Each webhook
must be an EventResponse whose `data` is the object its type names.

Prints every violation and exits 1 on any (2 when nothing was checked).
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import sys
import typing
from typing import Any, Callable, Optional

from pydantic import BaseModel

import payjpv2
from payjpv2.api.payment_flows_api import PaymentFlowsApi
from payjpv2.api.payment_refunds_api import PaymentRefundsApi
from payjpv2.models import (
    ErrorResponse,
    EventResponse,
    PaymentFlowCancelRequest,
    PaymentFlowCaptureRequest,
    PaymentFlowConfirmRequest,
    PaymentFlowCreateRequest,
    PaymentFlowListResponse,
    PaymentFlowResponse,
    PaymentRefundCreateRequest,
    PaymentRefundListResponse,
    PaymentRefundResponse,
)

PREFIX = "/payjp"
FLOW = r"/v2/payment_flows/(?P<id>[^/]+)"
LIST_QUERY = {"limit", "starting_after", "ending_before"}


class Endpoint(typing.NamedTuple):
    method: str
    pattern: str
    sdk: Callable[..., Any]  # the SDK method, for its status list
    request: Optional[type]
    response: type
    query: frozenset = frozenset()


ENDPOINTS = [
    Endpoint("POST", r"/v2/payment_flows", PaymentFlowsApi.create_payment_flow,
             PaymentFlowCreateRequest, PaymentFlowResponse),
    Endpoint("GET", r"/v2/payment_flows", PaymentFlowsApi.get_all_payment_flows,
             None, PaymentFlowListResponse, frozenset(LIST_QUERY | {"customer_id"})),
    Endpoint("GET", FLOW, PaymentFlowsApi.get_payment_flow, None, PaymentFlowResponse),
    Endpoint("POST", FLOW + "/confirm", PaymentFlowsApi.confirm_payment_flow,
             PaymentFlowConfirmRequest, PaymentFlowResponse),
    Endpoint("POST", FLOW + "/capture", PaymentFlowsApi.capture_payment_flow,
             PaymentFlowCaptureRequest, PaymentFlowResponse),
    Endpoint("POST", FLOW + "/cancel", PaymentFlowsApi.cancel_payment_flow,
             PaymentFlowCancelRequest, PaymentFlowResponse),
    Endpoint("GET", FLOW + "/refunds", PaymentFlowsApi.get_payment_flow_refunds,
             None, PaymentRefundListResponse, frozenset(LIST_QUERY)),
    Endpoint("POST", r"/v2/payment_refunds", PaymentRefundsApi.create_payment_refund,
             PaymentRefundCreateRequest, PaymentRefundResponse),
    Endpoint("GET", r"/v2/payment_refunds", PaymentRefundsApi.get_all_payment_refunds,
             None, PaymentRefundListResponse, frozenset(LIST_QUERY)),
    Endpoint("GET", r"/v2/payment_refunds/(?P<id>[^/]+)", PaymentRefundsApi.get_payment_refund,
             None, PaymentRefundResponse),
]

# What a webhook's `data` is, by the event type's prefix.
EVENT_DATA = {"payment_flow.": PaymentFlowResponse, "refund.": PaymentRefundResponse,
              "payment_refund.": PaymentRefundResponse}


def statuses(sdk_method: Callable[..., Any]) -> dict[int, str]:
    """The SDK method's `_response_types_map`: status -> model name."""
    source = inspect.getsource(sdk_method)
    block = re.search(r"_response_types_map[^{]*\{(.*?)\}", source, re.S)
    if block is None:
        raise SystemExit(f"no _response_types_map in {sdk_method.__qualname__}")
    return {int(s): m for s, m in re.findall(r"'(\d{3})':\s*\"(\w+)\"", block.group(1))}


def model_class(annotation: Any) -> list[tuple[str, type]]:
    """The SDK models inside a field's annotation, with how they nest
    ('one', 'list' or 'dict')."""
    found: list[tuple[str, type]] = []
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        found.append(("one", annotation))
    elif origin in (list, typing.List):
        found += [("list", cls) for how, cls in model_class(args[0]) if how == "one"]
    elif origin in (dict, typing.Dict):
        found += [("dict", cls) for how, cls in model_class(args[1]) if how == "one"]
    else:
        for arg in args:  # Optional[...], Annotated[...], Union[...]
            found += model_class(arg)
    return found


def enums(annotation: Any) -> list[tuple[str, type]]:
    """The enums inside a field's annotation, with how they nest."""
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return [("one", annotation)]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, typing.List):
        return [("list", cls) for how, cls in enums(args[0]) if how == "one"]
    if origin in (dict, typing.Dict):
        return []
    return [found for arg in args for found in enums(arg)]


def enum_problems(annotation: Any, value: Any, where: str) -> list[str]:
    """Values outside an enum's declared members: the SDK's enums keep
    unknown values (`_missing_`) so its parse alone would let them through."""
    problems = []
    for how, cls in enums(annotation):
        allowed = {member.value for member in cls.__members__.values()}
        values = value if how == "list" and isinstance(value, list) else [value]
        for item in values:
            if item not in allowed:
                problems.append(f"{where}: {item!r} is not a {cls.__name__} "
                                f"({', '.join(sorted(map(str, allowed)))})")
    return problems


def is_wrapper(cls: type) -> bool:
    """oneOf/anyOf wrappers (MetadataValue) validate values, not objects."""
    return "actual_instance" in getattr(cls, "model_fields", {})


def strict(cls: type, data: Any, where: str) -> list[str]:
    """Violations of `data` against model `cls`, strictly."""
    if not isinstance(data, dict):
        return [f"{where}: expected a {cls.__name__} object, got {json.dumps(data)[:80]}"]
    problems = []
    fields = cls.model_fields
    for key in data:
        if key not in fields:
            problems.append(f"{where}.{key}: not a field of {cls.__name__}")
    for name, info in fields.items():
        if info.is_required() and name not in data:
            problems.append(f"{where}.{name}: required by {cls.__name__}, missing")
    try:
        cls.from_dict(data)
    except Exception as error:  # pydantic's ValidationError, or worse
        text = " ".join(str(error).split())
        problems.append(f"{where}: {cls.__name__} refuses it: {text[:400]}")
    for name, info in fields.items():
        value = data.get(name)
        if value is None:
            continue
        problems += enum_problems(info.annotation, value, f"{where}.{name}")
        for how, inner in model_class(info.annotation):
            if is_wrapper(inner):
                continue
            if how == "one":
                problems += strict(inner, value, f"{where}.{name}")
            elif how == "list" and isinstance(value, list):
                for i, item in enumerate(value):
                    problems += strict(inner, item, f"{where}.{name}[{i}]")
            elif how == "dict" and isinstance(value, dict):
                for key, item in value.items():
                    problems += strict(inner, item, f"{where}.{name}.{key}")
    return problems


class Flows:
    """What the answers so far said about each payment flow."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict] = {}

    def learn(self, body: Any) -> None:
        if isinstance(body, dict) and body.get("object") == "payment_flow" and "id" in body:
            self.by_id[body["id"]] = body
        if isinstance(body, dict) and isinstance(body.get("data"), list):
            for item in body["data"]:
                self.learn(item)


def rules(endpoint: Endpoint, match: re.Match, body: dict, flows: Flows) -> list[str]:
    """The rules the SDK states in words, beyond the model's types."""
    problems = []
    flow = flows.by_id.get(match.groupdict().get("id") or body.get("payment_flow_id") or "")
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and len(metadata) > 20:
        problems.append("request.metadata: at most 20 keys")
    if endpoint.request is PaymentFlowCreateRequest:
        if body.get("payment_method_id") is not None and body.get("customer_id") is None:
            problems.append("request: payment_method_id without customer_id "
                            "(customer_id の指定が必須です)")
        if body.get("return_url") is not None and body.get("confirm") is not True:
            problems.append("request: return_url without confirm=true "
                            "(confirm=true の場合のみ指定できます)")
    if endpoint.request is PaymentFlowConfirmRequest and flow is not None:
        if body.get("payment_method_id") is not None and flow.get("customer_id") is None:
            problems.append("request: payment_method_id for a flow without a customer")
    if endpoint.request is PaymentFlowCaptureRequest and flow is not None:
        amount = body.get("amount_to_capture")
        if isinstance(amount, int) and amount > (flow.get("amount_capturable") or 0):
            problems.append(f"request.amount_to_capture: {amount} is more than the flow's "
                            f"amount_capturable {flow.get('amount_capturable')}")
    if endpoint.request is PaymentRefundCreateRequest and flow is not None:
        amount = body.get("amount")
        if isinstance(amount, int) and amount > (flow.get("amount_received") or 0):
            problems.append(f"request.amount: {amount} is more than the flow's "
                            f"amount_received {flow.get('amount_received')}")
    return problems


def query_problems(endpoint: Endpoint, query: Optional[str]) -> list[str]:
    from urllib.parse import parse_qsl

    problems = []
    for name, value in parse_qsl(query or "", keep_blank_values=True):
        if name not in endpoint.query:
            problems.append(f"query.{name}: not a parameter of this endpoint")
        elif name == "limit" and not (value.isdigit() and 1 <= int(value) <= 100):
            problems.append(f"query.limit: {value!r} is not an integer from 1 to 100")
    return problems


def check_exchange(exchange: dict, flows: Flows, requests: bool = True) -> list[str]:
    path = exchange.get("path", "")[len(PREFIX):]
    method = exchange.get("method")
    status = exchange.get("status")
    for endpoint in ENDPOINTS:
        match = re.fullmatch(endpoint.pattern, path)
        if endpoint.method == method and match:
            break
    else:
        return [f"no SDK endpoint is {method} {path}"]
    problems = query_problems(endpoint, exchange.get("query")) if requests else []
    request = exchange.get("request")
    if not requests:
        pass
    elif endpoint.request is not None:
        body = {} if request is None else request
        problems += strict(endpoint.request, body, "request")
        if isinstance(body, dict):
            problems += rules(endpoint, match, body, flows)
    elif request is not None:
        problems.append("request: a body on a request that takes none")
    listed = statuses(endpoint.sdk)
    response = exchange.get("response")
    if status not in listed and not (200 <= status < 300):
        problems.append(f"status {status}: not an answer the SDK lists ({sorted(listed)})")
    if 200 <= status < 300:
        if status != 200:
            problems.append(f"status {status}: the SDK lists 200 for success")
        problems += strict(endpoint.response, response, "response")
        flows.learn(response)
    else:
        problems += strict(ErrorResponse, response, "response")
        if isinstance(response, dict) and response.get("status") != status:
            problems.append(f"response.status {response.get('status')} is not the HTTP "
                            f"status {status}")
        if isinstance(response, dict) and not str(response.get("type", "")).startswith("https://"):
            problems.append("response.type: not a URI")
    return problems


def check_webhook(event: Any) -> list[str]:
    problems = strict(EventResponse, event, "event")
    if not isinstance(event, dict):
        return problems
    kind = str(event.get("type", ""))
    for prefix, model in EVENT_DATA.items():
        if kind.startswith(prefix):
            return problems + strict(model, event.get("data"), f"event[{kind}].data")
    return problems + [f"event type {kind!r}: no SDK object for its data"]


def read_lines(path: str) -> list[Any]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    exchanges = read_lines(argv[0])
    webhooks = read_lines(argv[argv.index("--webhooks") + 1]) if "--webhooks" in argv else []
    flows = Flows()
    checked = 0
    violations = 0
    for number, exchange in enumerate(exchanges, 1):
        if not str(exchange.get("path", "")).startswith(PREFIX + "/v2/"):
            continue
        checked += 1
        for problem in check_exchange(exchange, flows, "--answers-only" not in argv):
            violations += 1
            print(f"exchange {number}: {exchange.get('method')} {exchange.get('path')} "
                  f"-> {exchange.get('status')}: {problem}")
    for number, event in enumerate(webhooks, 1):
        checked += 1
        for problem in check_webhook(event):
            violations += 1
            print(f"webhook {number}: {problem}")
    print(f"payjpv2 {payjpv2.__version__}: checked {checked} PAY.JP exchanges and webhooks, "
          f"{violations} violations")
    if checked == 0:
        return 2
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Drives kessai's PAY.JP simulator with the official SDK (payjpv2).

Usage: payjp_sdk_drive.py HOST SECRET_KEY CUSTOMER_ID

HOST is the simulator's root as the SDK wants it (its paths start with
`/v2/`), e.g. http://127.0.0.1:1234/payjp. Runs create -> confirm -> capture
part -> capture the rest -> refund -> retrieve -> list, a cancel, and the
error cases, asserting that the SDK parses every answer into its models
(errors into ErrorResponse) and that the values are the documented ones.
Exits non-zero on the first failed expectation.
"""

from __future__ import annotations

import sys
import uuid

import payjpv2
from payjpv2.api.payment_flows_api import PaymentFlowsApi
from payjpv2.api.payment_refunds_api import PaymentRefundsApi
from payjpv2.exceptions import ApiException
from payjpv2.models import (
    ErrorResponse,
    MetadataValue,
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


def expect(what: str, got, want) -> None:
    if got != want:
        raise SystemExit(f"{what}: got {got!r}, want {want!r}")
    print(f"ok  {what}: {got!r}")


def key() -> str:
    return f"sdk-{uuid.uuid4().hex}"


def refused(what: str, call, status: int, type_slug: str) -> ErrorResponse:
    """`call` must fail with `status` and an ErrorResponse naming `type_slug`."""
    try:
        call()
    except ApiException as error:
        expect(f"{what}: status", error.status, status)
        if not isinstance(error.data, ErrorResponse):
            raise SystemExit(f"{what}: the SDK did not parse the error: {error.body}")
        expect(f"{what}: type", error.data.type.rsplit("/", 1)[-1], type_slug)
        expect(f"{what}: body status", error.data.status, status)
        return error.data
    raise SystemExit(f"{what}: succeeded, want HTTP {status}")


def main(host: str, secret_key: str, customer: str) -> None:
    config = payjpv2.Configuration(host=host, access_token=secret_key)
    with payjpv2.ApiClient(config) as client:
        flows = PaymentFlowsApi(client)
        refunds = PaymentRefundsApi(client)

        created = flows.create_payment_flow(
            PaymentFlowCreateRequest(
                amount=10000, currency="jpy", capture_method="manual",
                customer_id=customer, payment_method_id="pm_test_approve",
                metadata={"order_id": MetadataValue("sdk-1")},
            ),
            idempotency_key=key(),
        )
        assert isinstance(created, PaymentFlowResponse)
        expect("create: status", created.status.value, "requires_confirmation")
        expect("create: redirect_options", created.redirect_options.include_client_secret, True)

        confirmed = flows.confirm_payment_flow(created.id, PaymentFlowConfirmRequest(),
                                               idempotency_key=key())
        expect("confirm: status", confirmed.status.value, "requires_capture")
        expect("confirm: amount_capturable", confirmed.amount_capturable, 10000)

        part = flows.capture_payment_flow(
            created.id, PaymentFlowCaptureRequest(amount_to_capture=3000), idempotency_key=key())
        expect("capture part: status", part.status.value, "requires_capture")
        expect("capture part: received/capturable",
               (part.amount_received, part.amount_capturable), (3000, 7000))

        refused("a second partial capture",
                lambda: flows.capture_payment_flow(
                    created.id, PaymentFlowCaptureRequest(amount_to_capture=1000),
                    idempotency_key=key()),
                400, "invalid-amount-to-capture")

        rest = flows.capture_payment_flow(created.id, PaymentFlowCaptureRequest(),
                                          idempotency_key=key())
        expect("capture rest: status", rest.status.value, "succeeded")
        expect("capture rest: amount_received", rest.amount_received, 10000)

        refund_key = key()
        refund = refunds.create_payment_refund(
            PaymentRefundCreateRequest(payment_flow_id=created.id, amount=2500,
                                       reason="requested_by_customer"),
            idempotency_key=refund_key)
        assert isinstance(refund, PaymentRefundResponse)
        expect("refund: status", refund.status.value, "succeeded")
        again = refunds.create_payment_refund(
            PaymentRefundCreateRequest(payment_flow_id=created.id, amount=2500,
                                       reason="requested_by_customer"),
            idempotency_key=refund_key)
        expect("refund replay: same refund", again.id, refund.id)
        refused("the same key with other parameters",
                lambda: refunds.create_payment_refund(
                    PaymentRefundCreateRequest(payment_flow_id=created.id, amount=100),
                    idempotency_key=refund_key),
                400, "idempotency-conflict")
        refused("a refund over the amount received",
                lambda: refunds.create_payment_refund(
                    PaymentRefundCreateRequest(payment_flow_id=created.id, amount=9000),
                    idempotency_key=key()),
                400, "refund-exceeds-payment")

        fetched = flows.get_payment_flow(created.id)
        expect("retrieve flow: status", fetched.status.value, "succeeded")
        expect("retrieve refund", refunds.get_payment_refund(refund.id).amount, 2500)

        # A second flow, so the lists have pages.
        other = flows.create_payment_flow(
            PaymentFlowCreateRequest(amount=5000, currency="jpy", capture_method="manual",
                                     customer_id=customer, payment_method_id="pm_test_paypay",
                                     confirm=True),
            idempotency_key=key())
        expect("paypay: status", other.status.value, "requires_capture")
        expect("paypay: types", [t.value for t in other.payment_method_types], ["paypay"])
        canceled = flows.cancel_payment_flow(
            other.id, PaymentFlowCancelRequest(cancellation_reason="requested_by_customer"),
            idempotency_key=key())
        expect("cancel: status", canceled.status.value, "canceled")
        expect("cancel: reason", canceled.cancellation_reason.value, "requested_by_customer")
        refused("capture after cancel",
                lambda: flows.capture_payment_flow(other.id, PaymentFlowCaptureRequest(),
                                                   idempotency_key=key()),
                400, "invalid-status")

        page = flows.get_all_payment_flows(limit=1)
        assert isinstance(page, PaymentFlowListResponse)
        expect("list flows: newest first", [f.id for f in page.data], [other.id])
        expect("list flows: has_more", page.has_more, True)
        page = flows.get_all_payment_flows(limit=1, starting_after=other.id)
        expect("list flows: next page", [f.id for f in page.data], [created.id])
        expect("list flows: last page", page.has_more, False)
        mine = flows.get_all_payment_flows(customer_id="cus_nobody")
        expect("list flows: by customer", mine.data, [])
        listed = refunds.get_all_payment_refunds(limit=10)
        assert isinstance(listed, PaymentRefundListResponse)
        expect("list refunds", [r.id for r in listed.data], [refund.id])
        of_flow = flows.get_payment_flow_refunds(created.id)
        expect("list the flow's refunds", [r.id for r in of_flow.data], [refund.id])
        refused("a limit over 100 (the SDK would not send it)",
                lambda: raw_get(client, f"{host}/v2/payment_refunds?limit=101",
                                {"Authorization": f"Bearer {secret_key}"},
                                {"200": "PaymentRefundListResponse", "422": "ErrorResponse"}),
                422, "validation-error")

        declined = refused(
            "a declined card",
            lambda: flows.create_payment_flow(
                PaymentFlowCreateRequest(amount=3000, currency="jpy", capture_method="manual",
                                         customer_id=customer,
                                         payment_method_id="pm_test_decline", confirm=True),
                idempotency_key=key()),
            402, "payment-failed")
        expect("decline: no code field", "code" in declined.model_fields_set, False)
        problem = refused(
            "a payment method without its customer",
            lambda: flows.create_payment_flow(
                PaymentFlowCreateRequest(amount=3000, currency="jpy",
                                         payment_method_id="pm_test_approve", confirm=True),
                idempotency_key=key()),
            422, "validation-error")
        expect("missing customer: field", problem.errors[0]["field"], "customer_id")
        refused("a payment method the customer does not own",
                lambda: flows.create_payment_flow(
                    PaymentFlowCreateRequest(amount=3000, currency="jpy", customer_id=customer,
                                             payment_method_id="pm_test_unattached",
                                             confirm=True),
                    idempotency_key=key()),
                400, "invalid-payment-method")
        refused("an unknown flow", lambda: flows.get_payment_flow("pfw_doesnotexist"),
                404, "not-found")

        waiting = flows.create_payment_flow(
            PaymentFlowCreateRequest(amount=4000, currency="jpy", capture_method="manual"),
            idempotency_key=key())
        expect("no method: status", waiting.status.value, "requires_payment_method")
        expect("no method: client_secret", waiting.client_secret.startswith(waiting.id), True)
    print("the SDK parsed every answer")


def raw_get(client, url: str, headers: dict, types: dict):
    """A GET the SDK's own validation would not send, answered as its
    methods answer (models, or its exception with an ErrorResponse)."""
    response = client.call_api("GET", url, headers)
    response.read()
    return client.response_deserialize(response_data=response, response_types_map=types)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

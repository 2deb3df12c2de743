"""A kessai client in Python: one PAY.JP order through Authorize -> Capture ->
Refund -> GetOrder against a sandbox kessai, then a capture kessai refuses,
read by its google.rpc.ErrorInfo reason. See README.md to run it."""

import os
import secrets
import sys

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

# The stubs grpc_tools.protoc generated into gen/ (see README.md).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))
from kessai.v1 import payment_pb2 as pb  # noqa: E402
from kessai.v1 import payment_pb2_grpc as pb_grpc  # noqa: E402


def error_info(err):
    """The google.rpc.ErrorInfo of a failed call, or None.

    kessai sends a google.rpc.Status in the `grpc-status-details-bin`
    trailer; grpc_status decodes it."""
    status = rpc_status.from_call(err)
    for detail in status.details if status else []:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
    # An idempotency key names one request: a retry sends the same key, a new
    # request a new one. Fresh keys each run, so the program can run again.
    run = secrets.token_hex(6)
    status = pb.OrderStatus.Name
    with grpc.insecure_channel(target) as channel:
        kessai = pb_grpc.PaymentServiceStub(channel)

        order = kessai.Authorize(
            pb.AuthorizeRequest(
                idempotency_key=f"py-{run}-authorize",
                amount=10000,
                currency="JPY",
                merchant_reference=f"py-{run}",
                payjp=pb.PayjpDetails(
                    customer_id="cus_test_kessai", payment_method_id="pm_test_approve"
                ),
            ),
            timeout=30,
        ).order
        print(f"authorized {order.id}: {status(order.status)}, {order.amount_authorized} {order.currency}")

        captured = kessai.Capture(
            pb.CaptureRequest(idempotency_key=f"py-{run}-capture-1", order_id=order.id, amount=3000),
            timeout=30,
        ).order
        print(f"captured 3000: {status(captured.status)}")

        refunded = kessai.Refund(
            pb.RefundRequest(
                idempotency_key=f"py-{run}-refund-1",
                order_id=order.id,
                amount=1000,
                reason=pb.REFUND_REASON_REQUESTED_BY_CUSTOMER,
            ),
            timeout=30,
        ).order
        print(f"refunded 1000: {status(refunded.status)}")

        # refresh asks the provider where the order stands before answering.
        order = kessai.GetOrder(pb.GetOrderRequest(order_id=order.id, refresh=True), timeout=30).order
        print(
            f"order {order.id}: {status(order.status)}, authorized {order.amount_authorized}, "
            f"captured {order.amount_captured}, refunded {order.amount_refunded}"
        )

        # One yen more than is still capturable: refused before any provider
        # call. Branch on ErrorInfo's reason, never on the message.
        too_much = order.amount_capturable + 1
        try:
            kessai.Capture(
                pb.CaptureRequest(idempotency_key=f"py-{run}-capture-2", order_id=order.id, amount=too_much),
                timeout=30,
            )
        except grpc.RpcError as err:
            info = error_info(err)
            print(f"refused capture of {too_much}: {err.code().name} {info.reason if info else ''}")
        else:
            sys.exit("a capture beyond the capturable amount succeeded")


if __name__ == "__main__":
    main()

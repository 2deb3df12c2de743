#!/usr/bin/env python3
"""A kessai client in Python, from stubs generated from the .proto.

Drives one PAY.JP order through Authorize -> Capture -> Refund -> GetOrder,
then a capture kessai refuses, and reads the machine-readable reason from the
error's google.rpc.ErrorInfo detail. Exits non-zero on the first surprise.

    python3 -m pip install grpcio==1.85.1 grpcio-tools==1.85.1 \
        grpcio-status==1.85.1 googleapis-common-protos==1.76.0
    python3 tests/python/client.py 127.0.0.1:50051        # against `cargo run`

The integration test (tests/it/polyglot.rs) generates the stubs itself and
passes their directory with --stubs; without it, this script generates them
into a temporary directory with grpc_tools.protoc, as a client team would:

    python3 -m grpc_tools.protoc -I proto --python_out=OUT --grpc_python_out=OUT \
        kessai/v1/payment.proto
"""

import argparse
import os
import subprocess
import sys
import tempfile
import uuid

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def generate_stubs(out_dir):
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc",
            "-I", os.path.join(REPO, "proto"),
            "--python_out", out_dir,
            "--grpc_python_out", out_dir,
            "kessai/v1/payment.proto",
        ],
        check=True,
    )


def check(what, actual, expected):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")
    print(f"ok  {what} = {actual!r}")


def error_info(err):
    """The google.rpc.ErrorInfo detail of a failed call (None if it has none).

    kessai sends a google.rpc.Status in the `grpc-status-details-bin`
    trailer; grpc_status decodes it and checks it against the call's code."""
    status = rpc_status.from_call(err)
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="kessai's gRPC address, e.g. 127.0.0.1:50051")
    parser.add_argument("--stubs", help="directory holding the generated kessai/v1/*_pb2*.py")
    args = parser.parse_args()

    stubs = args.stubs or tempfile.mkdtemp(prefix="kessai-stubs-")
    if not args.stubs:
        generate_stubs(stubs)
    sys.path.insert(0, stubs)
    from kessai.v1 import payment_pb2 as pb
    from kessai.v1 import payment_pb2_grpc as pb_grpc

    # Idempotency keys are per request: fresh ones, so the script can be run
    # again against the same server.
    run = uuid.uuid4().hex[:12]
    with grpc.insecure_channel(args.target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        kessai = pb_grpc.PaymentServiceStub(channel)

        order = kessai.Authorize(
            pb.AuthorizeRequest(
                idempotency_key=f"py-{run}-authorize",
                amount=10000,
                currency="JPY",
                merchant_reference=f"py-{run}",
                payjp=pb.PayjpDetails(
                    payment_method_id="pm_test_approve", customer_id="cus_test_kessai"
                ),
            ),
            timeout=10,
        ).order
        print(f"authorized {order.id}")
        check("authorize: status", pb.OrderStatus.Name(order.status), "ORDER_STATUS_AUTHORIZED")
        check("authorize: provider", pb.Provider.Name(order.provider), "PROVIDER_PAYJP")
        check("authorize: amount_authorized", order.amount_authorized, 10000)
        check("authorize: amount_capturable", order.amount_capturable, 10000)
        check("authorize: livemode", order.livemode, False)

        order = kessai.Capture(
            pb.CaptureRequest(
                idempotency_key=f"py-{run}-capture-1", order_id=order.id, amount=3000
            ),
            timeout=10,
        ).order
        check("capture: status", pb.OrderStatus.Name(order.status), "ORDER_STATUS_PARTIALLY_CAPTURED")
        check("capture: amount_captured", order.amount_captured, 3000)
        check("capture: amount_capturable", order.amount_capturable, 7000)
        check(
            "capture: the capture",
            [(c.amount, pb.CaptureStatus.Name(c.status)) for c in order.captures],
            [(3000, "CAPTURE_STATUS_SUCCEEDED")],
        )

        order = kessai.Refund(
            pb.RefundRequest(
                idempotency_key=f"py-{run}-refund-1",
                order_id=order.id,
                amount=1000,
                reason=pb.REFUND_REASON_REQUESTED_BY_CUSTOMER,
            ),
            timeout=10,
        ).order
        check("refund: amount_refunded", order.amount_refunded, 1000)
        check(
            "refund: the refund",
            [(r.amount, pb.RefundStatus.Name(r.status)) for r in order.refunds],
            [(1000, "REFUND_STATUS_SUCCEEDED")],
        )

        order = kessai.GetOrder(pb.GetOrderRequest(order_id=order.id, refresh=True), timeout=10).order
        check("get: status", pb.OrderStatus.Name(order.status), "ORDER_STATUS_PARTIALLY_CAPTURED")
        check(
            "get: authorized / captured / refunded / capturable",
            (order.amount_authorized, order.amount_captured, order.amount_refunded, order.amount_capturable),
            (10000, 3000, 1000, 7000),
        )
        check("get: merchant_reference", order.merchant_reference, f"py-{run}")

        # 7,001 is more than the 7,000 still capturable: refused before any
        # provider call, with a reason a program can branch on.
        try:
            kessai.Capture(
                pb.CaptureRequest(
                    idempotency_key=f"py-{run}-capture-2", order_id=order.id, amount=7001
                ),
                timeout=10,
            )
        except grpc.RpcError as err:
            check("refused capture: code", err.code(), grpc.StatusCode.FAILED_PRECONDITION)
            print(f"    message: {err.details()}")
            info = error_info(err)
            if info is None:
                raise AssertionError(f"refused capture: no google.rpc.ErrorInfo detail in {err!r}")
            check("refused capture: ErrorInfo.reason", info.reason, "AMOUNT_EXCEEDS_CAPTURABLE")
            check("refused capture: ErrorInfo.domain", info.domain, "kessai.v1")
        else:
            raise AssertionError("a capture of 7001 with 7000 capturable succeeded")

        order = kessai.GetOrder(pb.GetOrderRequest(order_id=order.id), timeout=10).order
        check(
            "after the refusal: captured / capturable",
            (order.amount_captured, order.amount_capturable),
            (3000, 7000),
        )
    print("python client: all checks passed")


if __name__ == "__main__":
    main()

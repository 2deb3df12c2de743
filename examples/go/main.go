// A kessai client in Go: one PAY.JP order through Authorize → Capture →
// Refund → GetOrder against a sandbox kessai, then a capture kessai refuses,
// read by its google.rpc.ErrorInfo reason. See README.md to run it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	kessaiv1 "example.com/kessai/v1"
)

func main() {
	target := "127.0.0.1:50051"
	if len(os.Args) > 1 {
		target = os.Args[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Plaintext, as the sandbox serves; with TLS use grpc.WithTransportCredentials.
	conn, err := grpc.DialContext(ctx, target, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		log.Fatalf("connect to %s: %v", target, err)
	}
	defer conn.Close()
	kessai := kessaiv1.NewPaymentServiceClient(conn)

	// An idempotency key names one request: a retry sends the same key, a
	// new request a new one. Fresh keys each run, so the program can run again.
	run := randomID()

	authorized, err := kessai.Authorize(ctx, &kessaiv1.AuthorizeRequest{
		IdempotencyKey:    "go-" + run + "-authorize",
		Amount:            10000,
		Currency:          "JPY",
		MerchantReference: "go-" + run,
		ProviderDetails: &kessaiv1.AuthorizeRequest_Payjp{Payjp: &kessaiv1.PayjpDetails{
			CustomerId:      "cus_test_kessai",
			PaymentMethodId: "pm_test_approve",
		}},
	})
	if err != nil {
		log.Fatalf("Authorize: %v", err)
	}
	order := authorized.GetOrder()
	fmt.Printf("authorized %s: %s, %d %s\n", order.GetId(), order.GetStatus(), order.GetAmountAuthorized(), order.GetCurrency())

	captured, err := kessai.Capture(ctx, &kessaiv1.CaptureRequest{
		IdempotencyKey: "go-" + run + "-capture-1",
		OrderId:        order.GetId(),
		Amount:         proto.Int64(3000), // optional: without it, the whole rest
	})
	if err != nil {
		log.Fatalf("Capture: %v", err)
	}
	fmt.Printf("captured 3000: %s\n", captured.GetOrder().GetStatus())

	refunded, err := kessai.Refund(ctx, &kessaiv1.RefundRequest{
		IdempotencyKey: "go-" + run + "-refund-1",
		OrderId:        order.GetId(),
		Amount:         proto.Int64(1000),
		Reason:         kessaiv1.RefundReason_REFUND_REASON_REQUESTED_BY_CUSTOMER,
	})
	if err != nil {
		log.Fatalf("Refund: %v", err)
	}
	fmt.Printf("refunded 1000: %s\n", refunded.GetOrder().GetStatus())

	// refresh asks the provider where the order stands before answering.
	got, err := kessai.GetOrder(ctx, &kessaiv1.GetOrderRequest{OrderId: order.GetId(), Refresh: true})
	if err != nil {
		log.Fatalf("GetOrder: %v", err)
	}
	order = got.GetOrder()
	fmt.Printf("order %s: %s, authorized %d, captured %d, refunded %d\n", order.GetId(), order.GetStatus(),
		order.GetAmountAuthorized(), order.GetAmountCaptured(), order.GetAmountRefunded())

	// 7,001 is more than the 7,000 still capturable: refused before any
	// provider call. Branch on ErrorInfo's reason, never on the message.
	_, err = kessai.Capture(ctx, &kessaiv1.CaptureRequest{
		IdempotencyKey: "go-" + run + "-capture-2",
		OrderId:        order.GetId(),
		Amount:         proto.Int64(order.GetAmountCapturable() + 1),
	})
	if err == nil {
		log.Fatal("a capture beyond the capturable amount succeeded")
	}
	st := status.Convert(err)
	reason := ""
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			reason = info.GetReason()
		}
	}
	fmt.Printf("refused capture of %d: %s %s\n", order.GetAmountCapturable()+1, st.Code(), reason)
}

func randomID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		log.Fatal(err)
	}
	return hex.EncodeToString(b)
}

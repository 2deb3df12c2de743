// A kessai client on Node: one PAY.JP order through Authorize → Capture →
// Refund → GetOrder against a sandbox kessai, then a capture kessai refuses,
// read by its google.rpc.ErrorInfo reason. See README.md to run it.
"use strict";

const path = require("node:path");
const crypto = require("node:crypto");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

// The stubs are made at run time from the contract, nothing is generated.
const definition = protoLoader.loadSync("kessai/v1/payment.proto", {
  includeDirs: [path.join(__dirname, "..", "..", "proto")],
  keepCase: true, // field names as in the .proto: order_id, amount_captured
  longs: Number, // int64 amounts as numbers (yen fit easily)
  enums: String, // "ORDER_STATUS_AUTHORIZED"
  defaults: true,
  oneofs: true,
});
const { PaymentService } = grpc.loadPackageDefinition(definition).kessai.v1;

// grpc-js leaves an error's details encoded: enough of google.rpc to decode
// the google.rpc.Status in the grpc-status-details-bin trailer.
const rpc = protobuf.parse(
  `syntax = "proto3"; package google.rpc;
   message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
   message Any { string type_url = 1; bytes value = 2; } // google.protobuf.Any
   message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }`,
  { keepCase: true },
).root;

function errorInfo(err) {
  const [bin] = err.metadata ? err.metadata.get("grpc-status-details-bin") : [];
  if (!bin) return undefined;
  const status = rpc.lookupType("google.rpc.Status").decode(bin);
  const any = status.details.find((d) => d.type_url.endsWith("/google.rpc.ErrorInfo"));
  return any && rpc.lookupType("google.rpc.ErrorInfo").decode(any.value);
}

// The callback API, as promises.
function call(client, method, request) {
  const deadline = new Date(Date.now() + 30_000);
  return new Promise((resolve, reject) =>
    client[method](request, { deadline }, (err, reply) => (err ? reject(err) : resolve(reply))),
  );
}

async function main() {
  const target = process.argv[2] || "127.0.0.1:50051";
  const kessai = new PaymentService(target, grpc.credentials.createInsecure());
  // An idempotency key names one request: a retry sends the same key, a new
  // request a new one. Fresh keys each run, so the program can run again.
  const run = crypto.randomBytes(6).toString("hex");

  let { order } = await call(kessai, "Authorize", {
    idempotency_key: `node-${run}-authorize`,
    amount: 10000,
    currency: "JPY",
    merchant_reference: `node-${run}`,
    payjp: { customer_id: "cus_test_kessai", payment_method_id: "pm_test_approve" },
  });
  console.log(`authorized ${order.id}: ${order.status}, ${order.amount_authorized} ${order.currency}`);

  const captured = await call(kessai, "Capture", {
    idempotency_key: `node-${run}-capture-1`,
    order_id: order.id,
    amount: 3000,
  });
  console.log(`captured 3000: ${captured.order.status}`);

  const refunded = await call(kessai, "Refund", {
    idempotency_key: `node-${run}-refund-1`,
    order_id: order.id,
    amount: 1000,
    reason: "REFUND_REASON_REQUESTED_BY_CUSTOMER",
  });
  console.log(`refunded 1000: ${refunded.order.status}`);

  // refresh asks the provider where the order stands before answering.
  ({ order } = await call(kessai, "GetOrder", { order_id: order.id, refresh: true }));
  console.log(
    `order ${order.id}: ${order.status}, authorized ${order.amount_authorized}, ` +
      `captured ${order.amount_captured}, refunded ${order.amount_refunded}`,
  );

  // One yen more than is still capturable: refused before any provider call.
  // Branch on ErrorInfo's reason, never on the message.
  const tooMuch = order.amount_capturable + 1;
  try {
    await call(kessai, "Capture", {
      idempotency_key: `node-${run}-capture-2`,
      order_id: order.id,
      amount: tooMuch,
    });
    throw new Error("a capture beyond the capturable amount succeeded");
  } catch (err) {
    if (err.code === undefined) throw err;
    const info = errorInfo(err);
    console.log(`refused capture of ${tooMuch}: ${grpc.status[err.code]} ${info ? info.reason : ""}`);
  }
  kessai.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

//! A call whose caller went away before its request message arrived.
//!
//! tonic reads a request body that the caller reset (a deadline, a closed
//! client) as a stream that ended without a message, and answers
//! `INTERNAL: Missing request message.` (or `Unexpected EOF decoding
//! stream.` when part of the message came). Nobody is there to read that
//! answer, and it is not a fault of kessai's: it would only be logged as an
//! error. Such answers, which never carry kessai's own `ErrorInfo`, become
//! `CANCELLED`. So does an `UNKNOWN` without one: kessai never answers
//! `UNKNOWN` itself, and tonic does only when reading the request body
//! failed below gRPC (the caller's connection or stream broke).
//!
//! A request that arrived but does not decode (malformed protobuf, a string
//! that is not UTF-8) is the caller's mistake, not kessai's: tonic answers
//! `INTERNAL` with the decoder's text; it becomes `INVALID_ARGUMENT` with
//! kessai's ErrorInfo, through the one error map, quoting nothing sent.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Response};
use tower::{Layer, Service};

use crate::domain::{InvalidInput, Reason};
use crate::payments::PaymentError;

/// The decoder's message, as sent (percent-encoded) and as written.
const UNDECODABLE: [&[u8]; 2] = [
    b"failed%20to%20decode%20Protobuf%20message",
    b"failed to decode Protobuf message",
];

/// tonic's answer to a message over the size limit (`OUT_OF_RANGE`).
const TOO_LARGE: [&[u8]; 2] = [
    b"Error,%20decoded%20message%20length%20too%20large",
    b"Error, decoded message length too large",
];

/// tonic's messages, as sent (percent-encoded) and as written.
const UNREAD: [&[u8]; 4] = [
    b"Missing%20request%20message.",
    b"Unexpected%20EOF%20decoding%20stream.",
    b"Missing request message.",
    b"Unexpected EOF decoding stream.",
];

#[derive(Debug, Clone, Copy, Default)]
pub struct UnreadRequestLayer;

impl<S> Layer<S> for UnreadRequestLayer {
    type Service = UnreadRequest<S>;

    fn layer(&self, inner: S) -> Self::Service {
        UnreadRequest { inner }
    }
}

#[derive(Debug, Clone)]
pub struct UnreadRequest<S> {
    inner: S,
}

impl<S, Req, B> Service<Req> for UnreadRequest<S>
where
    S: Service<Req, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            rewrite(&mut response);
            Ok(response)
        })
    }
}

/// What tonic itself answered, read from the trailers-only headers; `None`
/// for any answer of kessai's (they carry its ErrorInfo) and every other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TonicAnswer {
    /// The request never (wholly) arrived.
    Unread,
    /// The request arrived but does not decode.
    Undecodable,
    /// The request message is over the configured size.
    TooLarge,
}

fn tonic_answer(headers: &http::HeaderMap) -> Option<TonicAnswer> {
    if headers.contains_key("grpc-status-details-bin") {
        return None;
    }
    let message = headers.get("grpc-message").map(HeaderValue::as_bytes);
    match headers.get("grpc-status").map(HeaderValue::as_bytes)? {
        b"2" => Some(TonicAnswer::Unread),
        b"13" if message.is_some_and(|m| UNREAD.contains(&m)) => Some(TonicAnswer::Unread),
        b"13" if message.is_some_and(|m| UNDECODABLE.iter().any(|p| m.starts_with(p))) => {
            Some(TonicAnswer::Undecodable)
        }
        b"11" if message.is_some_and(|m| TOO_LARGE.iter().any(|p| m.starts_with(p))) => {
            Some(TonicAnswer::TooLarge)
        }
        _ => None,
    }
}

fn rewrite<B>(response: &mut Response<B>) {
    let headers = response.headers_mut();
    match tonic_answer(headers) {
        None => {}
        Some(TonicAnswer::Unread) => {
            headers.insert("grpc-status", HeaderValue::from_static("1"));
            headers.insert(
                "grpc-message",
                HeaderValue::from_static("the caller cancelled before its request arrived"),
            );
        }
        Some(TonicAnswer::Undecodable) => {
            let status = tonic::Status::from(PaymentError::Invalid(InvalidInput::new(
                Reason::InvalidArgument,
                "request",
                "is not a valid protobuf message for this method (malformed, or a string that is not UTF-8)",
            )));
            replace(headers, &status, "3");
        }
        Some(TonicAnswer::TooLarge) => {
            let mut details = tonic_types::ErrorDetails::new();
            details.set_error_info(
                Reason::MessageTooLarge.as_str(),
                crate::grpc::status::DOMAIN,
                std::collections::HashMap::new(),
            );
            let status = <tonic::Status as tonic_types::StatusExt>::with_error_details(
                tonic::Code::ResourceExhausted,
                "the request message is larger than this server accepts (KESSAI_MAX_MESSAGE_BYTES)",
                details,
            );
            replace(headers, &status, "8");
        }
    }
}

/// Puts `status` in place of tonic's answer (`fallback`: the bare code, if
/// the status cannot be written as headers).
fn replace(headers: &mut http::HeaderMap, status: &tonic::Status, fallback: &'static str) {
    headers.remove("grpc-message");
    if status.add_header(headers).is_err() {
        headers.insert("grpc-status", HeaderValue::from_static(fallback));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: &'static str, message: &'static str) -> Response<()> {
        let mut response = Response::new(());
        let headers = response.headers_mut();
        headers.insert("grpc-status", HeaderValue::from_static(status));
        headers.insert("grpc-message", HeaderValue::from_static(message));
        response
    }

    #[test]
    fn a_request_that_never_arrived_is_cancelled_not_internal() {
        for message in [
            "Missing request message.",
            "Unexpected EOF decoding stream.",
        ] {
            let mut response = answer("13", message);
            rewrite(&mut response);
            assert_eq!(response.headers()["grpc-status"], "1");
        }
    }

    #[test]
    fn a_request_body_that_broke_below_grpc_is_cancelled_not_unknown() {
        let mut response = answer("2", "error reading a body from connection");
        rewrite(&mut response);
        assert_eq!(response.headers()["grpc-status"], "1");
    }

    #[test]
    fn a_request_that_does_not_decode_is_invalid_not_internal() {
        use tonic_types::StatusExt;
        let mut response = answer(
            "13",
            "failed%20to%20decode%20Protobuf%20message:%20AuthorizeRequest.currency:%20invalid%20string%20value",
        );
        rewrite(&mut response);
        let status = tonic::Status::from_header_map(response.headers()).expect("a status");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            status.get_details_error_info().expect("ErrorInfo").reason,
            "INVALID_ARGUMENT"
        );
        assert!(!status.message().contains("currency"), "{status:?}");
    }

    #[test]
    fn other_internal_answers_are_left_alone() {
        let mut kessais_own = answer("13", "Missing request message.");
        kessais_own
            .headers_mut()
            .insert("grpc-status-details-bin", HeaderValue::from_static("AA"));
        rewrite(&mut kessais_own);
        assert_eq!(kessais_own.headers()["grpc-status"], "13");
        let mut other = answer("13", "internal error");
        rewrite(&mut other);
        assert_eq!(other.headers()["grpc-status"], "13");
        let mut unknown_with_info = answer("2", "with kessai's ErrorInfo");
        unknown_with_info
            .headers_mut()
            .insert("grpc-status-details-bin", HeaderValue::from_static("AA"));
        rewrite(&mut unknown_with_info);
        assert_eq!(unknown_with_info.headers()["grpc-status"], "2");
    }
}

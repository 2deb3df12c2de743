//! gRPC health on a plaintext listener of its own (`KESSAI_HEALTH_ADDR`),
//! for probes that cannot present a client certificate: with TLS or mutual
//! TLS on the gRPC port, kubelet's gRPC probes (which speak plaintext and
//! carry no certificate) would fail there. It answers from the same
//! reporter as the gRPC port, so it says what that port says, drain
//! included; it serves nothing else but reflection of the health service
//! (for grpcurl). Connections are held to the gRPC port's discipline with a
//! cap of their own.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic_health::server::{HealthReporter, HealthService};

use super::connections::{ConnectionLimits, incoming};

/// Probes open a connection each and close it.
pub const MAX_CONNECTIONS: usize = 64;

/// The bound, not yet serving, health listener.
pub struct HealthListener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl HealthListener {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("KESSAI_HEALTH_ADDR {addr}: {e}"))?;
        let addr = listener.local_addr()?;
        Ok(Self { listener, addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers health checks from `reporter` until `stop` fires.
    pub async fn serve(
        self,
        reporter: HealthReporter,
        limits: ConnectionLimits,
        reflection: bool,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let limits = ConnectionLimits {
            max_connections: MAX_CONNECTIONS,
            ..limits
        };
        let (v1, v1alpha) = if reflection {
            let builder = || {
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            };
            (
                Some(builder().build_v1()?),
                Some(builder().build_v1alpha()?),
            )
        } else {
            (None, None)
        };
        tonic::transport::Server::builder()
            .add_service(tonic_health::pb::health_server::HealthServer::new(
                HealthService::from_health_reporter(reporter),
            ))
            .add_optional_service(v1)
            .add_optional_service(v1alpha)
            .serve_with_incoming_shutdown(incoming(self.listener, limits), stop.cancelled_owned())
            .await?;
        Ok(())
    }
}

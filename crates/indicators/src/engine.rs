//! Where indicator SQL runs: in this process (`local`, DataFusion embedded,
//! the default), or on an Apache DataFusion Ballista cluster
//! (`ballista://host:port`, the scheduler's gRPC address).
//!
//! On a cluster the SQL is planned here, in a session with the same sandbox
//! ([`crate::sandbox`]) and the same refusal of recursion as locally, and the
//! optimised plan is sent to the scheduler, which splits it into stages for
//! the executors. Only the indicators' output rows come back; statistics,
//! comparisons and reports stay in this process.

use std::time::Duration;

use datafusion::prelude::SessionContext;

use crate::{IndicatorError, Limits};

/// The scheduler's port when a `ballista://` engine names none (Ballista's own default).
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// Partitions per scan and per shuffle of a query on a cluster: Ballista's
/// default (`SessionConfig::new_with_ballista`).
#[cfg(feature = "ballista")]
const CLUSTER_PARTITIONS: usize = 16;

/// How long the driver waits for the scheduler to accept a connection
/// before the run fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where indicator SQL runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Engine {
    /// DataFusion in this process.
    #[default]
    Local,
    /// A Ballista scheduler at `host:port`.
    Ballista { host: String, port: u16 },
}

/// What a session's engine is called in messages; set on cluster sessions
/// (see [`engine_of`]).
#[derive(Debug)]
pub struct EngineName(pub String);

/// The engine of a session built by [`Engine::session`], as written in the
/// pipeline file; None for a local session.
pub fn engine_of(ctx: &SessionContext) -> Option<String> {
    ctx.state()
        .config()
        .get_extension::<EngineName>()
        .map(|n| n.0.clone())
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Local => f.write_str("local"),
            Engine::Ballista { host, port } => write!(f, "ballista://{host}:{port}"),
        }
    }
}

impl Engine {
    /// Reads an engine as written in the pipeline file or on the command
    /// line: `local`, or `ballista://host:port` (port 50050 if left out).
    pub fn parse(text: &str) -> Result<Engine, String> {
        let bad = || {
            format!(
                "engine {text:?}: use \"local\" (DataFusion in this process, the default) or \"ballista://host:port\" (an Apache DataFusion Ballista scheduler)"
            )
        };
        let t = text.trim();
        if t == "local" {
            return Ok(Engine::Local);
        }
        let rest = t.strip_prefix("ballista://").ok_or_else(bad)?;
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') || rest.contains('@') {
            return Err(bad());
        }
        // host, host:port, [v6]:port
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && !p.contains(']') => {
                (h, p.parse::<u16>().map_err(|_| bad())?)
            }
            _ => (rest, DEFAULT_SCHEDULER_PORT),
        };
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Engine::Ballista {
            host: host.to_string(),
            port,
        })
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Engine::Local)
    }

    /// Whether this build can use the engine; for a cluster, whether its
    /// scheduler accepts a connection. Says what to do otherwise.
    pub async fn check(&self) -> Result<(), IndicatorError> {
        let Engine::Ballista { host, port } = self else {
            return Ok(());
        };
        let engine = |message: String| IndicatorError::Engine {
            engine: self.to_string(),
            message,
        };
        if !cfg!(feature = "ballista") {
            return Err(engine(
                "this peerbench was built without the Ballista client: build it with `--features ballista` (cargo build --release --features ballista), or run with --engine local".into(),
            ));
        }
        // An IPv6 address keeps its brackets: `[::1]:50050`.
        let address = format!("{host}:{port}");
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&address)).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(engine(format!(
                "cannot reach the Ballista scheduler at {address} ({e}): start it (docs/scale.md), or run with --engine local; nothing was loaded or published"
            ))),
            Err(_) => Err(engine(format!(
                "the Ballista scheduler at {address} did not answer within {}s: check the address and the network (docs/scale.md), or run with --engine local; nothing was loaded or published",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    /// A session whose SQL runs on this engine: for `local`, the session
    /// of [`Limits::session`]; for a cluster, a Ballista client session
    /// with the same configuration (recursion refused), whose queries are
    /// planned here and run by the cluster's executors. The caller
    /// registers the tables (for a cluster, as the Parquet files of each
    /// table's snapshot, which executors can read).
    pub async fn session(&self, limits: &Limits) -> Result<SessionContext, IndicatorError> {
        let local = limits.session()?;
        match self {
            Engine::Local => Ok(local),
            Engine::Ballista { .. } => self.cluster_session(local).await,
        }
    }

    #[cfg(feature = "ballista")]
    async fn cluster_session(
        &self,
        local: SessionContext,
    ) -> Result<SessionContext, IndicatorError> {
        use ballista::prelude::SessionContextExt;
        use datafusion::execution::SessionStateBuilder;
        use std::sync::Arc;

        let Engine::Ballista { host, port } = self else {
            unreachable!("a cluster session is for a cluster engine")
        };
        let state = local.state();
        // Partitions per scan and shuffle: Ballista's own default, not the
        // driver's core count (each becomes a task an executor can take).
        let config = state
            .config()
            .clone()
            .with_target_partitions(CLUSTER_PARTITIONS)
            .with_extension(Arc::new(EngineName(self.to_string())));
        let state = SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .build();
        SessionContext::remote_with_state(&format!("df://{host}:{port}"), state)
            .await
            .map_err(|e| IndicatorError::Engine {
                engine: self.to_string(),
                message: crate::first_line(&e.to_string()),
            })
    }

    #[cfg(not(feature = "ballista"))]
    async fn cluster_session(&self, _: SessionContext) -> Result<SessionContext, IndicatorError> {
        self.check().await?;
        unreachable!("check refuses a cluster engine without the ballista feature")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_read_as_written() {
        assert_eq!(Engine::parse("local"), Ok(Engine::Local));
        let b = |h: &str, p| Engine::Ballista {
            host: h.into(),
            port: p,
        };
        assert_eq!(
            Engine::parse("ballista://sched:50051"),
            Ok(b("sched", 50051))
        );
        assert_eq!(
            Engine::parse("ballista://10.0.0.5"),
            Ok(b("10.0.0.5", 50050))
        );
        assert_eq!(
            Engine::parse("ballista://[::1]:7000/"),
            Ok(b("[::1]", 7000))
        );
        assert_eq!(
            Engine::parse("ballista://sched:50051").unwrap().to_string(),
            "ballista://sched:50051"
        );
        for bad in [
            "",
            "remote",
            "ballista://",
            "ballista://h:x",
            "ballista://h:0",
            "df://h:1",
            "ballista://h/p",
        ] {
            let e = Engine::parse(bad).unwrap_err();
            assert!(e.contains("use \"local\""), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn local_needs_nothing_and_an_unreachable_scheduler_is_named() {
        Engine::Local.check().await.unwrap();
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let engine = Engine::parse(&format!("ballista://127.0.0.1:{port}")).unwrap();
        let e = engine.check().await.unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("engine ballista://127.0.0.1:{port}: ")) && !e.contains('\n'),
            "{e}"
        );
        if cfg!(feature = "ballista") {
            assert!(e.contains("cannot reach the Ballista scheduler"), "{e}");
        } else {
            assert!(e.contains("--features ballista"), "{e}");
        }
    }
}

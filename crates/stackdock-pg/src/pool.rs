//! The connection pool (deadpool) over connections opened with any
//! [`SslMode`].
//!
//! Connections open lazily: building a pool sends nothing. Checkout does no
//! test query (`RecyclingMethod::Fast`), so it costs no round trip.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode as WireSslMode;
use tokio_postgres::{AsyncMessage, Client, Connection, NoTls, Notification};
use tokio_postgres_rustls::MakeRustlsConnect;

use stackdock_core::{Error, Result};

use crate::error::map_pg_error;
use crate::tls::{SslMode, TlsSettings};

/// Pool sizing and timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolOptions {
    /// Most connections open at once (at least 1). Default 8.
    pub max_connections: usize,
    /// Time to open one connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Time to wait for a free connection. Default 60 s.
    pub wait_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            wait_timeout: Duration::from_secs(60),
        }
    }
}

impl PoolOptions {
    /// Set the pool size.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Set the time to open a connection.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Set the time to wait for a free connection.
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }
}

/// A pool of connections to `config`, using TLS as `tls` says. Opens none yet.
pub fn build_pool(
    config: tokio_postgres::Config,
    tls: &TlsSettings,
    options: &PoolOptions,
) -> Result<Pool> {
    let connect = ModeConnect {
        mode: tls.mode,
        tls: tls.connector()?,
    };
    let manager = Manager::from_connect(
        config,
        connect,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.max_connections.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(options.wait_timeout))
        .create_timeout(Some(options.connect_timeout))
        .build()
        .map_err(|e| Error::config(format!("cannot build the connection pool: {e}")))
}

/// Open one connection outside any pool (its I/O runs in a spawned task).
pub async fn connect(config: &tokio_postgres::Config, tls: &TlsSettings) -> Result<Client> {
    let (client, _task) = connect_with_mode(config.clone(), tls.mode, tls.connector()?, None)
        .await
        .map_err(|e| map_pg_error(&e, &[]))?;
    Ok(client)
}

/// Open one connection outside any pool whose `NOTIFY` messages (for the
/// channels it `LISTEN`s to) arrive on the returned receiver; the receiver
/// ends when the connection does, so a listener knows to reconnect.
///
/// ```no_run
/// # async fn demo(config: tokio_postgres::Config) -> stackdock_core::Result<()> {
/// use stackdock_pg::{connect_listening, SslMode, TlsSettings};
/// let (client, mut notifications) = connect_listening(&config, &TlsSettings::new(SslMode::Prefer)).await?;
/// client.batch_execute("LISTEN jobs").await.map_err(|e| stackdock_pg::map_pg_error(&e, &[]))?;
/// while let Some(n) = notifications.recv().await {
///     println!("{}: {}", n.channel(), n.payload());
/// }
/// # Ok(()) }
/// ```
pub async fn connect_listening(
    config: &tokio_postgres::Config,
    tls: &TlsSettings,
) -> Result<(Client, mpsc::UnboundedReceiver<Notification>)> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let (client, _task) =
        connect_with_mode(config.clone(), tls.mode, tls.connector()?, Some(sender))
            .await
            .map_err(|e| map_pg_error(&e, &[]))?;
    Ok((client, receiver))
}

/// deadpool's hook: open a connection the way the `sslmode` says.
struct ModeConnect {
    mode: SslMode,
    tls: Option<MakeRustlsConnect>,
}

type Opened = std::result::Result<(Client, JoinHandle<()>), tokio_postgres::Error>;

impl deadpool_postgres::Connect for ModeConnect {
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> Pin<Box<dyn Future<Output = Opened> + Send + '_>> {
        Box::pin(connect_with_mode(
            pg_config.clone(),
            self.mode,
            self.tls.clone(),
            None,
        ))
    }
}

/// Where a connection's notifications go (`None`: dropped).
type Notifications = Option<mpsc::UnboundedSender<Notification>>;

async fn connect_with_mode(
    mut config: tokio_postgres::Config,
    mode: SslMode,
    tls: Option<MakeRustlsConnect>,
    notify: Notifications,
) -> Opened {
    let Some(tls) = tls.filter(|_| mode.uses_tls()) else {
        return plain(config, notify).await;
    };
    match mode {
        SslMode::Allow => match plain(config.clone(), notify.clone()).await {
            // The server answered and refused (pg_hba `hostssl` only): retry
            // encrypted, as libpq does. Network failures are not retried.
            Err(e) if e.as_db_error().is_some() => {
                encrypted(config.ssl_mode(WireSslMode::Require), tls, notify).await
            }
            other => other,
        },
        SslMode::Prefer => encrypted(config.ssl_mode(WireSslMode::Prefer), tls, notify).await,
        _ => encrypted(config.ssl_mode(WireSslMode::Require), tls, notify).await,
    }
}

async fn plain(mut config: tokio_postgres::Config, notify: Notifications) -> Opened {
    let (client, conn) = config.ssl_mode(WireSslMode::Disable).connect(NoTls).await?;
    Ok((client, drive(conn, notify)))
}

async fn encrypted(
    config: &mut tokio_postgres::Config,
    tls: MakeRustlsConnect,
    notify: Notifications,
) -> Opened {
    let (client, conn) = config.connect(tls).await?;
    Ok((client, drive(conn, notify)))
}

/// Run the connection's I/O in its own task, passing notifications on.
fn drive<S, T>(mut conn: Connection<S, T>, notify: Notifications) -> JoinHandle<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio_postgres::tls::TlsStream + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if let Some(sender) = &notify {
                        // A listener that went away just stops listening.
                        let _ = sender.send(n);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "PostgreSQL connection closed with an error");
                    break;
                }
                None => break,
            }
        }
    })
}

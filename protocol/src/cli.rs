//! What each of our three binaries does the same way at its start and its end: logging to
//! standard error, the exit status with the whole error chain, and the stop signal that lets a
//! daemon say goodbye to the broker. Behind the `cli` feature, for the binaries only.

use std::fmt::Display;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::ConfigError;

/// Reads the configuration file `path` names (none: defaults) and the process environment
/// (`XPRESSIFY__SECTION__KEY`) into `T`: the first step of each binary's `load`, before it
/// fills secrets from their files and checks what serde cannot.
pub fn read_config<T>(path: Option<&Path>) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Serialize + Default,
{
    let name = path.map(|p| p.display().to_string()).unwrap_or_default();
    let text = path
        .map(|p| {
            std::fs::read_to_string(p).map_err(|e| ConfigError::Read {
                file: name.clone(),
                message: e.to_string(),
            })
        })
        .transpose()?;
    crate::config::load(
        text.as_deref().map(|t| (name.as_str(), t)),
        std::env::vars(),
    )
}

/// Runs a binary's `try_main` and turns its outcome into the exit status: on an error, one
/// line `program: error: cause: cause` on standard error (the `{:#}` form of `anyhow`), so the
/// fix the error names is the last thing a person sees.
pub fn exit_status<E: Display>(program: &str, outcome: Result<(), E>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to standard error, with colour only on a terminal, filtered by `RUST_LOG` or, when
/// it is unset or malformed, by `default_filter` (e.g. `info`).
pub fn init_logging(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Resolves on Ctrl-C, SIGTERM (what systemd sends) or after `duration`: how every
/// long-running command ends, so each can say goodbye to the broker.
pub async fn stop_signal(duration: Option<Duration>) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let sigterm = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let timer = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = sigterm => {},
        () = timer => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_fails_the_process_and_success_does_not() {
        assert_eq!(exit_status::<String>("x", Ok(())), ExitCode::SUCCESS);
        assert_eq!(
            exit_status("x", Err("config: no such file".to_string())),
            ExitCode::FAILURE
        );
    }

    #[test]
    fn a_missing_config_file_is_named() {
        #[derive(serde::Deserialize, Serialize, Default)]
        struct Empty {}
        let err = read_config::<Empty>(Some(Path::new("/nonexistent/xpressify.toml")))
            .err()
            .expect("no such file");
        assert!(
            err.to_string()
                .starts_with("cannot read config file /nonexistent/xpressify.toml: "),
            "{err}"
        );
        assert!(read_config::<Empty>(None).is_ok(), "no file: the defaults");
    }

    #[test]
    fn the_stop_signal_ends_after_its_duration() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let started = std::time::Instant::now();
        runtime.block_on(stop_signal(Some(Duration::from_millis(50))));
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}

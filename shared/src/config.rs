//! Configuration read from the environment once, at start.
//!
//! Every problem is collected rather than returned at the first one, so that an operator fixing a
//! deployment sees each missing or invalid variable at once, one line each.

use std::fmt::Display;
use std::str::FromStr;

/// Reads variables and remembers what was wrong with them.
#[derive(Debug, Default)]
pub struct Env {
    problems: Vec<String>,
}

/// The variables that were missing or invalid, one sentence each.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl Env {
    pub fn new() -> Self {
        Self::default()
    }

    fn raw(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }

    /// A variable that must be set and not blank. Returns an empty string when it is not, having
    /// recorded the problem.
    pub fn required(&mut self, name: &str) -> String {
        match Self::raw(name) {
            Some(value) => value,
            None => {
                self.problems.push(format!("{name} is not set"));
                String::new()
            }
        }
    }

    /// An optional variable with a default, parsed as `T`.
    pub fn parsed_or<T>(&mut self, name: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: Display,
    {
        match Self::raw(name) {
            None => default,
            Some(value) => match value.trim().parse() {
                Ok(parsed) => parsed,
                Err(err) => {
                    self.problems
                        .push(format!("{name} is invalid ({value:?}): {err}"));
                    default
                }
            },
        }
    }

    /// An optional string variable with a default.
    pub fn string_or(&mut self, name: &str, default: &str) -> String {
        Self::raw(name).unwrap_or_else(|| default.to_owned())
    }

    /// Records a problem found while checking a value read earlier (a range, a relation).
    pub fn invalid(&mut self, name: &str, why: impl Display) {
        self.problems.push(format!("{name} is invalid: {why}"));
    }

    /// Ends reading: every problem, or nothing.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

/// A function's settings, read from the environment.
pub trait FromEnv: Sized {
    fn from_env(env: &mut Env) -> Self;
}

impl FromEnv for () {
    fn from_env(_: &mut Env) -> Self {}
}

impl<A: FromEnv, B: FromEnv> FromEnv for (A, B) {
    fn from_env(env: &mut Env) -> Self {
        (A::from_env(env), B::from_env(env))
    }
}

/// The NATS servers `NATS_URL` names: one URL, or several separated by commas (the servers of a
/// cluster, so a client that starts while one is down still connects). Give it to
/// `async_nats::connect` or `ConnectOptions::connect`; the client reconnects to any of them, and to
/// the other servers the cluster announces.
#[derive(Debug, Clone, Copy)]
pub struct NatsServers<'a>(pub &'a str);

impl async_nats::ToServerAddrs for NatsServers<'_> {
    type Iter = std::vec::IntoIter<async_nats::ServerAddr>;

    fn to_server_addrs(&self) -> std::io::Result<Self::Iter> {
        let servers = self
            .0
            .split(',')
            .map(|address| address.trim().parse())
            .collect::<std::io::Result<Vec<async_nats::ServerAddr>>>()?;
        Ok(servers.into_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comma_separated_nats_url_is_every_server_of_it() {
        use async_nats::ToServerAddrs;
        let servers: Vec<_> =
            NatsServers("nats://127.0.0.1:4222, nats://127.0.0.1:4223,127.0.0.1:4224")
                .to_server_addrs()
                .expect("three servers")
                .map(|server| server.port())
                .collect();
        assert_eq!(servers, vec![4222, 4223, 4224]);
        assert!(
            NatsServers("nats://127.0.0.1:4222,nats://bad host")
                .to_server_addrs()
                .is_err()
        );
    }

    #[test]
    fn a_missing_required_variable_is_named_in_the_error() {
        let mut env = Env::new();
        let _ = env.required("TICKETING_TEST_SURELY_UNSET");
        let err = env.finish().expect_err("missing variable must fail");
        assert_eq!(err.problems, vec!["TICKETING_TEST_SURELY_UNSET is not set"]);
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let mut env = Env::new();
        let _ = env.required("TICKETING_TEST_UNSET_ONE");
        let _ = env.required("TICKETING_TEST_UNSET_TWO");
        let err = env.finish().expect_err("two missing variables");
        assert_eq!(err.problems.len(), 2);
        assert_eq!(err.to_string().lines().count(), 2);
    }

    #[test]
    fn an_unset_optional_variable_takes_its_default() {
        let mut env = Env::new();
        let port: u16 = env.parsed_or("TICKETING_TEST_UNSET_PORT", 8080);
        assert_eq!(port, 8080);
        assert!(env.finish().is_ok());
    }
}

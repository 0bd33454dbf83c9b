//! Starting, watching and stopping the stack's processes.
//!
//! Each child runs in its own process group, so that Ctrl-C in the terminal reaches only devstack,
//! which then stops the children in order, and so that stopping a child also stops what it started
//! (NGINX's workers). `PR_SET_PDEATHSIG` makes the kernel kill a child if devstack itself is killed
//! without a chance to clean up.
#![allow(unsafe_code)] // two libc calls: prctl in the child before exec, kill of a process group.

use std::fs::File;
use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep};

struct Managed {
    name: String,
    /// Also the process group's id; kept because `Child` forgets it once the child is reaped.
    pid: Option<libc::pid_t>,
    child: Child,
}

pub struct Supervisor {
    children: Vec<Managed>,
    log_dir: PathBuf,
}

impl Supervisor {
    pub fn new(log_dir: PathBuf) -> Self {
        Self {
            children: Vec::new(),
            log_dir,
        }
    }

    fn prepare(&self, name: &str, command: &mut Command) -> Result<(), String> {
        std::fs::create_dir_all(&self.log_dir)
            .map_err(|e| format!("cannot create {}: {e}", self.log_dir.display()))?;
        let path = self.log_dir.join(format!("{name}.log"));
        let log =
            File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        Ok(())
    }

    /// Starts a long-running process; its output goes to `logs/<name>.log`.
    pub fn spawn(&mut self, name: &str, mut command: Command) -> Result<(), String> {
        self.prepare(name, &mut command)?;
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let pid = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok());
        self.children.push(Managed {
            name: name.to_owned(),
            pid,
            child,
        });
        Ok(())
    }

    /// Runs a process that must finish successfully (a set-up step).
    pub async fn run_to_end(&mut self, name: &str, mut command: Command) -> Result<(), String> {
        self.prepare(name, &mut command)?;
        let status = command
            .status()
            .await
            .map_err(|e| format!("cannot run {name}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "{name} failed ({status}); see {}",
                self.log_path(name)
            ))
        }
    }

    fn log_path(&self, name: &str) -> String {
        self.log_dir
            .join(format!("{name}.log"))
            .display()
            .to_string()
    }

    /// The first child that has exited, if any.
    fn exited(&mut self) -> Option<String> {
        self.children
            .iter_mut()
            .find_map(|managed| match managed.child.try_wait() {
                Ok(Some(status)) => Some(format!("{} exited ({status})", managed.name)),
                Ok(None) => None,
                Err(err) => Some(format!("{} cannot be watched: {err}", managed.name)),
            })
    }

    /// Polls `ready` until it holds, failing early if any child dies.
    pub async fn wait_until<F, Fut>(
        &mut self,
        name: &str,
        ready: F,
        limit: Duration,
    ) -> Result<(), String>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + limit;
        loop {
            if ready().await {
                return Ok(());
            }
            if let Some(exited) = self.exited() {
                return Err(format!("{exited}; see {}", self.log_dir.display()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{name} was not ready after {limit:?}; see {}",
                    self.log_path(name)
                ));
            }
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for Ctrl-C, SIGTERM or a child's death; says which.
    pub async fn until_stopped(&mut self) -> String {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return "interrupted".to_owned(),
                Some(()) = async { match terminate.as_mut() { Some(s) => s.recv().await, None => None } } => {
                    return "terminated".to_owned();
                }
                () = sleep(Duration::from_millis(250)) => {
                    if let Some(exited) = self.exited() {
                        return exited;
                    }
                }
            }
        }
    }

    /// Stops every child, newest first: SIGTERM to its group, then SIGKILL after a grace period.
    pub async fn stop_all(&mut self) {
        for managed in self.children.iter().rev() {
            signal_group(managed.pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for managed in self.children.iter_mut().rev() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(remaining, managed.child.wait())
                .await
                .is_err()
            {
                signal_group(managed.pid, libc::SIGKILL);
                let _ = managed.child.wait().await;
            }
        }
        // The group may outlive its leader (NGINX workers): make sure nothing of it is left.
        for managed in &self.children {
            signal_group(managed.pid, libc::SIGKILL);
        }
        self.children.clear();
    }
}

fn signal_group(pid: Option<libc::pid_t>, signal: libc::c_int) {
    if let Some(pid) = pid.filter(|pid| *pid > 0) {
        // SAFETY: kill has no memory effects; the group id is the child's own pid (process_group(0)).
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

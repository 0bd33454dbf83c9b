//! NGINX for the local stack: the project's `nginx/` configuration with local upstreams.
//!
//! The routes (`nginx/api.conf`) are the same in a cluster; only the upstreams differ: here each
//! function's loopback port, there its cluster-local Service name.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::settings::Settings;
use crate::supervisor::Spec;

/// Writes `nginx.conf` and the upstreams under the run directory; returns the main file.
pub fn render(settings: &Settings) -> std::io::Result<PathBuf> {
    let dir = settings.run_dir.join("nginx");
    for temp in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.join("tmp").join(temp))?;
    }

    let mut upstreams = String::new();
    for (function, port) in settings.function_ports() {
        let _ = writeln!(
            upstreams,
            "upstream {function} {{ server 127.0.0.1:{port}; keepalive 32; }}"
        );
    }
    std::fs::write(dir.join("upstreams.conf"), upstreams)?;

    // This deployment's storefront configuration, served beside the app as /config.json.
    let site = dir.join("site");
    std::fs::create_dir_all(&site)?;
    std::fs::write(site.join("config.json"), storefront_config(settings))?;

    let project = settings.project_dir.join("nginx");
    let storefront = settings.project_dir.join("frontend").join("dist");
    let running_as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    // As root, NGINX would hand its workers to `nobody`, who cannot read a private work tree.
    let user = if running_as_root { "user root;\n" } else { "" };
    let conf = format!(
        "# Written by devstack; edit nginx/*.conf instead.
{user}worker_processes auto;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    limit_req_zone $binary_remote_addr zone=auth:10m rate={auth_rate};
    include {dir}/upstreams.conf;
    server {{
        listen 127.0.0.1:{port};
        proxy_set_header Host $host;
        root {storefront};
        set $config_root {site};
        set $stripe_origins {stripe_origin};
        include {project}/api.conf;
        include {project}/storefront.conf;
    }}
}}
",
        dir = dir.display(),
        project = project.display(),
        storefront = storefront.display(),
        site = site.display(),
        stripe_origin = stripe_origin(settings),
        port = settings.http_port,
        auth_rate = settings.auth_rate,
    );
    let main = dir.join("nginx.conf");
    std::fs::write(&main, conf)?;
    Ok(main)
}

fn stripe_origin(settings: &Settings) -> String {
    format!("http://127.0.0.1:{}", settings.stripe_port)
}

/// `/config.json`: the API behind this NGINX, and localstripe's key and stand-in Stripe.js.
fn storefront_config(settings: &Settings) -> String {
    serde_json::json!({
        "apiBase": "/api",
        "stripePublishableKey": "pk_test_local",
        "stripeJsUrl": format!("{}/js.stripe.com/v3/", stripe_origin(settings)),
    })
    .to_string()
}

pub fn command(conf: &std::path::Path) -> Spec {
    let mut command = Spec::new("nginx");
    let prefix = conf.parent().map(PathBuf::from).unwrap_or_default();
    command
        .arg("-e")
        .arg("stderr")
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(conf)
        .args(["-g", "daemon off;"]);
    command
}

//! Sizes of what ships: each image as podman stores it (`make images`), and each binary of the
//! shipping profile (`image`: fat LTO, one codegen unit, stripped, static musl) it carries.
//!
//! Measures what is there; an image or binary not built yet is reported as missing, not guessed.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// Where `scripts/images.sh` builds the binaries the function images carry.
pub const SHIPPING_PROFILE: &str = "image";
pub const SHIPPING_TARGET: &str = "x86_64-unknown-linux-musl";
/// Each function image, like each binary, stays within this (architecture: 15 MB).
pub const FUNCTION_IMAGE_BUDGET_BYTES: u64 = 15 * 1024 * 1024;

/// One artifact of `skaffold.yaml`: its image and, for a function, its shipping binary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactSize {
    /// `ticketing.<binary>.fn`, or `ticketing.storefront.web`.
    pub image: String,
    /// The function's binary; `None` for the storefront.
    pub binary: Option<String>,
    /// The image's size as podman reports it (its layers, uncompressed); `None` if not built.
    pub image_bytes: Option<u64>,
    /// The binary's size in the shipping profile; `None` if not built (or not a function).
    pub binary_bytes: Option<u64>,
}

impl ArtifactSize {
    /// A function image over the budget (the storefront carries NGINX and has none).
    pub fn over_budget(&self) -> bool {
        self.binary.is_some()
            && self
                .image_bytes
                .is_some_and(|bytes| bytes > FUNCTION_IMAGE_BUDGET_BYTES)
    }
}

/// Every artifact's sizes, in `skaffold.yaml`'s order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSizes {
    pub profile: String,
    pub target: String,
    pub budget_bytes: u64,
    pub artifacts: Vec<ArtifactSize>,
}

impl ImageSizes {
    /// The largest function image, for the budget table.
    pub fn largest_function_image(&self) -> Option<&ArtifactSize> {
        self.artifacts
            .iter()
            .filter(|a| a.binary.is_some())
            .max_by_key(|a| a.image_bytes)
    }

    /// The largest shipping binary.
    pub fn largest_binary(&self) -> Option<&ArtifactSize> {
        self.artifacts.iter().max_by_key(|a| a.binary_bytes)
    }
}

/// The artifacts' image names, from `skaffold.yaml` (the one list `scripts/images.sh` builds).
fn artifacts(project: &Path) -> Result<Vec<String>, String> {
    let path = project.join("skaffold.yaml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| line.strip_prefix("    - image: "))
        .map(|image| image.trim().to_owned())
        .collect())
}

/// The size podman reports for a local image, or `None` when there is no such image.
fn image_bytes(image: &str) -> Result<Option<u64>, String> {
    let output = Command::new("podman")
        .args(["image", "inspect", "--format", "{{.Size}}", image])
        .output()
        .map_err(|e| format!("cannot run podman (make images installs it): {e}"))?;
    if !output.status.success() {
        // "image not known": not built on this machine.
        return Ok(None);
    }
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map(Some)
        .map_err(|e| format!("podman's size of {image}: {e}"))
}

/// Measures every artifact of the project at `project`.
pub fn measure(project: &Path) -> Result<ImageSizes, String> {
    let binaries = project
        .join("target")
        .join(SHIPPING_TARGET)
        .join(SHIPPING_PROFILE);
    let artifacts = artifacts(project)?
        .into_iter()
        .map(|image| {
            let binary = image
                .strip_prefix("ticketing.")
                .and_then(|rest| rest.strip_suffix(".fn"))
                .map(str::to_owned);
            let binary_bytes = binary
                .as_ref()
                .and_then(|name| std::fs::metadata(binaries.join(name)).ok())
                .map(|metadata| metadata.len());
            Ok(ArtifactSize {
                image_bytes: image_bytes(&image)?,
                image,
                binary,
                binary_bytes,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(ImageSizes {
        profile: SHIPPING_PROFILE.to_owned(),
        target: SHIPPING_TARGET.to_owned(),
        budget_bytes: FUNCTION_IMAGE_BUDGET_BYTES,
        artifacts,
    })
}

/// Bytes as MB of 2^20, as the rest of the report writes them.
fn mb(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "not built".to_owned(),
        |bytes| format!("{:.1} MB", bytes as f64 / f64::from(1 << 20)),
    )
}

/// The section of `latest.md`: one row per artifact, the largest first.
pub fn markdown(sizes: &ImageSizes) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## Images\n");
    let _ = writeln!(
        md,
        "Each image as podman stores it (`make images`), and the binary it carries, built with the \
         `{}` profile for `{}`. Budget: {} per function image.\n",
        sizes.profile,
        sizes.target,
        mb(Some(sizes.budget_bytes))
    );
    let _ = writeln!(md, "| image | image size | binary | |");
    let _ = writeln!(md, "|---|---|---|---|");
    let mut rows: Vec<&ArtifactSize> = sizes.artifacts.iter().collect();
    rows.sort_by(|a, b| {
        b.image_bytes
            .cmp(&a.image_bytes)
            .then(a.image.cmp(&b.image))
    });
    for artifact in rows {
        let verdict = if artifact.over_budget() {
            "OVER BUDGET"
        } else if artifact.image_bytes.is_none() {
            ""
        } else if artifact.binary.is_some() {
            "within budget"
        } else {
            "NGINX and the storefront"
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {verdict} |",
            artifact.image,
            mb(artifact.image_bytes),
            artifact
                .binary
                .as_ref()
                .map_or_else(|| "—".to_owned(), |_| mb(artifact.binary_bytes)),
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(image: &str, image_mb: Option<u64>, binary_mb: Option<u64>) -> ArtifactSize {
        ArtifactSize {
            image: image.to_owned(),
            binary: image
                .strip_prefix("ticketing.")
                .and_then(|rest| rest.strip_suffix(".fn"))
                .map(str::to_owned),
            image_bytes: image_mb.map(|mb| mb << 20),
            binary_bytes: binary_mb.map(|mb| mb << 20),
        }
    }

    #[test]
    fn the_table_puts_the_largest_first_and_judges_only_function_images() {
        let sizes = ImageSizes {
            profile: SHIPPING_PROFILE.to_owned(),
            target: SHIPPING_TARGET.to_owned(),
            budget_bytes: FUNCTION_IMAGE_BUDGET_BYTES,
            artifacts: vec![
                artifact("ticketing.sign-in.fn", Some(9), Some(9)),
                artifact("ticketing.storefront.web", Some(20), None),
                artifact("ticketing.charge.fn", Some(16), Some(16)),
                artifact("ticketing.expire.fn", None, None),
            ],
        };
        let md = markdown(&sizes);
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(
            rows,
            [
                "| `ticketing.storefront.web` | 20.0 MB | — | NGINX and the storefront |",
                "| `ticketing.charge.fn` | 16.0 MB | 16.0 MB | OVER BUDGET |",
                "| `ticketing.sign-in.fn` | 9.0 MB | 9.0 MB | within budget |",
                "| `ticketing.expire.fn` | not built | not built |  |",
            ]
        );
        assert_eq!(
            sizes.largest_function_image().map(|a| a.image.as_str()),
            Some("ticketing.charge.fn")
        );
    }

    #[test]
    fn the_artifacts_are_skaffolds() {
        let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let names = artifacts(&project).expect("skaffold.yaml");
        assert!(names.contains(&"ticketing.place-order.fn".to_owned()));
        assert!(names.contains(&"ticketing.storefront.web".to_owned()));
    }
}

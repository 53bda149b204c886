//! `routewise image ...`: build, inspect and deploy the filter's OCI image (see `routewise_cli::oci`).
//!
//! ```text
//! routewise image build --wasm target/wasm32-wasip1/wasm/routewise.wasm --out .work/oci/layout --tag 0.1.0 \
//!     [--archive .work/oci/routewise-0.1.0.tar]          # prints the manifest digest, sha256:...
//! routewise image inspect --layout .work/oci/layout --tag 0.1.0 [--extract plugin.wasm]
//! routewise image render --image REGISTRY/routewise --digest sha256:... --out-dir DIR envoy/deploy/*.yaml.tmpl
//! ```
//!
//! Standard output carries only the result (a digest, rendered file names) so scripts can capture it; what
//! was done goes to standard error.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use routewise_cli::oci::{self, Digest, Image, OciError};

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the compat image of a .wasm as an OCI layout (and optionally an archive); print its digest.
    Build(BuildArgs),
    /// Check an image in an OCI layout (digests, compat structure) and print its digest.
    Inspect(InspectArgs),
    /// Fill deploy manifest templates (envoy/deploy/*.yaml.tmpl) with an image and its digest.
    Render(RenderArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The filter module (e.g. target/wasm32-wasip1/wasm/routewise.wasm), stored as plugin.wasm.
    #[arg(long, value_name = "PATH")]
    wasm: PathBuf,
    /// The OCI layout directory to write (created; an existing layout is replaced, anything else refused).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The tag (org.opencontainers.image.ref.name in index.json), e.g. 0.1.0.
    #[arg(long)]
    tag: String,
    /// Also write the layout as one tar (skopeo: oci-archive:FILE:TAG).
    #[arg(long, value_name = "FILE")]
    archive: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The OCI layout directory (written by `image build` or by `skopeo copy ... oci:DIR:TAG`).
    #[arg(long, value_name = "DIR")]
    layout: PathBuf,
    /// The tag to read.
    #[arg(long)]
    tag: String,
    /// Write plugin.wasm from the layer to this file.
    #[arg(long, value_name = "FILE")]
    extract: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// registry/repository, without tag or digest (e.g. registry.example.com/routewise).
    #[arg(long)]
    image: String,
    /// The manifest digest printed by `image build` (sha256:...).
    #[arg(long)]
    digest: String,
    /// Where to write the rendered manifests (each template's name without .tmpl).
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    /// The templates.
    #[arg(required = true, value_name = "TEMPLATE")]
    templates: Vec<PathBuf>,
}

pub fn run(cmd: ImageCommand) -> ExitCode {
    let result = match cmd {
        ImageCommand::Build(a) => build(&a),
        ImageCommand::Inspect(a) => inspect(&a),
        ImageCommand::Render(a) => render(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, OciError> {
    fs::read(path).map_err(|source| OciError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    fs::write(path, bytes).map_err(|source| OciError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn build(a: &BuildArgs) -> Result<(), OciError> {
    let wasm = read(&a.wasm)?;
    let image = Image::compat(&wasm)?;
    image.write_layout(&a.out, &a.tag)?;
    eprintln!(
        "wrote OCI layout {} tag {}: plugin.wasm {} bytes, layer {} ({} bytes), config {}",
        a.out.display(),
        a.tag,
        wasm.len(),
        image.layer().digest,
        image.layer().bytes.len(),
        image.config().digest
    );
    if let Some(archive) = &a.archive {
        write(archive, &image.layout_archive(&a.tag)?)?;
        eprintln!("wrote OCI archive {}", archive.display());
    }
    println!("{}", image.digest());
    Ok(())
}

fn inspect(a: &InspectArgs) -> Result<(), OciError> {
    let image = oci::read_layout(&a.layout, &a.tag)?;
    eprintln!(
        "{}:{}: compat image, plugin.wasm {} bytes, blobs verified",
        a.layout.display(),
        a.tag,
        image.wasm.len()
    );
    if let Some(path) = &a.extract {
        write(path, &image.wasm)?;
        eprintln!("wrote {}", path.display());
    }
    println!("{}", image.manifest_digest);
    Ok(())
}

fn render(a: &RenderArgs) -> Result<(), OciError> {
    let digest = Digest::parse(&a.digest)?;
    oci::validate_image_name(&a.image)?;
    fs::create_dir_all(&a.out_dir).map_err(|source| OciError::Io {
        path: a.out_dir.clone(),
        source,
    })?;
    for template in &a.templates {
        let text = String::from_utf8(read(template)?)
            .map_err(|_| OciError::Invalid(format!("{}: not UTF-8", template.display())))?;
        let rendered = oci::render_deploy_template(&text, &a.image, &digest)
            .map_err(|e| OciError::Invalid(format!("{}: {e}", template.display())))?;
        let name = template
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".tmpl").to_string())
            .ok_or_else(|| OciError::Invalid(format!("{}: not a file name", template.display())))?;
        let out = a.out_dir.join(name);
        write(&out, rendered.as_bytes())?;
        println!("{}", out.display());
    }
    Ok(())
}

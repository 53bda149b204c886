//! The filter as an OCI image in the "compat" variant, built and read without a registry (native only).
//!
//! The compat variant (solo-io Wasm image spec, `spec-compat.md`) is what Istio's `WasmPlugin` and Envoy
//! Gateway's `EnvoyExtensionPolicy` both pull, and what ordinary tools (skopeo, docker, any v2 registry) copy
//! without artifact quirks (`shared/spec/proxy-wasm-host.md` §4.1):
//!
//! - one layer, `application/vnd.oci.image.layer.v1.tar+gzip`, a tar holding `plugin.wasm`, annotated
//!   `org.opencontainers.image.title: plugin.wasm`;
//! - a config `application/vnd.oci.image.config.v1+json` with `architecture: wasm`, `os: wasip1` and
//!   `rootfs.diff_ids` = the sha256 of the *uncompressed* tar;
//! - the manifest annotation `module.wasm.image/variant: compat`.
//!
//! [`Image::write_layout`] writes an OCI image layout (`oci-layout`, `index.json` whose
//! `org.opencontainers.image.ref.name` is the tag, `blobs/sha256/<hex>`; §4.4) that `skopeo copy
//! oci:DIR:TAG docker://...` pushes; [`Image::layout_archive`] is the same layout as one tar (skopeo's
//! `oci-archive:FILE:TAG`).
//!
//! **Reproducible**: the same `.wasm` always gives the same manifest digest, so a digest pinned in a
//! `WasmPlugin` or `EnvoyExtensionPolicy` can be checked against a rebuild. Tar entries are sorted and carry
//! mtime 0, uid/gid 0, empty owner names and mode 0644 (directories 0755); gzip has mtime 0, no file name,
//! level 9 (so XFL = 2) and OS byte 255 ("unknown", as Go's `compress/gzip` writes); the JSON documents are
//! serialised from structs, so their key order is fixed whatever features `serde_json` is built with. The
//! deflate stream itself comes from `miniz_oxide` (flate2's pure-Rust backend): Cargo.lock pins it, and a
//! different deflate implementation would give a different (equally valid) layer digest.
//!
//! [`read_layout`] is the way back: it finds a tag in a layout (one written here or by `skopeo copy ...
//! oci:DIR:TAG`), checks every blob against its digest, checks the compat structure as Istio's fetcher does
//! (exactly one tar+gzip layer) and the config's `diff_ids`, and returns `plugin.wasm`.
//!
//! ```
//! use routewise_cli::oci::{read_layout, Image};
//!
//! let wasm = b"\0asm\x01\0\0\0"; // the smallest valid module
//! let image = Image::compat(wasm).unwrap();
//! assert_eq!(image.digest(), Image::compat(wasm).unwrap().digest()); // reproducible
//!
//! let dir = std::env::temp_dir().join(format!("routewise-oci-doctest-{}", std::process::id()));
//! image.write_layout(&dir, "v1").unwrap();
//! let back = read_layout(&dir, "v1").unwrap();
//! assert_eq!(&back.manifest_digest, image.digest());
//! assert_eq!(back.wasm, wasm);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::{Compression, GzBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The file the compat layer holds (the name Istio and Envoy Gateway look for).
pub const PLUGIN_FILE: &str = "plugin.wasm";
/// `index.json`'s media type.
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The manifest's media type.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The config blob's media type.
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The layer's media type (compat variant).
pub const MEDIA_TYPE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Manifest annotation naming the Wasm image variant.
pub const ANNOTATION_VARIANT: &str = "module.wasm.image/variant";
/// The value of [`ANNOTATION_VARIANT`] for this image.
pub const VARIANT_COMPAT: &str = "compat";
/// Layer annotation: the file the layer holds.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// `index.json` annotation: the tag.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// gzip compression level (9: best; the header's XFL byte is then 2).
pub const GZIP_LEVEL: u32 = 9;
/// gzip header OS byte: 255, "unknown".
pub const GZIP_OS_UNKNOWN: u8 = 255;
/// The content of the `oci-layout` file.
pub const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

const WASM_MAGIC: &[u8] = b"\0asm";
/// Mode of files in the tars.
const FILE_MODE: u32 = 0o644;
/// Mode of directories in the layout archive.
const DIR_MODE: u32 = 0o755;

// ---------------------------------------------------------------------------------------------------------
// Digests and errors

/// A content digest, `sha256:<64 lowercase hex digits>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        let sum = Sha256::digest(bytes);
        let mut s = String::with_capacity(7 + 64);
        s.push_str("sha256:");
        for b in sum {
            s.push_str(&format!("{b:02x}"));
        }
        Digest(s)
    }

    /// Parses `sha256:<64 lowercase hex>` (the only algorithm written here; others are rejected).
    pub fn parse(s: &str) -> Result<Digest, OciError> {
        let ok = s.strip_prefix("sha256:").is_some_and(|hex| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if ok {
            Ok(Digest(s.to_string()))
        } else {
            Err(OciError::InvalidDigest(s.to_string()))
        }
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits alone (Istio's `sha256`, Envoy Gateway's `image.sha256`).
    pub fn hex(&self) -> &str {
        self.0.get("sha256:".len()..).unwrap_or_default()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What can go wrong building, writing or reading an image.
#[derive(Debug)]
#[non_exhaustive]
pub enum OciError {
    /// Reading or writing a file failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The module does not start with the Wasm magic bytes (Istio rejects such a module after pulling it).
    NotWasm,
    /// A tag that OCI does not allow (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
    InvalidTag(String),
    /// Not a `sha256:<64 lowercase hex>` digest.
    InvalidDigest(String),
    /// An image reference for the deploy manifests that is not `registry/repository` (no tag, no digest).
    InvalidImage(String),
    /// `--out` exists and is neither empty nor an OCI layout (never overwritten).
    NotALayout(PathBuf),
    /// A layout or image that is not what it should be, said in words.
    Invalid(String),
}

impl fmt::Display for OciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OciError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            OciError::NotWasm => write!(f, "not a Wasm module: it does not start with \\0asm"),
            OciError::InvalidTag(t) => {
                write!(
                    f,
                    "invalid tag `{t}`: use 1-128 of [A-Za-z0-9._-], not starting with . or -"
                )
            }
            OciError::InvalidDigest(d) => {
                write!(f, "invalid digest `{d}`: expected sha256:<64 lowercase hex>")
            }
            OciError::InvalidImage(i) => write!(
                f,
                "invalid image `{i}`: expected registry/repository without a tag or digest \
                 (e.g. registry.example.com/routewise)"
            ),
            OciError::NotALayout(p) => write!(
                f,
                "{}: exists and is neither empty nor an OCI layout; refusing to write into it",
                p.display()
            ),
            OciError::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for OciError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OciError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OciError + '_ {
    move |source| OciError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks an OCI tag (`[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, distribution-spec).
pub fn validate_tag(tag: &str) -> Result<(), OciError> {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if first_ok && rest_ok && tag.len() <= 128 {
        Ok(())
    } else {
        Err(OciError::InvalidTag(tag.to_string()))
    }
}

// ---------------------------------------------------------------------------------------------------------
// The JSON documents. Structs, not `json!`: field order is declaration order, whatever serde_json's features
// (`preserve_order` would change the order of `json!` maps between builds, and with it the digest).

/// An OCI content descriptor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Annotations (sorted by key).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MEDIA_TYPE_MANIFEST`] (optional in the spec when reading).
    #[serde(default)]
    pub media_type: String,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
    /// Manifest annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index (`index.json` of a layout).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// [`MEDIA_TYPE_INDEX`] (skopeo leaves it out of the `index.json` it writes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// The manifests, each tagged with [`ANNOTATION_REF_NAME`].
    pub manifests: Vec<Descriptor>,
}

/// The image config blob (only what an image config needs; runtimes check `rootfs.diff_ids`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `wasm`.
    pub architecture: String,
    /// `wasip1`.
    pub os: String,
    /// The layers' uncompressed digests.
    pub rootfs: RootFs,
}

/// `rootfs` of an image config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// sha256 of each layer's uncompressed tar, base first.
    pub diff_ids: Vec<String>,
}

fn to_json<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, OciError> {
    serde_json::to_vec(value).map_err(|e| OciError::Invalid(format!("serialising the {what}: {e}")))
}

// ---------------------------------------------------------------------------------------------------------
// Building

/// A blob and its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// sha256 of `bytes`.
    pub digest: Digest,
    /// The exact bytes stored under `blobs/sha256/<hex>`.
    pub bytes: Vec<u8>,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Blob {
        Blob {
            digest: Digest::of(&bytes),
            bytes,
        }
    }

    fn descriptor(&self, media_type: &str, annotations: BTreeMap<String, String>) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: self.digest.to_string(),
            size: self.bytes.len() as u64,
            annotations,
        }
    }
}

/// A built compat image: manifest, config and layer, all in memory (a filter is a few MB at most).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    manifest: Blob,
    config: Blob,
    layer: Blob,
    diff_id: Digest,
}

impl Image {
    /// Builds the compat image of `wasm` (which must start with the Wasm magic bytes).
    pub fn compat(wasm: &[u8]) -> Result<Image, OciError> {
        if !wasm.starts_with(WASM_MAGIC) {
            return Err(OciError::NotWasm);
        }
        let tar = deterministic_tar(&[TarEntry::file(PLUGIN_FILE, wasm)])
            .map_err(|e| OciError::Invalid(format!("writing the layer tar: {e}")))?;
        let diff_id = Digest::of(&tar);
        let layer = Blob::new(gzip(&tar).map_err(|e| OciError::Invalid(format!("gzip of the layer: {e}")))?);
        let config = Blob::new(to_json(
            &ImageConfig {
                architecture: "wasm".to_string(),
                os: "wasip1".to_string(),
                rootfs: RootFs {
                    kind: "layers".to_string(),
                    diff_ids: vec![diff_id.to_string()],
                },
            },
            "image config",
        )?);
        let manifest = Blob::new(to_json(
            &Manifest {
                schema_version: 2,
                media_type: MEDIA_TYPE_MANIFEST.to_string(),
                config: config.descriptor(MEDIA_TYPE_CONFIG, BTreeMap::new()),
                layers: vec![layer.descriptor(MEDIA_TYPE_LAYER, annotation(ANNOTATION_TITLE, PLUGIN_FILE))],
                annotations: annotation(ANNOTATION_VARIANT, VARIANT_COMPAT),
            },
            "manifest",
        )?);
        Ok(Image {
            manifest,
            config,
            layer,
            diff_id,
        })
    }

    /// The manifest digest: what a registry serves as `Docker-Content-Digest`, what `@sha256:` pins, and
    /// what Istio's `sha256` and Envoy Gateway's `image.sha256` compare with.
    pub fn digest(&self) -> &Digest {
        &self.manifest.digest
    }

    /// The manifest blob.
    pub fn manifest(&self) -> &Blob {
        &self.manifest
    }

    /// The config blob.
    pub fn config(&self) -> &Blob {
        &self.config
    }

    /// The layer blob (tar+gzip).
    pub fn layer(&self) -> &Blob {
        &self.layer
    }

    /// sha256 of the uncompressed layer tar (the config's `rootfs.diff_ids[0]`).
    pub fn diff_id(&self) -> &Digest {
        &self.diff_id
    }

    /// `index.json` for a layout holding this image under `tag`.
    pub fn index_json(&self, tag: &str) -> Result<Vec<u8>, OciError> {
        validate_tag(tag)?;
        to_json(
            &Index {
                schema_version: 2,
                media_type: MEDIA_TYPE_INDEX.to_string(),
                manifests: vec![self
                    .manifest
                    .descriptor(MEDIA_TYPE_MANIFEST, annotation(ANNOTATION_REF_NAME, tag))],
            },
            "index",
        )
    }

    /// The files of the layout, sorted by path: `blobs/sha256/<hex>` (3), `index.json`, `oci-layout`.
    fn layout_files(&self, tag: &str) -> Result<Vec<(String, Vec<u8>)>, OciError> {
        let mut files: Vec<(String, Vec<u8>)> = [&self.manifest, &self.config, &self.layer]
            .iter()
            .map(|b| (format!("blobs/sha256/{}", b.digest.hex()), b.bytes.clone()))
            .collect();
        files.push(("index.json".to_string(), self.index_json(tag)?));
        files.push(("oci-layout".to_string(), OCI_LAYOUT.as_bytes().to_vec()));
        files.sort();
        files.dedup_by(|a, b| a.0 == b.0);
        Ok(files)
    }

    /// Writes the OCI image layout into `dir` with this image tagged `tag`. `dir` is created if missing; if it
    /// exists it must be empty or a layout (it has `oci-layout`), whose `index.json` and `blobs/` are then
    /// replaced, so the layout holds exactly this image.
    pub fn write_layout(&self, dir: &Path, tag: &str) -> Result<(), OciError> {
        validate_tag(tag)?;
        if dir.exists() {
            let empty = fs::read_dir(dir).map_err(io_err(dir))?.next().is_none();
            if !empty && !dir.join("oci-layout").is_file() {
                return Err(OciError::NotALayout(dir.to_path_buf()));
            }
            let blobs = dir.join("blobs");
            if blobs.exists() {
                fs::remove_dir_all(&blobs).map_err(io_err(&blobs))?;
            }
        }
        let sha_dir = dir.join("blobs/sha256");
        fs::create_dir_all(&sha_dir).map_err(io_err(&sha_dir))?;
        for (rel, bytes) in self.layout_files(tag)? {
            let path = dir.join(rel);
            fs::write(&path, bytes).map_err(io_err(&path))?;
        }
        Ok(())
    }

    /// The layout as one uncompressed tar (skopeo's `oci-archive:`): directory entries `blobs/` and
    /// `blobs/sha256/`, then the files, sorted, with the same fixed metadata as the layer.
    pub fn layout_archive(&self, tag: &str) -> Result<Vec<u8>, OciError> {
        let files = self.layout_files(tag)?;
        let mut entries = vec![TarEntry::dir("blobs/"), TarEntry::dir("blobs/sha256/")];
        entries.extend(files.iter().map(|(p, b)| TarEntry::file(p, b)));
        deterministic_tar(&entries).map_err(|e| OciError::Invalid(format!("writing the layout archive: {e}")))
    }
}

fn annotation(key: &str, value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(key.to_string(), value.to_string())])
}

/// One entry of a [`deterministic_tar`].
#[derive(Clone, Copy, Debug)]
pub struct TarEntry<'a> {
    /// Path inside the tar (`name/` for a directory).
    pub path: &'a str,
    /// File content (`None`: a directory).
    pub data: Option<&'a [u8]>,
}

impl<'a> TarEntry<'a> {
    /// A regular file.
    pub fn file(path: &'a str, data: &'a [u8]) -> TarEntry<'a> {
        TarEntry {
            path,
            data: Some(data),
        }
    }

    /// A directory.
    pub fn dir(path: &'a str) -> TarEntry<'a> {
        TarEntry { path, data: None }
    }
}

/// A ustar archive of `entries`, sorted by path, every header with mtime 0, uid/gid 0, empty owner names and
/// mode 0644 (directories 0755): the same bytes for the same entries, whoever builds it, whenever.
pub fn deterministic_tar(entries: &[TarEntry<'_>]) -> io::Result<Vec<u8>> {
    let mut sorted: Vec<&TarEntry<'_>> = entries.iter().collect();
    sorted.sort_by_key(|e| e.path);
    let mut builder = tar::Builder::new(Vec::new());
    for entry in sorted {
        let mut header = tar::Header::new_ustar();
        header.set_path(entry.path)?;
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match entry.data {
            Some(data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(FILE_MODE);
                header.set_size(data.len() as u64);
                header.set_cksum();
                builder.append(&header, data)?;
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(DIR_MODE);
                header.set_size(0);
                header.set_cksum();
                builder.append(&header, io::empty())?;
            }
        }
    }
    builder.into_inner()
}

/// gzip with a fixed header: no file name, mtime 0, level [`GZIP_LEVEL`], OS byte [`GZIP_OS_UNKNOWN`].
pub fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS_UNKNOWN)
        .write(Vec::new(), Compression::new(GZIP_LEVEL));
    enc.write_all(data)?;
    enc.finish()
}

// ---------------------------------------------------------------------------------------------------------
// Reading back

/// An image read from a layout by [`read_layout`], every blob checked against its digest.
#[derive(Clone, Debug)]
pub struct PulledImage {
    /// The manifest's digest (the one `index.json` names, checked against the manifest's bytes).
    pub manifest_digest: Digest,
    /// The manifest.
    pub manifest: Manifest,
    /// The image config.
    pub config: ImageConfig,
    /// `plugin.wasm` from the layer.
    pub wasm: Vec<u8>,
}

/// Reads the image tagged `tag` from the OCI layout `dir` and checks it: `oci-layout` version 1.0.0, every
/// blob's sha256 and size against its descriptor, an OCI manifest with exactly one
/// `application/vnd.oci.image.layer.v1.tar+gzip` layer (Istio's rule for the compat variant), the config's
/// `diff_ids` against the uncompressed layer, and a `plugin.wasm` entry that is a Wasm module.
pub fn read_layout(dir: &Path, tag: &str) -> Result<PulledImage, OciError> {
    let layout_file = dir.join("oci-layout");
    let layout: serde_json::Value =
        serde_json::from_slice(&fs::read(&layout_file).map_err(io_err(&layout_file))?)
            .map_err(|e| OciError::Invalid(format!("{}: {e}", layout_file.display())))?;
    if layout.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
        return Err(OciError::Invalid(format!(
            "{}: imageLayoutVersion is not 1.0.0",
            layout_file.display()
        )));
    }
    let index_file = dir.join("index.json");
    let index: Index = serde_json::from_slice(&fs::read(&index_file).map_err(io_err(&index_file))?)
        .map_err(|e| OciError::Invalid(format!("{}: {e}", index_file.display())))?;
    let tagged: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(tag))
        .collect();
    let desc = match tagged.as_slice() {
        [one] => *one,
        [] => {
            return Err(OciError::Invalid(format!(
                "{}: no manifest tagged `{tag}`",
                index_file.display()
            )))
        }
        _ => {
            return Err(OciError::Invalid(format!(
                "{}: {} manifests tagged `{tag}`",
                index_file.display(),
                tagged.len()
            )))
        }
    };
    if desc.media_type != MEDIA_TYPE_MANIFEST {
        return Err(OciError::Invalid(format!(
            "`{tag}` is a {}, not an OCI image manifest",
            desc.media_type
        )));
    }
    let manifest_bytes = read_blob(dir, desc)?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| OciError::Invalid(format!("the manifest: {e}")))?;
    let layer_desc = match manifest.layers.as_slice() {
        [one] if one.media_type == MEDIA_TYPE_LAYER => one,
        layers => {
            return Err(OciError::Invalid(format!(
                "not a compat Wasm image: expected exactly one {MEDIA_TYPE_LAYER} layer, found {:?}",
                layers.iter().map(|l| l.media_type.as_str()).collect::<Vec<_>>()
            )))
        }
    };
    if manifest.config.media_type != MEDIA_TYPE_CONFIG {
        return Err(OciError::Invalid(format!(
            "config media type is {}, expected {MEDIA_TYPE_CONFIG}",
            manifest.config.media_type
        )));
    }
    let config: ImageConfig = serde_json::from_slice(&read_blob(dir, &manifest.config)?)
        .map_err(|e| OciError::Invalid(format!("the image config: {e}")))?;
    let layer = read_blob(dir, layer_desc)?;
    let (wasm, diff_id) = plugin_from_layer(&layer)?;
    if config.rootfs.diff_ids != [diff_id.to_string()] {
        return Err(OciError::Invalid(format!(
            "config rootfs.diff_ids {:?} do not match the layer's uncompressed digest {diff_id}",
            config.rootfs.diff_ids
        )));
    }
    Ok(PulledImage {
        manifest_digest: Digest::parse(&desc.digest)?,
        manifest,
        config,
        wasm,
    })
}

/// Reads the blob `desc` names, checking its digest and size.
fn read_blob(dir: &Path, desc: &Descriptor) -> Result<Vec<u8>, OciError> {
    // Parsing first also keeps the path inside blobs/sha256/ (hex digits only).
    let digest = Digest::parse(&desc.digest)?;
    let path = dir.join("blobs/sha256").join(digest.hex());
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    let actual = Digest::of(&bytes);
    if actual != digest || bytes.len() as u64 != desc.size {
        return Err(OciError::Invalid(format!(
            "{}: content is {actual} ({} bytes), the descriptor says {digest} ({} bytes)",
            path.display(),
            bytes.len(),
            desc.size
        )));
    }
    Ok(bytes)
}

/// `plugin.wasm` from a compat layer (tar+gzip), and the digest of the uncompressed tar (the diff id).
pub fn plugin_from_layer(layer_tgz: &[u8]) -> Result<(Vec<u8>, Digest), OciError> {
    let bad = |e: io::Error| OciError::Invalid(format!("the layer is not a tar+gzip: {e}"));
    let mut tar = Vec::new();
    GzDecoder::new(layer_tgz).read_to_end(&mut tar).map_err(bad)?;
    let diff_id = Digest::of(&tar);
    let mut archive = tar::Archive::new(tar.as_slice());
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        if path.trim_start_matches("./") == PLUGIN_FILE && entry.header().entry_type().is_file() {
            let mut wasm = Vec::new();
            entry.read_to_end(&mut wasm).map_err(bad)?;
            if !wasm.starts_with(WASM_MAGIC) {
                return Err(OciError::NotWasm);
            }
            return Ok((wasm, diff_id));
        }
    }
    Err(OciError::Invalid(format!("the layer has no {PLUGIN_FILE}")))
}

// ---------------------------------------------------------------------------------------------------------
// Deploy manifests

/// Checks an image reference for the deploy manifests: `registry/repository`, without tag or digest (they
/// add `@sha256:...`).
pub fn validate_image_name(image: &str) -> Result<(), OciError> {
    let bad = || OciError::InvalidImage(image.to_string());
    let repo_part = image.rsplit('/').next().unwrap_or_default();
    let ok = image.contains('/')
        && !image.contains('@')
        && !image.contains("://")
        && !repo_part.contains(':')
        && !image.starts_with('/')
        && !image.ends_with('/')
        && image
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Fills a deploy manifest template (`envoy/deploy/*.yaml.tmpl`): `{{IMAGE}}` becomes `image`
/// (`registry/repository`), `{{DIGEST}}` the manifest digest `sha256:<hex>` and `{{SHA256}}` its hex
/// digits. Any other `{{` left over is an error.
pub fn render_deploy_template(template: &str, image: &str, digest: &Digest) -> Result<String, OciError> {
    validate_image_name(image)?;
    let out = template
        .replace("{{IMAGE}}", image)
        .replace("{{DIGEST}}", digest.as_str())
        .replace("{{SHA256}}", digest.hex());
    match out.find("{{") {
        Some(at) => Err(OciError::Invalid(format!(
            "unknown placeholder in the template: {}",
            out.get(at..)
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or_default()
        ))),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests;

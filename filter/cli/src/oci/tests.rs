use super::*;

use std::sync::atomic::{AtomicU64, Ordering};

/// The smallest valid module (magic + version 1).
const MIN_WASM: &[u8] = b"\0asm\x01\0\0\0";

/// A module a little like a real one: magic, version, then bytes that compress.
fn module(n: usize) -> Vec<u8> {
    let mut m = MIN_WASM.to_vec();
    m.extend((0..n).map(|i| (i % 251) as u8));
    m
}

/// A fresh temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "routewise-oci-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

// ---------------------------------------------------------------------------------------------------------
// Reproducibility

#[test]
fn the_same_module_always_gives_the_same_manifest_digest() {
    let m = module(100_000);
    let a = Image::compat(&m).unwrap();
    let b = Image::compat(&m.clone()).unwrap();
    assert_eq!(a, b, "every blob is identical");
    assert_eq!(a.digest(), b.digest());
    let other = Image::compat(&module(100_001)).unwrap();
    assert_ne!(a.digest(), other.digest());
}

/// A golden digest: it pins every byte of the image (tar headers, gzip header and deflate stream, JSON
/// field order). If this fails after a dependency update (flate2/miniz_oxide change the deflate stream, tar
/// changes a header field), images built before and after differ: say so in the release notes, then update.
#[test]
fn the_minimal_module_has_a_known_digest() {
    let image = Image::compat(MIN_WASM).unwrap();
    assert_eq!(
        image.diff_id().as_str(),
        "sha256:69116e29dad538f91c7c5d999dc400570f40455fb24b26d513ee1eae117b0539",
        "uncompressed layer tar"
    );
    assert_eq!(
        image.digest().as_str(),
        "sha256:ac8bc17be0214ed6258f5a4c5f730a88e59cfc8059afd2da22af0a86fde31a8e",
        "manifest"
    );
    assert_eq!(image.layer().bytes.len(), 94);
}

// ---------------------------------------------------------------------------------------------------------
// The documents

#[test]
fn the_manifest_is_a_compat_image_with_one_titled_tar_gzip_layer() {
    let image = Image::compat(MIN_WASM).unwrap();
    let m = json(&image.manifest().bytes);
    assert_eq!(
        m,
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": image.config().digest.as_str(),
                "size": image.config().bytes.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": image.layer().digest.as_str(),
                "size": image.layer().bytes.len(),
                "annotations": {"org.opencontainers.image.title": "plugin.wasm"},
            }],
            "annotations": {"module.wasm.image/variant": "compat"},
        })
    );
    // Field order is fixed (the digest depends on it), whatever serde_json features are on.
    let text = String::from_utf8(image.manifest().bytes.clone()).unwrap();
    assert!(
        text.starts_with(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"#
        ),
        "{text}"
    );
}

#[test]
fn the_config_names_wasm_wasip1_and_the_uncompressed_layer_digest() {
    let image = Image::compat(&module(5000)).unwrap();
    assert_eq!(
        String::from_utf8(image.config().bytes.clone()).unwrap(),
        format!(
            r#"{{"architecture":"wasm","os":"wasip1","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            image.diff_id()
        )
    );
    let (_, diff_id) = plugin_from_layer(&image.layer().bytes).unwrap();
    assert_eq!(&diff_id, image.diff_id());
    assert_ne!(
        image.diff_id(),
        &image.layer().digest,
        "diff id is of the uncompressed tar"
    );
}

#[test]
fn the_index_tags_the_manifest_with_ref_name() {
    let image = Image::compat(MIN_WASM).unwrap();
    assert_eq!(
        json(&image.index_json("v0.1.0").unwrap()),
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": image.digest().as_str(),
                "size": image.manifest().bytes.len(),
                "annotations": {"org.opencontainers.image.ref.name": "v0.1.0"},
            }],
        })
    );
}

// ---------------------------------------------------------------------------------------------------------
// Tar and gzip bytes

#[test]
fn the_layer_tar_has_one_entry_with_fixed_metadata() {
    let wasm = module(3000);
    let image = Image::compat(&wasm).unwrap();
    let mut tar = Vec::new();
    GzDecoder::new(image.layer().bytes.as_slice())
        .read_to_end(&mut tar)
        .unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut entries = archive.entries().unwrap();
    let mut entry = entries.next().unwrap().unwrap();
    let h = entry.header().clone();
    assert_eq!(entry.path().unwrap().to_str(), Some("plugin.wasm"));
    assert_eq!(h.entry_type(), tar::EntryType::Regular);
    assert_eq!(h.mode().unwrap(), 0o644);
    assert_eq!(
        (h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()),
        (0, 0, 0)
    );
    assert_eq!(h.username().unwrap(), Some(""));
    assert_eq!(h.groupname().unwrap(), Some(""));
    assert_eq!(h.size().unwrap(), wasm.len() as u64);
    assert_eq!(&h.as_bytes()[257..265], b"ustar\x0000", "ustar magic and version");
    let mut content = Vec::new();
    entry.read_to_end(&mut content).unwrap();
    assert_eq!(content, wasm);
    assert!(entries.next().is_none(), "exactly one entry");
    // Header block + content padded to 512 + two zero blocks at the end.
    assert_eq!(tar.len(), 512 + wasm.len().div_ceil(512) * 512 + 1024);
}

#[test]
fn tar_entries_are_sorted_whatever_the_input_order() {
    let a = deterministic_tar(&[
        TarEntry::file("b", b"2"),
        TarEntry::dir("a/"),
        TarEntry::file("a/x", b"1"),
    ])
    .unwrap();
    let b = deterministic_tar(&[
        TarEntry::file("a/x", b"1"),
        TarEntry::file("b", b"2"),
        TarEntry::dir("a/"),
    ])
    .unwrap();
    assert_eq!(a, b);
    let mut archive = tar::Archive::new(a.as_slice());
    let listed: Vec<(String, u32)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                e.header().mode().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("a/".to_string(), 0o755),
            ("a/x".to_string(), 0o644),
            ("b".to_string(), 0o644)
        ]
    );
}

#[test]
fn the_gzip_header_is_fixed_no_name_mtime_zero_level_9_os_unknown() {
    let image = Image::compat(MIN_WASM).unwrap();
    let gz = &image.layer().bytes;
    // ID1 ID2 CM=deflate FLG=0 (no FNAME/FEXTRA/FCOMMENT) MTIME=0 XFL=2 (level 9) OS=255.
    assert_eq!(&gz[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
    // Trailer: CRC32 and ISIZE of the uncompressed tar.
    let mut tar = Vec::new();
    GzDecoder::new(gz.as_slice()).read_to_end(&mut tar).unwrap();
    let isize = u32::from_le_bytes(gz[gz.len() - 4..].try_into().unwrap());
    assert_eq!(isize as usize, tar.len());
}

// ---------------------------------------------------------------------------------------------------------
// The layout on disk and as an archive

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            out.extend(tree(&e.path()).into_iter().map(|p| format!("{name}/{p}")));
        } else {
            out.push(name);
        }
    }
    out.sort();
    out
}

#[test]
fn the_layout_has_oci_layout_index_and_one_file_per_blob_named_by_its_digest() {
    let image = Image::compat(&module(2000)).unwrap();
    let dir = TempDir::new();
    image.write_layout(&dir.0, "v1").unwrap();
    let mut want = vec![
        "index.json".to_string(),
        "oci-layout".to_string(),
        format!("blobs/sha256/{}", image.manifest().digest.hex()),
        format!("blobs/sha256/{}", image.config().digest.hex()),
        format!("blobs/sha256/{}", image.layer().digest.hex()),
    ];
    want.sort();
    assert_eq!(tree(&dir.0), want);
    assert_eq!(
        fs::read_to_string(dir.0.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    for blob in [image.manifest(), image.config(), image.layer()] {
        let bytes = fs::read(dir.0.join("blobs/sha256").join(blob.digest.hex())).unwrap();
        assert_eq!(Digest::of(&bytes), blob.digest);
    }
    assert_eq!(
        fs::read(dir.0.join("index.json")).unwrap(),
        image.index_json("v1").unwrap()
    );
}

#[test]
fn rewriting_a_layout_replaces_the_old_image() {
    let dir = TempDir::new();
    Image::compat(&module(10))
        .unwrap()
        .write_layout(&dir.0, "old")
        .unwrap();
    let image = Image::compat(&module(20)).unwrap();
    image.write_layout(&dir.0, "new").unwrap();
    assert_eq!(tree(&dir.0).len(), 5, "{:?}", tree(&dir.0));
    assert!(read_layout(&dir.0, "old").is_err());
    assert_eq!(read_layout(&dir.0, "new").unwrap().wasm, module(20));
}

#[test]
fn a_directory_that_is_not_a_layout_is_never_written_into() {
    let dir = TempDir::new();
    fs::create_dir_all(&dir.0).unwrap();
    fs::write(dir.0.join("precious.txt"), "keep").unwrap();
    let err = Image::compat(MIN_WASM)
        .unwrap()
        .write_layout(&dir.0, "v1")
        .unwrap_err();
    assert!(matches!(err, OciError::NotALayout(_)), "{err}");
    assert_eq!(tree(&dir.0), ["precious.txt"]);
}

#[test]
fn the_archive_is_the_layout_in_one_sorted_tar() {
    let image = Image::compat(&module(700)).unwrap();
    let archive = image.layout_archive("v2").unwrap();
    assert_eq!(archive, image.layout_archive("v2").unwrap(), "reproducible");
    let mut paths = Vec::new();
    let mut files = BTreeMap::new();
    for e in tar::Archive::new(archive.as_slice()).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let (uid, gid, mtime) = (
            e.header().uid().unwrap(),
            e.header().gid().unwrap(),
            e.header().mtime().unwrap(),
        );
        assert_eq!((uid, gid, mtime), (0, 0, 0), "{p}");
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        paths.push(p.clone());
        files.insert(p, data);
    }
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert_eq!(&paths[..2], ["blobs/", "blobs/sha256/"]);
    assert_eq!(files["index.json"], image.index_json("v2").unwrap());
    assert_eq!(
        files[&format!("blobs/sha256/{}", image.digest().hex())],
        image.manifest().bytes
    );
    assert_eq!(files.len(), 7);
}

// ---------------------------------------------------------------------------------------------------------
// Reading back

#[test]
fn a_written_layout_reads_back_to_the_same_digest_and_module() {
    let wasm = module(50_000);
    let image = Image::compat(&wasm).unwrap();
    let dir = TempDir::new();
    image.write_layout(&dir.0, "v0.1.0").unwrap();
    let back = read_layout(&dir.0, "v0.1.0").unwrap();
    assert_eq!(&back.manifest_digest, image.digest());
    assert_eq!(back.wasm, wasm);
    assert_eq!(back.config.architecture, "wasm");
    assert_eq!(back.manifest.annotations[ANNOTATION_VARIANT], VARIANT_COMPAT);
}

#[test]
fn a_tampered_blob_or_a_missing_tag_is_reported() {
    let image = Image::compat(&module(100)).unwrap();
    let dir = TempDir::new();
    image.write_layout(&dir.0, "v1").unwrap();
    let err = read_layout(&dir.0, "v2").unwrap_err().to_string();
    assert!(err.ends_with("index.json: no manifest tagged `v2`"), "{err}");

    let layer = dir.0.join("blobs/sha256").join(image.layer().digest.hex());
    let mut bytes = fs::read(&layer).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&layer, bytes).unwrap();
    let err = read_layout(&dir.0, "v1").unwrap_err().to_string();
    assert!(
        err.contains(&format!("the descriptor says {}", image.layer().digest)),
        "{err}"
    );
}

#[test]
fn a_digest_with_path_characters_never_reaches_the_file_system() {
    let dir = TempDir::new();
    Image::compat(MIN_WASM)
        .unwrap()
        .write_layout(&dir.0, "v1")
        .unwrap();
    let index = dir.0.join("index.json");
    let text = fs::read_to_string(&index).unwrap();
    let digest = Image::compat(MIN_WASM).unwrap().digest().to_string();
    fs::write(&index, text.replace(&digest, "sha256:../../../../etc/passwd")).unwrap();
    let err = read_layout(&dir.0, "v1").unwrap_err();
    assert!(matches!(err, OciError::InvalidDigest(_)), "{err}");
}

#[test]
fn a_layer_without_plugin_wasm_is_not_a_compat_image() {
    let tar = deterministic_tar(&[TarEntry::file("filter.wasm", MIN_WASM)]).unwrap();
    let err = plugin_from_layer(&gzip(&tar).unwrap()).unwrap_err().to_string();
    assert_eq!(err, "the layer has no plugin.wasm");
}

// ---------------------------------------------------------------------------------------------------------
// Inputs

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let err = Image::compat(b"#!/bin/sh\n").unwrap_err();
    assert!(matches!(err, OciError::NotWasm));
    assert_eq!(
        err.to_string(),
        "not a Wasm module: it does not start with \\0asm"
    );
}

#[test]
fn tags_follow_the_distribution_spec() {
    for ok in ["v0.1.0", "latest", "_x", "0", &"a".repeat(128)] {
        assert!(validate_tag(ok).is_ok(), "{ok}");
    }
    for bad in ["", ".v1", "-v1", "v1/x", "v1:2", "v 1", &"a".repeat(129)] {
        assert!(matches!(validate_tag(bad), Err(OciError::InvalidTag(_))), "{bad}");
    }
    assert_eq!(
        validate_tag("-x").unwrap_err().to_string(),
        "invalid tag `-x`: use 1-128 of [A-Za-z0-9._-], not starting with . or -"
    );
}

#[test]
fn digests_parse_only_as_sha256_lowercase_hex() {
    let d = Digest::of(b"");
    assert_eq!(
        d.as_str(),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
    assert_eq!(d.hex().len(), 64);
    for bad in [
        "e3b0c442",
        "sha512:00",
        &d.as_str().to_uppercase(),
        &format!("{d}0"),
    ] {
        assert!(Digest::parse(bad).is_err(), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Deploy templates

#[test]
fn templates_get_the_image_the_digest_and_its_hex() {
    let d = Digest::of(b"x");
    let out = render_deploy_template(
        "url: oci://{{IMAGE}}@{{DIGEST}}\nsha256: \"{{SHA256}}\"\n",
        "registry.example.com:5000/team/routewise",
        &d,
    )
    .unwrap();
    assert_eq!(
        out,
        format!(
            "url: oci://registry.example.com:5000/team/routewise@{d}\nsha256: \"{}\"\n",
            d.hex()
        )
    );
}

#[test]
fn templates_reject_unknown_placeholders_and_images_with_a_tag() {
    let d = Digest::of(b"x");
    let err = render_deploy_template("a: {{IMAGE}}\nb: {{TAG}}\n", "r.example/rw", &d).unwrap_err();
    assert_eq!(err.to_string(), "unknown placeholder in the template: {{TAG}}");
    for bad in [
        "routewise",
        "r.example/rw:v1",
        "r.example/rw@sha256:00",
        "oci://r.example/rw",
        "r.example/",
    ] {
        assert!(
            matches!(validate_image_name(bad), Err(OciError::InvalidImage(_))),
            "{bad}"
        );
    }
    assert!(validate_image_name("127.0.0.1:5000/routewise").is_ok());
}

//! The exchange package file (ADR 021): one zstd stream (with its content checksum) of
//! lines —
//!
//! ```text
//! JICENG-EXCHANGE 1
//! M {manifest}
//! R <digest> {record}          one per record
//! S {"algorithm":…,"key":…,"digest":…,"signature":…}
//! ```
//!
//! Each record's digest is the hash of its JSON as written; the signature signs the
//! hash of every byte before the `S` line, so nothing can be changed, added, cut or
//! reordered unseen. Hashes are SHA-256 with ed25519 keys and SM3 with SM2 keys (国密).
//! Packages are written and read as streams: the records are spooled to a temporary
//! file while the manifest counts them, and a reader verifies the whole file before
//! it hands out a single record.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use jiceng_domain::exchange::package::{Manifest, PackageRecord, RecordKind, Refusal, SCHEMA_VERSION};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use uuid::Uuid;

use super::{Limit, ReadLimits};

const FORMAT_LINE: &str = "JICENG-EXCHANGE 1";
/// SM2 signatures name the signer; regions use the standard's default identifier.
const SM2_DISTINGUISHING_ID: &str = "1234567812345678";

/// The signature algorithm of a key (and so the hash of a package).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Ed25519,
    /// SM2 signatures over SM3 hashes (GM/T 0003, GM/T 0004).
    Sm2,
}

impl Algorithm {
    pub fn key(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::Sm2 => "sm2",
        }
    }

    pub fn from_key(key: &str) -> Option<Algorithm> {
        match key.trim().to_ascii_lowercase().as_str() {
            "ed25519" => Some(Algorithm::Ed25519),
            "sm2" => Some(Algorithm::Sm2),
            _ => None,
        }
    }

    fn hasher(self) -> Hasher {
        match self {
            Algorithm::Ed25519 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sm2 => Hasher::Sm3(sm3::Sm3::new()),
        }
    }

    fn digest(self, bytes: &[u8]) -> String {
        let mut h = self.hasher();
        h.update(bytes);
        h.hex()
    }
}

enum Hasher {
    Sha256(sha2::Sha256),
    Sm3(sm3::Sm3),
}

impl Hasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sm3(h) => h.update(bytes),
        }
    }

    fn hex(self) -> String {
        match self {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sm3(h) => hex::encode(h.finalize()),
        }
    }
}

/// A key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("无法读取密钥文件 {path}：{source} / cannot read the key file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("无法写入密钥文件 {path}：{source} / cannot write the key file {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error(
        "{path} 不是 jiceng 交换{what}密钥文件：{detail} / {path} is not a jiceng exchange {what_en} key file: {detail}"
    )]
    Format { path: String, what: &'static str, what_en: &'static str, detail: String },
}

/// A region's public key: verifies what it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub algorithm: Algorithm,
    bytes: Vec<u8>,
}

/// A region's private key. It lives in a file (mode 0600) and never in the database.
#[derive(Clone)]
pub struct PrivateKey {
    pub algorithm: Algorithm,
    secret: [u8; 32],
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", self.algorithm.key())
    }
}

const PUBLIC_BEGIN: &str = "-----BEGIN JICENG EXCHANGE PUBLIC KEY-----";
const PUBLIC_END: &str = "-----END JICENG EXCHANGE PUBLIC KEY-----";
const PRIVATE_BEGIN: &str = "-----BEGIN JICENG EXCHANGE PRIVATE KEY-----";
const PRIVATE_END: &str = "-----END JICENG EXCHANGE PRIVATE KEY-----";

impl PublicKey {
    /// What people compare on the telephone: the first 16 bytes of the key's SHA-256, in hex.
    pub fn fingerprint(&self) -> String {
        let digest = sha2::Sha256::digest(&self.bytes);
        hex::encode(&digest[..16])
    }

    /// The key file's text (what `keygen` writes to `public.key` and the partner registers).
    pub fn to_text(&self) -> String {
        format!(
            "{PUBLIC_BEGIN}\nalgorithm: {}\nfingerprint: {}\n{}\n{PUBLIC_END}\n",
            self.algorithm.key(),
            self.fingerprint(),
            BASE64.encode(&self.bytes)
        )
    }

    /// Reads a public key file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<PublicKey, KeyError> {
        let (algorithm, bytes) = parse_key_text(text, PUBLIC_BEGIN, PUBLIC_END).map_err(|detail| KeyError::Format {
            path: path.into(),
            what: "公钥",
            what_en: "public",
            detail,
        })?;
        let key = PublicKey { algorithm, bytes };
        key.check().map_err(|detail| KeyError::Format {
            path: path.into(),
            what: "公钥",
            what_en: "public",
            detail,
        })?;
        Ok(key)
    }

    fn check(&self) -> Result<(), String> {
        match self.algorithm {
            Algorithm::Ed25519 => {
                let bytes: [u8; 32] = self
                    .bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| "ed25519 公钥应为 32 字节 / an ed25519 public key has 32 bytes".to_string())?;
                ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map(|_| ())
                    .map_err(|_| "不是有效的 ed25519 公钥 / not a valid ed25519 public key".into())
            }
            Algorithm::Sm2 => sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DISTINGUISHING_ID, &self.bytes)
                .map(|_| ())
                .map_err(|_| "不是有效的 SM2 公钥 / not a valid SM2 public key".into()),
        }
    }

    /// Whether `signature` is this key's over `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self.algorithm {
            Algorithm::Ed25519 => {
                use ed25519_dalek::Verifier;
                let (Ok(bytes), Ok(sig)) =
                    (<[u8; 32]>::try_from(self.bytes.as_slice()), <[u8; 64]>::try_from(signature))
                else {
                    return false;
                };
                ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .is_ok_and(|k| k.verify(message, &ed25519_dalek::Signature::from_bytes(&sig)).is_ok())
            }
            Algorithm::Sm2 => {
                use sm2::dsa::signature::Verifier;
                let Ok(key) = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DISTINGUISHING_ID, &self.bytes) else {
                    return false;
                };
                sm2::dsa::Signature::from_slice(signature).is_ok_and(|sig| key.verify(message, &sig).is_ok())
            }
        }
    }
}

impl PrivateKey {
    /// A new key from the operating system's random source.
    pub fn generate(algorithm: Algorithm) -> PrivateKey {
        use rand::TryRngCore;
        loop {
            let mut secret = [0u8; 32];
            // Without the operating system's randomness there is no safe key to make.
            #[allow(clippy::expect_used)]
            rand::rngs::OsRng.try_fill_bytes(&mut secret).expect("the operating system's random source");
            let key = PrivateKey { algorithm, secret };
            // An SM2 secret must lie in [1, n-1]; a draw outside it (about 2^-32) is redrawn.
            if key.sm2_key().is_ok() || algorithm == Algorithm::Ed25519 {
                return key;
            }
        }
    }

    fn sm2_key(&self) -> Result<sm2::dsa::SigningKey, String> {
        let secret =
            sm2::SecretKey::from_slice(&self.secret).map_err(|_| "SM2 私钥无效 / invalid SM2 secret".to_string())?;
        sm2::dsa::SigningKey::new(SM2_DISTINGUISHING_ID, &secret)
            .map_err(|_| "SM2 私钥无效 / invalid SM2 secret".into())
    }

    pub fn public(&self) -> PublicKey {
        let bytes = match self.algorithm {
            Algorithm::Ed25519 => {
                ed25519_dalek::SigningKey::from_bytes(&self.secret).verifying_key().to_bytes().to_vec()
            }
            Algorithm::Sm2 => match self.sm2_key() {
                Ok(key) => key.verifying_key().to_sec1_bytes().to_vec(),
                Err(_) => Vec::new(),
            },
        };
        PublicKey { algorithm: self.algorithm, bytes }
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self.algorithm {
            Algorithm::Ed25519 => {
                use ed25519_dalek::Signer;
                ed25519_dalek::SigningKey::from_bytes(&self.secret).sign(message).to_bytes().to_vec()
            }
            Algorithm::Sm2 => {
                use sm2::dsa::signature::Signer;
                match self.sm2_key() {
                    Ok(key) => {
                        let signature: sm2::dsa::Signature = key.sign(message);
                        signature.to_bytes().to_vec()
                    }
                    Err(_) => Vec::new(),
                }
            }
        }
    }

    pub fn to_text(&self) -> String {
        format!(
            "{PRIVATE_BEGIN}\nalgorithm: {}\nfingerprint: {}\n{}\n{PRIVATE_END}\n",
            self.algorithm.key(),
            self.public().fingerprint(),
            BASE64.encode(self.secret)
        )
    }

    pub fn parse(text: &str, path: &str) -> Result<PrivateKey, KeyError> {
        let format = |detail| KeyError::Format { path: path.into(), what: "私钥", what_en: "private", detail };
        let (algorithm, bytes) = parse_key_text(text, PRIVATE_BEGIN, PRIVATE_END).map_err(format)?;
        let secret: [u8; 32] =
            bytes.as_slice().try_into().map_err(|_| format("私钥应为 32 字节 / a private key has 32 bytes".into()))?;
        let key = PrivateKey { algorithm, secret };
        if algorithm == Algorithm::Sm2 {
            key.sm2_key().map_err(format)?;
        }
        Ok(key)
    }

    /// Reads a private key file.
    pub fn read(path: &Path) -> Result<PrivateKey, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read { path: shown.clone(), source })?;
        PrivateKey::parse(&text, &shown)
    }
}

impl PublicKey {
    pub fn read(path: &Path) -> Result<PublicKey, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read { path: shown.clone(), source })?;
        PublicKey::parse(&text, &shown)
    }
}

fn parse_key_text(text: &str, begin: &str, end: &str) -> Result<(Algorithm, Vec<u8>), String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some(begin) {
        return Err(format!("应以 {begin} 开头 / should begin with {begin}"));
    }
    let mut algorithm = None;
    let mut body = String::new();
    let mut ended = false;
    for line in lines {
        if line == end {
            ended = true;
            break;
        }
        if let Some(value) = line.strip_prefix("algorithm:") {
            algorithm = Some(Algorithm::from_key(value).ok_or_else(|| {
                format!(
                    "算法“{}”不受支持（ed25519 或 sm2）/ algorithm '{}' is not supported (ed25519 or sm2)",
                    value.trim(),
                    value.trim()
                )
            })?);
        } else if !line.contains(':') {
            body.push_str(line);
        }
    }
    if !ended {
        return Err(format!("缺少 {end} / {end} is missing"));
    }
    let algorithm = algorithm.ok_or("缺少 algorithm 行 / the algorithm line is missing")?;
    let bytes = BASE64.decode(body.as_bytes()).map_err(|_| "密钥不是 base64 / the key is not base64".to_string())?;
    Ok((algorithm, bytes))
}

/// Writes a new key pair into `dir`: `private.key` (mode 0600, never overwritten) and
/// `public.key`. Returns the public key.
pub fn keygen(dir: &Path, algorithm: Algorithm) -> Result<PublicKey, KeyError> {
    let write_err = |path: &Path| {
        let shown = path.display().to_string();
        move |source| KeyError::Write { path: shown, source }
    };
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let key = PrivateKey::generate(algorithm);
    let private = dir.join("private.key");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&private).map_err(write_err(&private))?;
    file.write_all(key.to_text().as_bytes()).and_then(|_| file.sync_all()).map_err(write_err(&private))?;
    let public = key.public();
    let public_path = dir.join("public.key");
    std::fs::write(&public_path, public.to_text()).map_err(write_err(&public_path))?;
    Ok(public)
}

/// The last line: what the signature covers and the signature.
#[derive(Debug, Serialize, Deserialize)]
struct SignatureLine {
    algorithm: String,
    key: String,
    /// The hash of every byte before this line.
    digest: String,
    signature: String,
}

/// What writing a package produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub manifest: Manifest,
    /// The signed hash of the package's content: its identity.
    pub digest: String,
    pub bytes: u64,
}

/// Writes a package: records are pushed one at a time (spooled), then `finish` writes
/// the manifest with their counts, the records and the signature.
pub struct PackageWriter {
    algorithm: Algorithm,
    spool: BufWriter<File>,
    counts: BTreeMap<String, u64>,
    n: u64,
}

impl PackageWriter {
    pub fn new(algorithm: Algorithm) -> std::io::Result<PackageWriter> {
        Ok(PackageWriter { algorithm, spool: BufWriter::new(tempfile::tempfile()?), counts: BTreeMap::new(), n: 0 })
    }

    pub fn records(&self) -> u64 {
        self.n
    }

    /// Adds a record; returns its position.
    pub fn push(&mut self, kind: RecordKind, id: Uuid, fields: BTreeMap<String, String>) -> std::io::Result<u64> {
        self.n += 1;
        let record = PackageRecord { n: self.n, id, kind: kind.key().to_string(), fields };
        let json = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
        let digest = self.algorithm.digest(&json);
        self.spool.write_all(b"R ")?;
        self.spool.write_all(digest.as_bytes())?;
        self.spool.write_all(b" ")?;
        self.spool.write_all(&json)?;
        self.spool.write_all(b"\n")?;
        *self.counts.entry(kind.key().to_string()).or_default() += 1;
        Ok(self.n)
    }

    /// Writes the package to `out`, signed with `key`. The manifest's counts, key and
    /// algorithm are filled in here.
    pub fn finish(self, mut manifest: Manifest, key: &PrivateKey, out: impl Write) -> std::io::Result<Written> {
        if key.algorithm != self.algorithm {
            return Err(std::io::Error::other("key algorithm differs from the writer's"));
        }
        manifest.counts = self.counts;
        manifest.schema_version = SCHEMA_VERSION;
        manifest.key = key.public().fingerprint();
        manifest.algorithm = self.algorithm.key().to_string();
        let mut spool = self.spool.into_inner().map_err(|e| e.into_error())?;
        spool.seek(SeekFrom::Start(0))?;
        let counter = Counting { inner: out, bytes: 0 };
        let mut encoder = zstd::Encoder::new(counter, 3)?;
        encoder.include_checksum(true)?;
        let mut hasher = self.algorithm.hasher();
        let mut emit = |bytes: &[u8], encoder: &mut zstd::Encoder<'_, Counting<_>>| -> std::io::Result<()> {
            hasher.update(bytes);
            encoder.write_all(bytes)
        };
        emit(FORMAT_LINE.as_bytes(), &mut encoder)?;
        emit(b"\nM ", &mut encoder)?;
        emit(&serde_json::to_vec(&manifest).map_err(std::io::Error::other)?, &mut encoder)?;
        emit(b"\n", &mut encoder)?;
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let read = spool.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            emit(&buffer[..read], &mut encoder)?;
        }
        let digest = hasher.hex();
        let signature = key.sign(digest.as_bytes());
        let line = SignatureLine {
            algorithm: self.algorithm.key().into(),
            key: manifest.key.clone(),
            digest: digest.clone(),
            signature: BASE64.encode(signature),
        };
        encoder.write_all(b"S ")?;
        encoder.write_all(&serde_json::to_vec(&line).map_err(std::io::Error::other)?)?;
        encoder.write_all(b"\n")?;
        let mut counter = encoder.finish()?;
        counter.flush()?;
        Ok(Written { manifest, digest, bytes: counter.bytes })
    }
}

struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A package whose every digest and whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub manifest: Manifest,
    pub digest: String,
}

/// Reads a package's manifest only (to see who sent it, before choosing the key).
pub fn read_manifest(path: &Path, limits: &ReadLimits) -> Result<Manifest, Refusal> {
    let mut lines = Lines::open(path, limits)?;
    read_head(&mut lines)
}

/// Verifies the package at `path`: its format, every record's digest, the counts of
/// the manifest and the signature with the key `key_for` gives for the manifest
/// (which may refuse it: an unknown sender, a wrong receiver, a key not registered).
/// Reads the file once, in bounded memory, within `limits`.
pub fn verify(
    path: &Path,
    limits: &ReadLimits,
    key_for: impl FnOnce(&Manifest) -> Result<PublicKey, Refusal>,
) -> Result<Verified, Refusal> {
    let mut lines = Lines::open(path, limits)?;
    let manifest = read_head(&mut lines)?;
    let key = key_for(&manifest)?;
    if key.fingerprint() != manifest.key {
        return Err(Refusal::WrongKey {
            partner: manifest.sender.as_str().to_string(),
            found: manifest.key.clone(),
            registered: key.fingerprint(),
        });
    }
    let algorithm = key.algorithm;
    if manifest.algorithm != algorithm.key() {
        return Err(Refusal::Damaged(format!(
            "清单所写算法“{}”与登记的密钥（{}）不符 / the manifest names algorithm '{}'; the registered key is {}",
            manifest.algorithm,
            algorithm.key(),
            manifest.algorithm,
            algorithm.key()
        )));
    }
    let package_kind = manifest.package_kind().ok_or_else(|| {
        Refusal::Damaged(format!("未知的交换包类型“{}” / unknown package kind '{}'", manifest.kind, manifest.kind))
    })?;
    if manifest.counts.keys().any(|k| RecordKind::from_key(k).is_none_or(|k| !package_kind.carries(k))) {
        return Err(Refusal::Damaged(
            "清单列有此类交换包不应有的记录类型 / the manifest counts kinds of record this package cannot carry".into(),
        ));
    }
    let mut hasher = algorithm.hasher();
    hasher.update(FORMAT_LINE.as_bytes());
    hasher.update(b"\n");
    hasher.update(lines.last_raw());
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut found = 0u64;
    loop {
        let Some(line) = lines.next_line()? else {
            return Err(Refusal::Truncated);
        };
        if let Some(rest) = line.strip_prefix(b"S ") {
            let signature: SignatureLine = serde_json::from_slice(rest)
                .map_err(|_| Refusal::Damaged("签名行不可读 / unreadable signature line".into()))?;
            if lines.next_line()?.is_some() {
                return Err(Refusal::Damaged("签名之后还有内容 / content after the signature".into()));
            }
            let digest = hasher.hex();
            if found != manifest.records() {
                return Err(Refusal::Count { declared: manifest.records(), found });
            }
            if counts != manifest.counts {
                return Err(Refusal::Damaged("各类记录数与清单不符 / counts by kind differ from the manifest".into()));
            }
            let bytes = BASE64.decode(signature.signature.as_bytes()).map_err(|_| Refusal::Signature)?;
            if signature.digest != digest || !key.verifies(digest.as_bytes(), &bytes) {
                return Err(Refusal::Signature);
            }
            return Ok(Verified { manifest, digest });
        }
        hasher.update(lines.last_raw());
        let record = record_of(&line, found + 1, algorithm)?;
        found += 1;
        if found > limits.max_rows {
            return Err(Refusal::Damaged(Limit::Rows(limits.max_rows).to_string()));
        }
        // Only the kinds this package may carry are counted: the map stays a few entries long.
        match RecordKind::from_key(&record.kind) {
            Some(kind) if package_kind.carries(kind) => *counts.entry(record.kind).or_default() += 1,
            _ => {
                return Err(Refusal::BadRecord {
                    n: record.n,
                    reason: format!(
                        "此类交换包不能有“{}”记录 / a {} package cannot carry '{}' records",
                        record.kind, manifest.kind, record.kind
                    ),
                });
            }
        }
    }
}

/// The records of a package `verify` accepted, from position `after` + 1, one at a
/// time. Each record's digest is checked again (not the signature): callers verify the
/// file first and compare its digest with what they verified.
pub fn records(path: &Path, limits: &ReadLimits, after: u64) -> Result<RecordStream, Refusal> {
    let mut lines = Lines::open(path, limits)?;
    let manifest = read_head(&mut lines)?;
    let algorithm = Algorithm::from_key(&manifest.algorithm).ok_or_else(|| {
        Refusal::Damaged(format!("算法“{}” / algorithm '{}'", manifest.algorithm, manifest.algorithm))
    })?;
    Ok(RecordStream { lines, algorithm, n: 0, after, done: false })
}

/// See [`records`].
pub struct RecordStream {
    lines: Lines,
    algorithm: Algorithm,
    n: u64,
    after: u64,
    done: bool,
}

impl Iterator for RecordStream {
    type Item = Result<PackageRecord, Refusal>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let line = match self.lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => {
                    self.done = true;
                    return Some(Err(Refusal::Truncated));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if line.starts_with(b"S ") {
                self.done = true;
                return None;
            }
            self.n += 1;
            if self.n <= self.after {
                continue;
            }
            let record = record_of(&line, self.n, self.algorithm);
            if record.is_err() {
                self.done = true;
            }
            return Some(record);
        }
        None
    }
}

fn record_of(line: &[u8], n: u64, algorithm: Algorithm) -> Result<PackageRecord, Refusal> {
    let damaged = || Refusal::Damaged(format!("第 {n} 条记录不可读 / record {n} cannot be read"));
    let rest = line.strip_prefix(b"R ").ok_or_else(damaged)?;
    let space = rest.iter().position(|b| *b == b' ').ok_or_else(damaged)?;
    let (digest, json) = (&rest[..space], &rest[space + 1..]);
    if algorithm.digest(json).as_bytes() != digest {
        return Err(Refusal::RecordDigest(n));
    }
    let record: PackageRecord = serde_json::from_slice(json).map_err(|_| damaged())?;
    if record.n != n {
        return Err(Refusal::Damaged(format!(
            "第 {n} 条记录的序号为 {} / record {n} is numbered {}",
            record.n, record.n
        )));
    }
    Ok(record)
}

fn read_head(lines: &mut Lines) -> Result<Manifest, Refusal> {
    match lines.next_line()? {
        Some(line) if line == FORMAT_LINE.as_bytes() => {}
        Some(line) if line.starts_with(b"JICENG-EXCHANGE ") => {
            let version = std::str::from_utf8(&line[16..]).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0);
            return Err(Refusal::Version(version));
        }
        _ => return Err(Refusal::NotAPackage),
    }
    let line = lines.next_line()?.ok_or(Refusal::Truncated)?;
    let json = line.strip_prefix(b"M ").ok_or_else(|| Refusal::Damaged("缺少清单 / the manifest is missing".into()))?;
    let manifest: Manifest = serde_json::from_slice(json)
        .map_err(|e| Refusal::Damaged(format!("清单不可读：{e} / the manifest cannot be read: {e}")))?;
    if manifest.schema_version != SCHEMA_VERSION {
        return Err(Refusal::Version(manifest.schema_version));
    }
    Ok(manifest)
}

/// Lines of the decompressed package, each bounded, the whole bounded in bytes and time.
struct Lines {
    reader: BufReader<zstd::Decoder<'static, BufReader<File>>>,
    buffer: Vec<u8>,
    /// The last line read, with its newline, as hashed.
    raw: Vec<u8>,
    unpacked: u64,
    limits: ReadLimits,
    started: Instant,
}

impl Lines {
    fn open(path: &Path, limits: &ReadLimits) -> Result<Lines, Refusal> {
        let file = File::open(path).map_err(|e| {
            Refusal::Damaged(format!("无法打开 {}：{e} / cannot open {}: {e}", path.display(), path.display()))
        })?;
        let decoder = zstd::Decoder::new(file).map_err(|_| Refusal::NotAPackage)?;
        Ok(Lines {
            reader: BufReader::with_capacity(1 << 16, decoder),
            buffer: Vec::new(),
            raw: Vec::new(),
            unpacked: 0,
            limits: *limits,
            started: Instant::now(),
        })
    }

    fn last_raw(&self) -> &[u8] {
        &self.raw
    }

    /// The next line without its newline; `None` at the end of the stream.
    fn next_line(&mut self) -> Result<Option<Vec<u8>>, Refusal> {
        self.buffer.clear();
        let max = self.limits.max_row_bytes as u64 + 1;
        let read = (&mut self.reader).take(max).read_until(b'\n', &mut self.buffer).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Refusal::Truncated
            } else if self.unpacked == 0 {
                Refusal::NotAPackage
            } else {
                Refusal::Damaged(format!("解压失败：{e} / cannot be unpacked: {e}"))
            }
        })?;
        if read == 0 {
            return Ok(None);
        }
        self.unpacked += read as u64;
        if self.unpacked > self.limits.max_unpacked_bytes {
            return Err(Refusal::Damaged(Limit::UnpackedBytes(self.limits.max_unpacked_bytes).to_string()));
        }
        if self.started.elapsed().as_secs() > self.limits.max_seconds {
            return Err(Refusal::Damaged(Limit::Seconds(self.limits.max_seconds).to_string()));
        }
        if self.buffer.last() != Some(&b'\n') {
            if read as u64 >= max {
                return Err(Refusal::Damaged(Limit::RowBytes(self.limits.max_row_bytes).to_string()));
            }
            // The stream ended in the middle of a line.
            return Err(Refusal::Truncated);
        }
        self.raw.clear();
        self.raw.extend_from_slice(&self.buffer);
        self.buffer.pop();
        Ok(Some(std::mem::take(&mut self.buffer)))
    }
}

#[cfg(test)]
mod tests;

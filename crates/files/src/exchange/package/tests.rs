use std::collections::BTreeMap;
use std::io::{Read, Write};

use jiceng_domain::exchange::package::{Manifest, PackageKind, RecordKind, Refusal};
use jiceng_domain::org::DivisionCode;
use proptest::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;

fn manifest() -> Manifest {
    let sender = DivisionCode::parse("440307").unwrap();
    let receiver = DivisionCode::parse("430702").unwrap();
    Manifest {
        sender_name: "龙岗区".into(),
        receiver_name: "武陵区".into(),
        fields: vec!["id_number".into()],
        ..Manifest::new(PackageKind::Exchange, sender, receiver, 1, OffsetDateTime::now_utc())
    }
}

fn fields(i: u64) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("record_no".to_string(), format!("r{i}")),
        ("changed_on".to_string(), "2026-05-01".to_string()),
        ("name".to_string(), format!("张三{i}")),
        ("region".to_string(), "440307".to_string()),
    ])
}

/// A package of `n` records signed with `key`, as bytes.
fn package(key: &PrivateKey, n: u64) -> (Vec<u8>, Written) {
    let mut writer = PackageWriter::new(key.algorithm).unwrap();
    for i in 0..n {
        let kind = if i % 3 == 0 { RecordKind::Death } else { RecordKind::Arrival };
        writer.push(kind, Uuid::now_v7(), fields(i)).unwrap();
    }
    let mut out = Vec::new();
    let written = writer.finish(manifest(), key, &mut out).unwrap();
    (out, written)
}

fn save(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file
}

fn unpack(bytes: &[u8]) -> String {
    let mut text = String::new();
    zstd::Decoder::new(bytes).unwrap().read_to_string(&mut text).unwrap();
    text
}

fn pack(text: &str) -> Vec<u8> {
    zstd::encode_all(text.as_bytes(), 3).unwrap()
}

fn check(bytes: &[u8], key: &PublicKey) -> Result<Verified, Refusal> {
    let file = save(bytes);
    verify(file.path(), &ReadLimits::default(), |_| Ok(key.clone()))
}

#[test]
fn a_package_verifies_and_reads_back_with_either_algorithm() {
    for algorithm in [Algorithm::Ed25519, Algorithm::Sm2] {
        let key = PrivateKey::generate(algorithm);
        let (bytes, written) = package(&key, 25);
        assert_eq!(written.manifest.counts, BTreeMap::from([("arrival".into(), 16), ("death".into(), 9)]));
        assert_eq!(written.bytes, bytes.len() as u64);
        let verified = check(&bytes, &key.public()).unwrap();
        assert_eq!(verified.digest, written.digest);
        assert_eq!(verified.manifest, written.manifest);
        let file = save(&bytes);
        let records: Vec<PackageRecord> =
            records(file.path(), &ReadLimits::default(), 0).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(records.len(), 25);
        assert_eq!(records[3].fields, fields(3));
        // Resuming after 20 hands out the last five.
        let rest: Vec<u64> = records_after(&bytes, 20);
        assert_eq!(rest, vec![21, 22, 23, 24, 25]);
    }
}

fn records_after(bytes: &[u8], after: u64) -> Vec<u64> {
    let file = save(bytes);
    records(file.path(), &ReadLimits::default(), after).unwrap().map(|r| r.unwrap().n).collect()
}

#[test]
fn the_wrong_key_is_named() {
    let key = PrivateKey::generate(Algorithm::Ed25519);
    let other = PrivateKey::generate(Algorithm::Ed25519);
    let (bytes, _) = package(&key, 3);
    assert!(matches!(check(&bytes, &other.public()), Err(Refusal::WrongKey { .. })));
    // A package signed by another key that claims the registered key's fingerprint.
    let (bytes, written) = package(&other, 3);
    let text = unpack(&bytes).replace(&written.manifest.key, &key.public().fingerprint());
    assert_eq!(check(&pack(&text), &key.public()), Err(Refusal::Signature));
}

#[test]
fn altered_records_are_refused() {
    let key = PrivateKey::generate(Algorithm::Ed25519);
    let (bytes, _) = package(&key, 5);
    let text = unpack(&bytes);
    // A record's text changed: its digest no longer matches.
    assert_eq!(check(&pack(&text.replacen("张三2", "李四2", 1)), &key.public()), Err(Refusal::RecordDigest(3)));
    // A record changed with its digest recomputed: the signature no longer matches.
    let lines: Vec<&str> = text.lines().collect();
    let json = lines[4].splitn(3, ' ').nth(2).unwrap().replace("张三2", "李四2");
    let forged = format!("R {} {json}", Algorithm::Ed25519.digest(json.as_bytes()));
    let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    changed[4] = forged;
    assert_eq!(check(&pack(&(changed.join("\n") + "\n")), &key.public()), Err(Refusal::Signature));
    // A record removed.
    let mut removed = lines.clone();
    removed.remove(3);
    assert!(matches!(
        check(&pack(&(removed.join("\n") + "\n")), &key.public()),
        Err(Refusal::Damaged(_) | Refusal::Count { .. })
    ));
    // Cut before the signature.
    let cut = lines[..lines.len() - 1].join("\n") + "\n";
    assert_eq!(check(&pack(&cut), &key.public()), Err(Refusal::Truncated));
    // Cut in the compressed bytes.
    assert!(check(&bytes[..bytes.len() * 2 / 3], &key.public()).is_err());
    // Not a package at all.
    assert_eq!(check(b"name,id\n", &key.public()), Err(Refusal::NotAPackage));
    assert_eq!(check(&pack("JICENG-EXCHANGE 7\nM {}\n"), &key.public()), Err(Refusal::Version(7)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Any one byte flipped anywhere in the file refuses the package.
    #[test]
    fn any_flipped_byte_is_refused(at in 0usize..10_000, bit in 0u8..8) {
        let key = PrivateKey::generate(Algorithm::Ed25519);
        let (mut bytes, _) = package(&key, 40);
        let at = at % bytes.len();
        bytes[at] ^= 1 << bit;
        prop_assert!(check(&bytes, &key.public()).is_err());
    }
}

#[test]
fn limits_hold() {
    let key = PrivateKey::generate(Algorithm::Ed25519);
    let (bytes, _) = package(&key, 50);
    let file = save(&bytes);
    let limits = ReadLimits { max_rows: 10, ..ReadLimits::default() };
    assert!(matches!(verify(file.path(), &limits, |_| Ok(key.public())), Err(Refusal::Damaged(_))));
    let limits = ReadLimits { max_unpacked_bytes: 1000, ..ReadLimits::default() };
    assert!(matches!(verify(file.path(), &limits, |_| Ok(key.public())), Err(Refusal::Damaged(_))));
    // One endless line.
    let long = pack(&format!("JICENG-EXCHANGE 1\nM {}\n", "x".repeat(200_000)));
    let limits = ReadLimits::default();
    assert!(matches!(verify(save(&long).path(), &limits, |_| Ok(key.public())), Err(Refusal::Damaged(_))));
}

#[test]
fn key_files_round_trip_and_private_keys_are_private() {
    let dir = tempfile::tempdir().unwrap();
    for algorithm in [Algorithm::Ed25519, Algorithm::Sm2] {
        let at = dir.path().join(algorithm.key());
        let public = keygen(&at, algorithm).unwrap();
        let private = PrivateKey::read(&at.join("private.key")).unwrap();
        assert_eq!(private.public(), public);
        assert_eq!(PublicKey::read(&at.join("public.key")).unwrap(), public);
        let signature = private.sign(b"hello");
        assert!(public.verifies(b"hello", &signature));
        assert!(!public.verifies(b"hellp", &signature));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(at.join("private.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second keygen into the same folder does not overwrite the key.
        assert!(keygen(&at, algorithm).is_err());
        assert_eq!(PrivateKey::read(&at.join("private.key")).unwrap().public(), public);
    }
    let err = PublicKey::parse("hello", "x.key").unwrap_err().to_string();
    assert!(err.contains("x.key") && err.contains("public"), "{err}");
}

#[test]
fn records_of_kinds_a_package_cannot_carry_are_refused_before_they_are_counted() {
    let key = PrivateKey::generate(Algorithm::Ed25519);
    // An acknowledgement that carries a death.
    let mut writer = PackageWriter::new(key.algorithm).unwrap();
    writer.push(RecordKind::Death, Uuid::now_v7(), fields(1)).unwrap();
    let mut out = Vec::new();
    let ack = Manifest { kind: PackageKind::Acknowledgement.key().into(), ..manifest() };
    writer.finish(ack, &key, &mut out).unwrap();
    assert!(matches!(check(&out, &key.public()), Err(Refusal::Damaged(_))));
    // A record of a kind nobody knows, its digest made to fit: refused at that record,
    // before the signature (which it would fail too).
    let (bytes, _) = package(&key, 3);
    let text = unpack(&bytes);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let json = lines[3]
        .splitn(3, ' ')
        .nth(2)
        .unwrap()
        .replace("\"kind\":\"arrival\"", &format!("\"kind\":\"{}\"", "x".repeat(500)));
    let mut changed = lines.clone();
    changed[3] = format!("R {} {json}", Algorithm::Ed25519.digest(json.as_bytes()));
    assert!(matches!(check(&pack(&(changed.join("\n") + "\n")), &key.public()), Err(Refusal::BadRecord { n: 2, .. })));
}

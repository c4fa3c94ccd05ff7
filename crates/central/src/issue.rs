//! Issuing codes with the structure of protocol.md §5.3: per-group serial length and crypto tail,
//! tobacco packs (29 characters, base-80 MRP) and blocks (AI 8005), NCP packs.

use marking::group;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::crypto::derive;
use crate::store::{CodeRecord, PackageKind, Status};

/// The 80 characters of generated serials: GS1 set 82 without `(` and `)`, keeping the awkward
/// ones real codes carry (`"`, `%`, `&`, `<`, …).
const SERIAL: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!\"%&'*+-./_,:;=<>?";

/// Groups with an expiry check (protocol.md §2.2 case 6); their codes get an expiry date.
const EXPIRY_GROUPS: [u16; 16] = [
    8, 10, 13, 15, 17, 19, 20, 21, 22, 23, 26, 32, 33, 35, 37, 43,
];

/// What to issue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IssueSpec {
    /// Product group id.
    pub pg: u16,
    pub count: usize,
    #[serde(default)]
    pub status: Status,
    /// GTIN of the batch; a random valid one when absent.
    #[serde(default)]
    pub gtin: Option<String>,
    /// Tobacco: MRP in kopecks (pack: base-80 field; block: AI 8005). Default 15 000 / 150 000.
    #[serde(default)]
    pub mrp: Option<u32>,
    /// Tobacco blocks (group packs of 10) instead of packs.
    #[serde(default)]
    pub blocks: bool,
    #[serde(default)]
    pub owner_inn: Option<String>,
    #[serde(default)]
    pub producer_inn: Option<String>,
    /// Expiry (ms, UTC); groups with an expiry check get one in 180 days by default.
    #[serde(default)]
    pub expire_ms: Option<i64>,
    /// Block every issued code right away, with these `ogvs` (may be empty).
    #[serde(default)]
    pub block: Option<Vec<String>>,
}

/// One issued code.
#[derive(Debug, Clone, PartialEq)]
pub struct Issued {
    pub km: String,
    pub ki: String,
    pub record: CodeRecord,
}

enum Shape {
    /// GS1: serial length, optional 8005 MRP, crypto (None = AI 93, Some(n) = AI 91 + 92 of n).
    Gs1 {
        serial: usize,
        mrp: Option<u32>,
        signature: Option<usize>,
    },
    /// 29-character pack: GTIN 14, serial 7, MRP 4, crypto 4.
    Pack { mrp: u32 },
}

fn shape(spec: &IssueSpec) -> Shape {
    let short = |serial| Shape::Gs1 {
        serial,
        mrp: None,
        signature: None,
    };
    let long = |serial, sig| Shape::Gs1 {
        serial,
        mrp: None,
        signature: Some(sig),
    };
    match spec.pg {
        group::TOBACCO if spec.blocks => Shape::Gs1 {
            serial: 7,
            mrp: Some(spec.mrp.unwrap_or(150_000)),
            signature: None,
        },
        group::TOBACCO => Shape::Pack {
            mrp: spec.mrp.unwrap_or(15_000),
        },
        group::NCP => Shape::Pack {
            mrp: spec.mrp.unwrap_or(0),
        },
        group::OTP => Shape::Gs1 {
            serial: 7,
            mrp: spec.mrp,
            signature: None,
        },
        group::SHOES => long(13, 88),
        1 | 4 | 5 | 9 | 10 | 14 | 26 => long(13, 44),
        group::ELECTRONICS | 28 => long(20, 44),
        group::MILK | 20 | 21 | 27 | 32 | 35 | 45 => short(6),
        group::BEER | 22 => short(7),
        _ => short(13),
    }
}

/// A random valid GTIN-14: `0460…` for goods, `0000046…` for tobacco/NCP packs.
pub fn random_gtin(rng: &mut impl Rng, pack: bool) -> String {
    let prefix = if pack { "0000046" } else { "046" };
    let mut digits = prefix.to_string();
    while digits.len() < 13 {
        digits.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    let check = marking::gtin::check_digit(digits.as_bytes());
    digits.push(char::from(b'0' + check));
    digits
}

/// The GTIN the spec issues under: the given one (checked) or a random one.
pub fn batch_gtin(spec: &IssueSpec, rng: &mut impl Rng) -> Result<String, String> {
    let pack = matches!(shape(spec), Shape::Pack { .. });
    match &spec.gtin {
        None => Ok(random_gtin(rng, pack)),
        Some(g) if g.len() == 14 && g.bytes().all(|b| b.is_ascii_digit()) => {
            marking::gtin::verify(g.as_bytes()).map_err(|e| format!("gtin {g}: {e}"))?;
            Ok(g.clone())
        }
        Some(g) => Err(format!("gtin {g:?}: a GTIN is 14 digits")),
    }
}

/// Generates `count` codes of one GTIN (not yet stored).
pub fn generate(
    seed: u64,
    spec: &IssueSpec,
    gtin: &str,
    count: usize,
    now_ms: i64,
    rng: &mut impl Rng,
) -> Vec<Issued> {
    generate_as(seed, &shape(spec), spec, gtin, count, now_ms, rng)
}

fn generate_as(
    seed: u64,
    shape: &Shape,
    spec: &IssueSpec,
    gtin: &str,
    count: usize,
    now_ms: i64,
    rng: &mut impl Rng,
) -> Vec<Issued> {
    let record = CodeRecord {
        pg: spec.pg,
        status: spec.status,
        produced_ms: Some(now_ms),
        expire_ms: spec.expire_ms.or_else(|| {
            EXPIRY_GROUPS
                .contains(&spec.pg)
                .then_some(now_ms + 180 * 86_400_000)
        }),
        owner_inn: spec.owner_inn.clone(),
        producer_inn: spec.producer_inn.clone(),
        package: if spec.pg == group::TOBACCO && spec.blocks {
            PackageKind::Group
        } else {
            PackageKind::Unit
        },
        package_quantity: (spec.pg == group::TOBACCO && spec.blocks).then_some(10),
        ..CodeRecord::default()
    };
    let mut out = Vec::with_capacity(count);
    let mut serial = String::new();
    // The codes of one batch share their first two serial characters (the rest is random), so
    // a batch lands in one region of the stores' B-trees: issuing stays linear at 10^7 codes.
    let mut batch_prefix = String::new();
    let serial_len = match *shape {
        Shape::Pack { .. } => 7,
        Shape::Gs1 { serial, .. } => serial,
    };
    if serial_len >= 6 {
        random_serial(rng, 2, &mut batch_prefix);
    }
    // Short serials can repeat within a big batch; every KI of a batch is distinct.
    let mut seen: std::collections::HashSet<String> =
        std::collections::HashSet::with_capacity(count);
    while out.len() < count {
        let (km, ki) = match *shape {
            Shape::Pack { mrp } => {
                random_serial(rng, 7 - batch_prefix.len(), &mut serial);
                serial.insert_str(0, &batch_prefix);
                let ki = format!("{gtin}{serial}");
                let payload = format!("{ki}{}", marking::mrp::encode(mrp));
                let crypto = derive(seed, "pack", &payload, 4);
                (format!("{payload}{crypto}"), ki)
            }
            Shape::Gs1 {
                serial: len,
                mrp,
                signature,
            } => {
                random_serial(rng, len - batch_prefix.len(), &mut serial);
                serial.insert_str(0, &batch_prefix);
                let ki = format!("01{gtin}21{serial}");
                let mut payload = ki.clone();
                let mut km = ki.clone();
                if let Some(mrp) = mrp {
                    payload.push_str(&format!("8005{mrp:06}"));
                    km.push_str(&format!("\u{1d}8005{mrp:06}"));
                }
                match signature {
                    None => km.push_str(&format!("\u{1d}93{}", derive(seed, "93", &payload, 4))),
                    Some(len) => {
                        km.push_str(&format!("\u{1d}91{}", derive(seed, "91", &payload, 4)));
                        km.push_str(&format!("\u{1d}92{}", derive(seed, "92", &payload, len)));
                    }
                }
                (km, ki)
            }
        };
        if seen.insert(ki.clone()) {
            out.push(Issued {
                km,
                ki,
                record: record.clone(),
            });
        }
    }
    out
}

fn random_serial(rng: &mut impl Rng, len: usize, out: &mut String) {
    out.clear();
    for _ in 0..len {
        out.push(SERIAL[rng.random_range(0..SERIAL.len())] as char);
    }
}

#[cfg(test)]
mod tests {
    use marking::{Format, MarkingCode};

    use super::*;
    use crate::crypto::{Verdict, verify};

    #[test]
    fn every_group_issues_codes_that_parse_and_verify() {
        let mut rng = rand::rng();
        for g in marking::group::ALL {
            for blocks in [false, true] {
                let spec = IssueSpec {
                    pg: g.id,
                    count: 50,
                    blocks,
                    ..IssueSpec::default()
                };
                let gtin = batch_gtin(&spec, &mut rng).expect("gtin");
                for code in generate(42, &spec, &gtin, 50, 0, &mut rng) {
                    let parsed = MarkingCode::parse(&code.km)
                        .unwrap_or_else(|e| panic!("pg {} code {:?}: {e}", g.id, code.km));
                    assert_eq!(parsed.ki(), code.ki, "pg {}", g.id);
                    assert_eq!(parsed.gtin(), gtin);
                    assert_eq!(
                        verify(42, &parsed),
                        Verdict::Valid,
                        "pg {} {:?}",
                        g.id,
                        code.km
                    );
                }
            }
        }
    }

    #[test]
    fn tobacco_packs_carry_the_mrp_and_blocks_carry_8005() {
        let mut rng = rand::rng();
        let pack = IssueSpec {
            pg: 3,
            count: 1,
            mrp: Some(14_630),
            ..IssueSpec::default()
        };
        let gtin = batch_gtin(&pack, &mut rng).expect("gtin");
        let code = &generate(1, &pack, &gtin, 1, 0, &mut rng)[0];
        let parsed = MarkingCode::parse(&code.km).expect("parses");
        assert_eq!(parsed.format(), Format::Pack29);
        assert_eq!(&code.km[21..25], "ACW.");
        assert_eq!(parsed.mrp(), Some(14_630));

        let block = IssueSpec {
            blocks: true,
            mrp: Some(199_000),
            ..pack
        };
        let code = &generate(1, &block, &gtin, 1, 0, &mut rng)[0];
        let parsed = MarkingCode::parse(&code.km).expect("parses");
        assert_eq!(parsed.value_of("8005"), Some("199000"));
        assert_eq!(code.record.package_quantity, Some(10));
    }

    #[test]
    fn a_batch_never_repeats_a_ki() {
        // One-character serials: 80 possible, so 80 random draws repeat without the check.
        let spec = IssueSpec {
            pg: 8,
            count: 80,
            ..IssueSpec::default()
        };
        let shape = Shape::Gs1 {
            serial: 1,
            mrp: None,
            signature: None,
        };
        let mut rng = rand::rng();
        let codes = generate_as(1, &shape, &spec, "04670540176099", 80, 0, &mut rng);
        assert_eq!(codes.len(), 80);
        let kis: std::collections::HashSet<_> = codes.iter().map(|c| c.ki.clone()).collect();
        assert_eq!(kis.len(), 80);
    }

    #[test]
    fn a_given_gtin_must_be_valid() {
        let mut rng = rand::rng();
        let spec = |g: &str| IssueSpec {
            pg: 8,
            gtin: Some(g.into()),
            ..IssueSpec::default()
        };
        assert!(batch_gtin(&spec("04670540176099"), &mut rng).is_ok());
        assert!(batch_gtin(&spec("04670540176098"), &mut rng).is_err());
        assert!(batch_gtin(&spec("4670540176099"), &mut rng).is_err());
    }
}

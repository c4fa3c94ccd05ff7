//! Issuing codes with the structure of protocol.md §5.3: per-group serial length and crypto tail,
//! tobacco packs (29 characters, base-80 MRP) and blocks (AI 8005), NCP packs.

use marking::group;
use rand::Rng;
use serde::{Deserialize, Serialize};

use std::fmt::Write;

use crate::crypto::derive_into;
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
    /// Production date (ms, UTC), answered as `productionDate`; the moment of issue by default.
    #[serde(default)]
    pub produced_ms: Option<i64>,
    /// Block every issued code right away, with these `ogvs` (may be empty).
    #[serde(default)]
    pub block: Option<Vec<String>>,
    /// `innerUnitCount` of every code (protocol.md §1.7): units in the pack (ATP, perfume,
    /// medical devices), keg volume in ml (beer), weight in g (dairy). Such codes may be sold
    /// in parts (`sell` with `units`), which moves `soldUnitCount`.
    #[serde(default)]
    pub inner_units: Option<u64>,
    /// Dairy sold by weight, in grams: in the code as AI 3103 (kg with 3 decimals, so the
    /// same digits), answered as `productWeight` and, unless given, `innerUnitCount`.
    #[serde(default)]
    pub weight_g: Option<u32>,
}

/// Groups whose codes may carry `innerUnitCount` (protocol.md §1.7): perfumery, milk, medical
/// devices, alternative tobacco, beer, non-alcoholic beer.
pub const UNIT_GROUPS: [u16; 6] = [4, group::MILK, 10, group::OTP, group::BEER, 22];

/// Whether the unit fields of `spec` fit its group; the reason when not.
pub fn check_units(spec: &IssueSpec) -> Result<(), String> {
    if let Some(units) = spec.inner_units {
        if units == 0 {
            return Err("inner_units: must be at least 1".into());
        }
        if !UNIT_GROUPS.contains(&spec.pg) {
            return Err(format!(
                "inner_units: pg {} has no innerUnitCount (only perfumery, milk, wheelchairs, otp, beer, nabeer)",
                spec.pg
            ));
        }
    }
    if let Some(weight) = spec.weight_g {
        if spec.pg != group::MILK {
            return Err(format!(
                "weight_g: only milk (pg 8) is sold by weight, not pg {}",
                spec.pg
            ));
        }
        if !(1..=999_999).contains(&weight) {
            return Err(format!("weight_g {weight}: AI 3103 holds 1..=999999 g"));
        }
    }
    Ok(())
}

/// Whether the dates of `spec` fit together: nothing is produced after it expires.
pub fn check_dates(spec: &IssueSpec) -> Result<(), String> {
    match (spec.produced_ms, spec.expire_ms) {
        (Some(produced), Some(expire)) if produced > expire => Err(format!(
            "produced_ms {produced} is after expire_ms {expire}: a product expires after it is made"
        )),
        _ => Ok(()),
    }
}

/// One issued code: the KM, whose first `ki_len` bytes are its KI (a KI is always a prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    km: String,
    ki_len: usize,
    /// The first 8 random serial characters as a big-endian number: the codes of a batch
    /// share everything before them, so this orders them as their KIs do (ties: the KIs).
    order: u64,
}

impl Code {
    fn new(km: String, ki_len: usize, random_from: usize) -> Self {
        let mut order = [0u8; 8];
        let random = &km.as_bytes()[random_from..ki_len];
        let n = random.len().min(8);
        order[..n].copy_from_slice(&random[..n]);
        Self {
            km,
            ki_len,
            order: u64::from_be_bytes(order),
        }
    }

    pub fn km(&self) -> &str {
        &self.km
    }

    pub fn ki(&self) -> &str {
        &self.km[..self.ki_len]
    }

    pub fn into_km(self) -> String {
        self.km
    }
}

/// Codes of one GTIN made together: one record for all, the codes sorted by KI and distinct
/// (sorted, a batch lands in one region of the store's B-trees).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub record: CodeRecord,
    pub codes: Vec<Code>,
}

/// Codes one generating thread makes at least (smaller batches stay on one thread).
const PER_THREAD: usize = 20_000;

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

/// Generates `count` distinct codes of one GTIN (not yet stored), on several threads when
/// the batch is big.
pub fn generate(seed: u64, spec: &IssueSpec, gtin: &str, count: usize, now_ms: i64) -> Batch {
    generate_as(seed, &shape(spec), spec, gtin, count, now_ms)
}

fn record_of(spec: &IssueSpec, now_ms: i64) -> CodeRecord {
    let blocks = spec.pg == group::TOBACCO && spec.blocks;
    let inner = spec.inner_units.or(spec.weight_g.map(u64::from));
    CodeRecord {
        pg: spec.pg,
        status: spec.status,
        produced_ms: Some(spec.produced_ms.unwrap_or(now_ms)),
        expire_ms: spec.expire_ms.or_else(|| {
            EXPIRY_GROUPS
                .contains(&spec.pg)
                .then_some(now_ms + 180 * 86_400_000)
        }),
        owner_inn: spec.owner_inn.clone(),
        producer_inn: spec.producer_inn.clone(),
        package: if blocks {
            PackageKind::Group
        } else {
            PackageKind::Unit
        },
        package_quantity: blocks.then_some(10),
        inner_unit_count: inner,
        // The counter of sold (and returned) units starts at nothing, or at all for sold codes.
        sold_unit_count: inner.map(|all| if spec.status == Status::Sold { all } else { 0 }),
        product_weight: spec.weight_g,
        ..CodeRecord::default()
    }
}

fn generate_as(
    seed: u64,
    shape: &Shape,
    spec: &IssueSpec,
    gtin: &str,
    count: usize,
    now_ms: i64,
) -> Batch {
    let serial_len = match *shape {
        Shape::Pack { .. } => 7,
        Shape::Gs1 { serial, .. } => serial,
    };
    // The codes of one batch share their first two serial characters (the rest is random), so
    // a batch lands in one region of the stores' B-trees: issuing stays linear at 10^7 codes.
    let mut prefix = String::new();
    if serial_len >= 6 {
        random_serial(&mut rand::rng(), 2, &mut prefix);
    }
    let maker = Maker {
        seed,
        shape,
        gtin,
        prefix: &prefix,
        serial_len,
        weight: spec.weight_g,
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count / PER_THREAD)
        .max(1);
    let mut codes = if threads == 1 {
        maker.make(count)
    } else {
        let share = count.div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = (0..threads)
                .map(|t| {
                    let n = share.min(count - (t * share).min(count));
                    scope.spawn(move || maker.make(n))
                })
                .collect();
            let mut all = Vec::with_capacity(count);
            for part in parts {
                // A generating thread does not panic (no input reaches it unchecked).
                all.extend(part.join().unwrap_or_default());
            }
            all
        })
    };
    // Random serials repeat now and then (short serials often): make up for the repeats.
    loop {
        codes.sort_unstable_by(|a, b| a.order.cmp(&b.order).then_with(|| a.ki().cmp(b.ki())));
        codes.dedup_by(|a, b| a.order == b.order && a.ki() == b.ki());
        if codes.len() >= count {
            break;
        }
        let more = maker.make(count - codes.len());
        codes.extend(more);
    }
    Batch {
        record: record_of(spec, now_ms),
        codes,
    }
}

/// Makes codes of one shape and GTIN.
#[derive(Clone, Copy)]
struct Maker<'a> {
    seed: u64,
    shape: &'a Shape,
    gtin: &'a str,
    prefix: &'a str,
    serial_len: usize,
    /// Dairy by weight: AI 3103 after the crypto part, covered by it.
    weight: Option<u32>,
}

impl Maker<'_> {
    fn make(&self, count: usize) -> Vec<Code> {
        let mut rng = rand::rng();
        let mut out = Vec::with_capacity(count);
        let mut payload = String::with_capacity(64);
        let random_len = self.serial_len - self.prefix.len();
        let pack_mrp = match *self.shape {
            Shape::Pack { mrp } => marking::mrp::encode(mrp),
            Shape::Gs1 { .. } => String::new(),
        };
        for _ in 0..count {
            let code = match *self.shape {
                Shape::Pack { .. } => {
                    let mut km = String::with_capacity(29);
                    km.push_str(self.gtin);
                    km.push_str(self.prefix);
                    push_random(&mut rng, random_len, &mut km);
                    let ki_len = km.len();
                    km.push_str(&pack_mrp);
                    payload.clear();
                    payload.push_str(&km);
                    derive_into(self.seed, "pack", &payload, 4, &mut km);
                    Code::new(km, ki_len, ki_len - random_len)
                }
                Shape::Gs1 { mrp, signature, .. } => {
                    let tail = match signature {
                        None => 7,
                        Some(n) => 14 + n,
                    };
                    let mut km = String::with_capacity(20 + self.serial_len + 22 + tail);
                    km.push_str("01");
                    km.push_str(self.gtin);
                    km.push_str("21");
                    km.push_str(self.prefix);
                    push_random(&mut rng, random_len, &mut km);
                    let ki_len = km.len();
                    payload.clear();
                    payload.push_str(&km);
                    if let Some(mrp) = mrp {
                        let _ = write!(payload, "8005{mrp:06}");
                        let _ = write!(km, "\u{1d}8005{mrp:06}");
                    }
                    if let Some(weight) = self.weight {
                        let _ = write!(payload, "3103{weight:06}");
                    }
                    match signature {
                        None => {
                            km.push_str("\u{1d}93");
                            derive_into(self.seed, "93", &payload, 4, &mut km);
                        }
                        Some(len) => {
                            km.push_str("\u{1d}91");
                            derive_into(self.seed, "91", &payload, 4, &mut km);
                            km.push_str("\u{1d}92");
                            derive_into(self.seed, "92", &payload, len, &mut km);
                        }
                    }
                    if let Some(weight) = self.weight {
                        let _ = write!(km, "\u{1d}3103{weight:06}");
                    }
                    Code::new(km, ki_len, ki_len - random_len)
                }
            };
            out.push(code);
        }
        out
    }
}

fn random_serial(rng: &mut impl Rng, len: usize, out: &mut String) {
    out.clear();
    push_random(rng, len, out);
}

/// Appends `len` random serial characters; one 64-bit draw gives 9 of them (80^9 < 2^64).
fn push_random(rng: &mut impl Rng, len: usize, out: &mut String) {
    let mut left = len;
    while left > 0 {
        let mut draw: u64 = rng.random();
        for _ in 0..left.min(9) {
            out.push(SERIAL[(draw % SERIAL.len() as u64) as usize] as char);
            draw /= SERIAL.len() as u64;
        }
        left -= left.min(9);
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
                let batch = generate(42, &spec, &gtin, 50, 0);
                assert_eq!(batch.codes.len(), 50);
                for code in &batch.codes {
                    let parsed = MarkingCode::parse(code.km())
                        .unwrap_or_else(|e| panic!("pg {} code {:?}: {e}", g.id, code.km()));
                    assert_eq!(parsed.ki(), code.ki(), "pg {}", g.id);
                    assert_eq!(parsed.gtin(), gtin);
                    assert_eq!(
                        verify(42, &parsed),
                        Verdict::Valid,
                        "pg {} {:?}",
                        g.id,
                        code.km()
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
        let code = &generate(1, &pack, &gtin, 1, 0).codes[0];
        let parsed = MarkingCode::parse(code.km()).expect("parses");
        assert_eq!(parsed.format(), Format::Pack29);
        assert_eq!(&code.km()[21..25], "ACW.");
        assert_eq!(parsed.mrp(), Some(14_630));

        let block = IssueSpec {
            blocks: true,
            mrp: Some(199_000),
            ..pack
        };
        let batch = generate(1, &block, &gtin, 1, 0);
        let parsed = MarkingCode::parse(batch.codes[0].km()).expect("parses");
        assert_eq!(parsed.value_of("8005"), Some("199000"));
        assert_eq!(batch.record.package_quantity, Some(10));
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
        let codes = generate_as(1, &shape, &spec, "04670540176099", 80, 0).codes;
        assert_eq!(codes.len(), 80);
        let kis: std::collections::HashSet<_> = codes.iter().map(Code::ki).collect();
        assert_eq!(kis.len(), 80);
        assert!(codes.windows(2).all(|w| w[0].ki() < w[1].ki()), "sorted");
    }

    #[test]
    fn dairy_by_weight_carries_3103_under_the_crypto_and_units_fit_their_groups() {
        let spec = IssueSpec {
            pg: 8,
            count: 3,
            weight_g: Some(353),
            ..IssueSpec::default()
        };
        assert_eq!(check_units(&spec), Ok(()));
        let batch = generate(9, &spec, "04670540176099", 3, 0);
        assert_eq!(
            (batch.record.product_weight, batch.record.inner_unit_count),
            (Some(353), Some(353))
        );
        assert_eq!(batch.record.sold_unit_count, Some(0));
        for code in &batch.codes {
            let parsed = MarkingCode::parse(code.km()).expect("parses");
            assert_eq!(parsed.value_of("3103"), Some("000353"));
            assert_eq!(parsed.ki(), code.ki());
            assert_eq!(verify(9, &parsed), Verdict::Valid);
            // The weight is under the crypto: another weight does not verify.
            let other = code.km().replace("3103000353", "3103000354");
            let other = MarkingCode::parse(&other).expect("parses");
            assert_eq!(verify(9, &other), Verdict::Invalid);
        }
        let keg = IssueSpec {
            pg: 15,
            inner_units: Some(50_000),
            ..IssueSpec::default()
        };
        assert_eq!(check_units(&keg), Ok(()));
        let record = generate(9, &keg, "04670540176099", 1, 0).record;
        assert_eq!(
            (record.inner_unit_count, record.sold_unit_count),
            (Some(50_000), Some(0))
        );
        assert_eq!(record.product_weight, None);
        for bad in [
            IssueSpec {
                pg: 3,
                inner_units: Some(20),
                ..IssueSpec::default()
            },
            IssueSpec {
                pg: 15,
                inner_units: Some(0),
                ..IssueSpec::default()
            },
            IssueSpec {
                pg: 15,
                weight_g: Some(500),
                ..IssueSpec::default()
            },
            IssueSpec {
                pg: 8,
                weight_g: Some(1_000_000),
                ..IssueSpec::default()
            },
        ] {
            assert!(check_units(&bad).is_err(), "{bad:?}");
        }
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

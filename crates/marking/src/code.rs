//! A parsed marking code: canonical KM, KI, GTIN, serial, MRP and a product-group hint.

use crate::group::{self, ProductGroup};
use crate::gs1::{self, Element, GS};
use crate::{CodeError, gtin, mrp, normalize};

/// The two shapes a Chestny Znak code comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// GS1 element string: `01` GTIN `21` serial, GS, crypto part, optional extra AIs.
    Gs1,
    /// The 29-character tobacco/NCP consumer-pack code: GTIN 14, serial 7, MRP 4, crypto 4.
    Pack29,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Gs1 => "gs1",
            Format::Pack29 => "pack29",
        }
    }
}

/// Serial lengths of protocol.md §5.3, used only when the GS separators were lost.
pub const SERIAL_LENGTHS: [usize; 4] = [6, 7, 13, 20];

const PACK_LEN: usize = 29;
const PACK_KI_LEN: usize = 21;

/// A marking code parsed from any accepted input form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkingCode {
    km: String,
    format: Format,
    /// The KI is `km[..n]` when 21 follows 01 directly (every ЧЗ code); `None` when 17 or 10
    /// stood between them and the KI has to be assembled.
    ki_prefix: Option<usize>,
    elements: Vec<Element>,
    mrp: Option<u32>,
}

impl MarkingCode {
    /// Normalises `input` (scanner text, transport escapes, brackets, Base64) and parses it.
    pub fn parse(input: impl AsRef<[u8]>) -> Result<Self, CodeError> {
        let km = normalize(input.as_ref())?;
        Self::from_canonical(km)
    }

    fn from_canonical(km: String) -> Result<Self, CodeError> {
        let b = km.as_bytes();
        if is_pack_shaped(b, PACK_LEN) {
            return Self::pack(km);
        }
        if is_pack_shaped(b, PACK_KI_LEN) {
            return Self::pack_ki(km);
        }
        if !b.starts_with(b"01") {
            return Err(CodeError::MissingGtin {
                found: km.chars().take(2).collect(),
                len: km.len(),
            });
        }
        let lost_gs = !b.contains(&GS) && b.len() > 18 && b[16..18] == *b"21";
        let (km, elements) = if lost_gs {
            split_lost_gs(&km)?
        } else {
            let elements = parse_gs1(b)?;
            (km, elements)
        };
        let gtin = &elements[0];
        gtin::verify(&km.as_bytes()[gtin.start..gtin.end])?;
        let serial = elements
            .iter()
            .find(|e| e.ai == "21")
            .ok_or(CodeError::MissingSerial)?;
        // ЧЗ codes put 21 right after 01, so the KI is the prefix up to the first GS.
        let ki_prefix = (serial.start == 18).then_some(serial.end);
        let mrp = elements
            .iter()
            .find(|e| e.ai == gs1::BLOCK_MRP.ai)
            .and_then(|e| km[e.start..e.end].parse().ok());
        Ok(MarkingCode {
            km,
            format: Format::Gs1,
            ki_prefix,
            elements,
            mrp,
        })
    }

    fn pack(km: String) -> Result<Self, CodeError> {
        let b = km.as_bytes();
        gtin::verify(&b[..14])?;
        let mrp = mrp::decode_at(&b[21..25], 21)?;
        let elements = pack_elements();
        Ok(MarkingCode {
            km,
            format: Format::Pack29,
            ki_prefix: Some(PACK_KI_LEN),
            elements,
            mrp: Some(mrp),
        })
    }

    /// The KI of a pack (first 21 characters of the 29): what a till sends to the module.
    fn pack_ki(km: String) -> Result<Self, CodeError> {
        gtin::verify(&km.as_bytes()[..14])?;
        Ok(MarkingCode {
            km,
            format: Format::Pack29,
            ki_prefix: Some(PACK_KI_LEN),
            elements: pack_elements(),
            mrp: None,
        })
    }

    /// The canonical KM with real GS bytes: what goes online to `codes/check`.
    pub fn km(&self) -> &str {
        &self.km
    }

    /// The KI (KM without crypto tail, and for packs without MRP): what goes to the local
    /// module and to `/cis/sell`; equals `printView` of the online answer.
    pub fn ki(&self) -> String {
        match self.ki_prefix {
            Some(len) => self.km[..len].to_owned(),
            None => format!("01{}21{}", self.gtin(), self.serial()),
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// GTIN-14, check digit verified.
    pub fn gtin(&self) -> &str {
        self.value_of("01").unwrap_or_default()
    }

    pub fn serial(&self) -> &str {
        self.value_of("21").unwrap_or_default()
    }

    /// MRP in kopecks: from the pack code's base-80 field or from AI 8005 of a block.
    pub fn mrp(&self) -> Option<u32> {
        self.mrp
    }

    /// True when the code carries its crypto part (a KM, not just a KI).
    pub fn has_crypto(&self) -> bool {
        match self.format {
            Format::Pack29 => self.km.len() == PACK_LEN,
            Format::Gs1 => self.elements.iter().any(|e| gs1::is_crypto(e.ai)),
        }
    }

    /// The value of an AI, if the code has it.
    pub fn value_of(&self, ai: &str) -> Option<&str> {
        self.elements
            .iter()
            .find(|e| e.ai == ai)
            .map(|e| &self.km[e.start..e.end])
    }

    /// Every element as (AI, value), in code order.
    pub fn elements(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.elements
            .iter()
            .map(|e| (e.ai, &self.km[e.start..e.end]))
    }

    /// The product group the code's structure points to, where it is distinctive.
    pub fn pg_hint(&self) -> Option<&'static ProductGroup> {
        ProductGroup::by_id(self.pg_hint_id()?)
    }

    fn pg_hint_id(&self) -> Option<u16> {
        if self.format == Format::Pack29 {
            // Tobacco packs always print a price; NCP packs carry zero (guide App. 2 case 16).
            return match self.mrp {
                Some(0) => Some(group::NCP),
                Some(_) => Some(group::TOBACCO),
                None => None, // a pack KI without its price: tobacco or NCP
            };
        }
        let has = |ai: &str| self.value_of(ai).is_some();
        let weight_or_volume =
            |prefix: &str| self.elements.iter().any(|e| e.ai.starts_with(prefix));
        if has("8005") {
            Some(group::TOBACCO)
        } else if weight_or_volume("310") {
            Some(group::MILK)
        } else if weight_or_volume("335") {
            Some(group::BEER)
        } else if has("240") || self.value_of("92").is_some_and(|s| s.len() == 88) {
            Some(group::SHOES)
        } else if self.serial().len() == 20 && has("92") {
            Some(group::ELECTRONICS)
        } else {
            None
        }
    }
}

/// GTIN and serial of a pack code; the pack format has no AIs, these name the parts.
fn pack_elements() -> Vec<Element> {
    vec![
        Element {
            ai: gs1::GTIN.ai,
            start: 0,
            end: 14,
            gs_after: false,
        },
        Element {
            ai: gs1::SERIAL.ai,
            start: 14,
            end: PACK_KI_LEN,
            gs_after: false,
        },
    ]
}

/// protocol.md §5.4: 29 characters (21 for its KI), no GS, 14 leading digits, and not
/// `^0[12]\d{14}21`.
fn is_pack_shaped(b: &[u8], len: usize) -> bool {
    b.len() == len
        && !b.contains(&GS)
        && b[..14].iter().all(u8::is_ascii_digit)
        && !(b[0] == b'0'
            && matches!(b[1], b'1' | b'2')
            && b[2..16].iter().all(u8::is_ascii_digit)
            && b[16..18] == *b"21")
}

fn parse_gs1(b: &[u8]) -> Result<Vec<Element>, CodeError> {
    let elements = gs1::parse_elements(b)?;
    debug_assert_eq!(elements.first().map(|e| e.ai), Some("01"));
    Ok(elements)
}

/// A GS1 code without any GS: everything after `21` was read as the serial. Split it by the
/// per-group serial lengths when exactly one reading exists (protocol.md §5.5 item 8).
fn split_lost_gs(km: &str) -> Result<(String, Vec<Element>), CodeError> {
    let b = km.as_bytes();
    let rest = &b[18..];
    let readings: Vec<(usize, Vec<Element>)> = SERIAL_LENGTHS
        .iter()
        .filter(|&&len| len < rest.len())
        .filter_map(|&len| Some((len, gs1::read_tail_without_gs(&rest[len..], 18 + len)?)))
        .collect();
    let whole_is_serial = rest.len() <= 20;
    let whole_is_typical = SERIAL_LENGTHS.contains(&rest.len());
    match readings.as_slice() {
        [] if whole_is_serial => Ok((km.to_owned(), parse_gs1(b)?)),
        [] => Err(CodeError::Unsplittable { len: rest.len() }),
        [(len, tail)] if !whole_is_typical => {
            let serial_end = 18 + len;
            gs1::check_charset(&gs1::GTIN, &b[2..16], 2)?;
            gs1::check_charset(&gs1::SERIAL, &b[18..serial_end], 18)?;
            let mut elements = vec![
                Element {
                    ai: gs1::GTIN.ai,
                    start: 2,
                    end: 16,
                    gs_after: false,
                },
                Element {
                    ai: gs1::SERIAL.ai,
                    start: 18,
                    end: serial_end,
                    gs_after: false,
                },
            ];
            elements.extend(tail.iter().cloned());
            let canonical = rebuild(km, &mut elements);
            Ok((canonical, elements))
        }
        _ => {
            let mut lengths: Vec<usize> = readings.iter().map(|(l, _)| *l).collect();
            if whole_is_serial {
                lengths.push(rest.len());
            }
            Err(CodeError::AmbiguousSplit {
                len: rest.len(),
                lengths,
            })
        }
    }
}

/// Renders elements as canonical text: a GS after each variable-length element that is not
/// last, none after fixed-length ones; fixes the element positions to match.
fn rebuild(text: &str, elements: &mut [Element]) -> String {
    let mut out = String::with_capacity(text.len());
    let n = elements.len();
    for (i, e) in elements.iter_mut().enumerate() {
        let value = text[e.start..e.end].to_owned();
        out.push_str(e.ai);
        e.start = out.len();
        out.push_str(&value);
        e.end = out.len();
        let variable = gs1::lookup_exact(e.ai.as_bytes())
            .is_some_and(|s| matches!(s.length, gs1::Length::Variable(_)));
        e.gs_after = variable && i + 1 < n;
        if e.gs_after {
            out.push(char::from(GS));
        }
    }
    out
}

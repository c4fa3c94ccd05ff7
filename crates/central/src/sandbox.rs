//! The 21 test codes of the operator's sandbox (protocol.md §1.14), loaded so that each answers
//! as the guide says. Codes are written with real GS bytes.

use serde_json::json;

use crate::check::parse_date;
use crate::error::StoreError;
use crate::faults::Fault;
use crate::store::{CodeRecord, Db, DocChange, PackageKind, Status, Store};

/// One guide case: number, KM (GS as `\u{1d}`), and what it tests.
pub struct Case {
    pub number: u8,
    pub km: &'static str,
    pub expect: &'static str,
}

pub const CASES: [Case; 21] = [
    Case {
        number: 1,
        km: "0104670540176099215'W9Um\u{1d}93dGVz",
        expect: "utilised=false",
    },
    Case {
        number: 2,
        km: "0104670540176099215LnOjv\u{1d}93dGVz",
        expect: "realizable=false, utilised=true, sold=false",
    },
    Case {
        number: 3,
        km: "010462930887704421DzkcYt2\u{1d}8005177000\u{1d}93dGVz",
        expect: "tobacco realizable=false, grayZone=true",
    },
    Case {
        number: 4,
        km: "0104670540176099215NN*cM\u{1d}93dGVz",
        expect: "sold=true",
    },
    Case {
        number: 5,
        km: "0104602220006549215opFcmK\u{1d}93dGVz",
        expect: "isBlocked=true",
    },
    Case {
        number: 6,
        km: "0104670540176099215<pGKy\u{1d}93dGVz",
        expect: "expireDate=2022-12-22T12:16:00.000Z",
    },
    Case {
        number: 7,
        km: "010461013628057121/798DM%\u{1d}8005199000\u{1d}93dGVz",
        expect: "block MRP 199000",
    },
    Case {
        number: 8,
        km: "04601653035829H;dV)bFACVUdGVz",
        expect: "pack MRP 14500",
    },
    Case {
        number: 9,
        km: "04601653035829H;vE)bFACVUdGVz",
        expect: "found=false",
    },
    Case {
        number: 10,
        km: "0104670540176099215<pGKy\u{1d}93DGVz",
        expect: "verified=false",
    },
    Case {
        number: 11,
        km: "0104670540176099215!pGKy\u{1d}93dGVz",
        expect: "HTTP 504",
    },
    Case {
        number: 12,
        km: "0104670540176099215LpGKy\u{1d}93dGVz",
        expect: "HTTP 203",
    },
    Case {
        number: 13,
        km: "0104670540176099215PpGKy\u{1d}93dGVz",
        expect: "HTTP 500",
    },
    Case {
        number: 14,
        km: "0104670540176099215MpGKy\u{1d}93dGVz",
        expect: "2 s delay",
    },
    Case {
        number: 15,
        km: "0104813445003293215TmiV,g\u{1d}93dGVz",
        expect: "HTTP 500 with code 5000",
    },
    Case {
        number: 16,
        km: "00840147505712Zz;ZnRbAAAAdGVz",
        expect: "NCP mrp=20000",
    },
    Case {
        number: 17,
        km: "010085060000025821WbUN7If\u{1d}93dGVz",
        expect: "ATP mrp=20000",
    },
    Case {
        number: 18,
        km: "010461013628057121/798DM%\u{1d}8005199000\u{1d}93dGVz",
        expect: "block smp=20000, packageQuantity=10",
    },
    Case {
        number: 19,
        km: "04601653035829H;dV)bFADI8dGVz",
        expect: "pack smp=20000",
    },
    Case {
        number: 20,
        km: "0108607405401894215cC3O4\u{1d}93dGVz",
        expect: "isBlocked=true, ogvs=[VETRF]",
    },
    Case {
        number: 21,
        km: "01046700190342882151aj\"K>X+mFcP\u{1d}93dGVz",
        expect: "isBlocked=true, ogvs=[RD]",
    },
];

fn km(number: u8) -> &'static str {
    CASES[usize::from(number) - 1].km
}

/// A sandbox code record: introduced, fixed KMs, group `pg`.
fn record(pg: u16, numbers: &[u8]) -> CodeRecord {
    CodeRecord {
        pg,
        fixed_kms: numbers.iter().map(|n| km(*n).to_string()).collect(),
        ..CodeRecord::default()
    }
}

fn ki(km: &str) -> String {
    // The sandbox codes are fixtures of the marking crate's tests; they all parse.
    marking::ki(km).unwrap_or_default()
}

/// Loads (or reloads) the 21 cases. Idempotent.
pub fn load(store: &Store) -> Result<(), StoreError> {
    let with = |mut r: CodeRecord, f: &dyn Fn(&mut CodeRecord)| {
        f(&mut r);
        r
    };
    let milk = marking::group::MILK;
    let tobacco = marking::group::TOBACCO;
    let block = |r: &mut CodeRecord| {
        r.package = PackageKind::Group;
        r.package_quantity = Some(10);
    };
    let expired = parse_date("2022-12-22T12:16:00.000Z");
    let codes = vec![
        (1, with(record(milk, &[1]), &|r| r.status = Status::Emitted)),
        (2, with(record(milk, &[2]), &|r| r.status = Status::Applied)),
        (
            3,
            with(record(tobacco, &[3]), &|r| {
                r.status = Status::Applied;
                r.gray_zone = true;
                block(r);
            }),
        ),
        (4, with(record(milk, &[4]), &|r| r.status = Status::Sold)),
        (5, record(marking::group::BEER, &[5])),
        (6, with(record(milk, &[6]), &|r| r.expire_ms = expired)),
        (7, with(record(tobacco, &[7]), &block)),
        (8, record(tobacco, &[8, 19])),
        (
            11,
            with(record(milk, &[11]), &|r| {
                r.fault = Some(Fault::GatewayTimeout)
            }),
        ),
        (
            12,
            with(record(milk, &[12]), &|r| r.fault = Some(Fault::Emergency)),
        ),
        (
            13,
            with(record(milk, &[13]), &|r| {
                r.fault = Some(Fault::InternalError)
            }),
        ),
        (
            14,
            with(record(milk, &[14]), &|r| {
                r.fault = Some(Fault::Delay { ms: 2000 })
            }),
        ),
        (
            15,
            with(record(milk, &[15]), &|r| {
                r.fault = Some(Fault::ExternalUnavailable)
            }),
        ),
        (16, record(marking::group::NCP, &[16])),
        (17, record(marking::group::OTP, &[17])),
        (20, record(milk, &[20])),
        (21, record(13, &[21])),
    ];
    let codes: Vec<(String, CodeRecord)> = codes.into_iter().map(|(n, r)| (ki(km(n)), r)).collect();
    store.put_codes(&codes)?;

    let gtin_of = |n: u8| {
        ki(km(n)).get(..2).map_or_else(String::new, |p| {
            let k = ki(km(n));
            if p == "01" {
                k[2..16].to_string()
            } else {
                k[..14].to_string()
            }
        })
    };
    store.block_codes(&[(ki(km(5)), gtin_of(5))], Some(&["RPN".to_string()]))?;
    store.block_codes(&[(ki(km(20)), gtin_of(20))], Some(&["VETRF".to_string()]))?;
    store.block_codes(&[(ki(km(21)), gtin_of(21))], Some(&["RD".to_string()]))?;

    let price = |n: u8, field: &str| DocChange::Put {
        id: gtin_of(n),
        body: json!({ field: 20000 })
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    store.apply(
        Db::MinPrice,
        &[
            price(16, "mrp"),
            price(17, "mrp"),
            price(18, "smp"),
            price(19, "smp"),
        ],
    )?;
    Ok(())
}

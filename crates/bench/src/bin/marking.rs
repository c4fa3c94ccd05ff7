//! Code normalisation + KI extraction, one core. Target (design.md §8): ≥ 2 M codes/s.
//!
//! `cargo run -p bench --release --bin marking [-- N]`

use std::hint::black_box;
use std::time::Instant;

use bench::{Table, machine_line, ns_per_op, rate};

/// Synthetic codes in the shapes tills send, built from the guide's sandbox samples.
fn inputs(n: usize) -> Vec<(&'static str, Vec<String>)> {
    let serial = |i: usize| format!("{:06}", i % 1_000_000).replace('0', "A");
    let gs1 = |i: usize| format!("0104670540176099215{}\x1d93dGVz", &serial(i)[1..]);
    vec![
        ("GS1, real GS byte", (0..n).map(gs1).collect()),
        (
            "GS1, `\\u001d` text",
            (0..n).map(|i| gs1(i).replace('\x1d', "\\u001d")).collect(),
        ),
        (
            "GS1, AIM prefix + <GS>",
            (0..n)
                .map(|i| format!("]d2{}", gs1(i).replace('\x1d', "<GS>")))
                .collect(),
        ),
        (
            "pack29 (tobacco)",
            (0..n)
                .map(|i| {
                    format!(
                        "04601653035829{}ACVUdGVz",
                        &format!("{:07}", i)[..7].replace('0', "z")
                    )
                })
                .collect(),
        ),
        (
            "GS1, GS lost (split by length)",
            (0..n).map(|i| gs1(i).replace('\x1d', "")).collect(),
        ),
    ]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    println!("marking: normalise + parse + KI, single thread, {n} codes per row");
    println!("machine: {}\n", machine_line());
    let mut table = Table::new(&["input shape", "codes/s", "per code", "target"]);
    for (name, codes) in inputs(n) {
        // Warm up once so page faults and branch history do not count.
        for c in codes.iter().take(10_000) {
            black_box(marking::ki(c).ok());
        }
        let start = Instant::now();
        let mut ok = 0usize;
        for c in &codes {
            if black_box(marking::ki(black_box(c))).is_ok() {
                ok += 1;
            }
        }
        let elapsed = start.elapsed();
        assert_eq!(ok, codes.len(), "{name}: every synthetic code must parse");
        table.row(vec![
            name.to_owned(),
            rate(n, elapsed),
            ns_per_op(n, elapsed),
            "≥ 2 M/s".into(),
        ]);
    }
    print!("{}", table.render());
}

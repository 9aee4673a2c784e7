//! UserEvents per CPU-second (`cargo bench -p sluice-formats --bench cpu_time`).
//!
//! Criterion measures wall time, which on a shared machine counts the time other processes
//! hold the core. This runs each codec for a fixed number of messages and divides by the CPU
//! time the thread itself used (`/proc/thread-self/schedstat`, nanoseconds): messages per
//! second per core, whatever else runs. Linux only.

use sluice_formats::protobuf::{ProtoSchema, RowDecoder, RowEncoder};
use sluice_formats::{Row, Value};
use std::hint::black_box;
use std::time::Instant;

const ACTIONS: [&str; 5] = ["view", "click", "purchase", "signup", "logout"];

fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn measure(name: &str, messages: u64, mut f: impl FnMut()) {
    f(); // warm up
    let (cpu0, wall0) = (cpu_ns(), Instant::now());
    f();
    let (cpu1, wall) = (cpu_ns(), wall0.elapsed());
    let per_wall = messages as f64 / wall.as_secs_f64();
    match (cpu0, cpu1) {
        (Some(a), Some(b)) if b > a => {
            let per_cpu = messages as f64 / ((b - a) as f64 / 1e9);
            println!(
                "{name:<28} {:>7.2} M msgs/s per CPU-second  ({:>6.2} M/s wall, {:.0} ns/msg CPU)",
                per_cpu / 1e6,
                per_wall / 1e6,
                (b - a) as f64 / messages as f64
            );
        }
        _ => println!("{name:<28} {:>7.2} M msgs/s wall (no /proc/thread-self/schedstat)", per_wall / 1e6),
    }
}

fn main() {
    let schema = ProtoSchema::from_descriptor_set(sluice_formats::seeds::USER_EVENT_DESC, "user_event.desc")
        .expect("the shipped descriptor loads");
    let message = schema.message(sluice_formats::seeds::USER_EVENT).expect("UserEvent");
    let decoder = RowDecoder::new(&message).expect("decoder");
    let encoder = RowEncoder::new(&message).expect("encoder");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    let rows: Vec<Row> = (0..1000)
        .map(|_| {
            let user = format!("user{}", next() % 10);
            let action = ACTIONS[(next() % 5) as usize];
            Row::new(vec![Value::from(user), Value::from(action), Value::Float((next() % 50_001) as f64 / 100.0)])
        })
        .collect();
    let encoded: Vec<Vec<u8>> = rows.iter().map(|r| encoder.encode_to_vec(r).expect("encode")).collect();
    let rounds = 5_000u64;
    let n = rounds * encoded.len() as u64;
    measure("decode_into (reused row)", n, || {
        let mut row = Row::default();
        for _ in 0..rounds {
            for b in &encoded {
                decoder.decode_into(black_box(b), &mut row).expect("decode");
                black_box(&row);
            }
        }
    });
    measure("decode (new row each)", n, || {
        for _ in 0..rounds {
            for b in &encoded {
                black_box(decoder.decode(black_box(b)).expect("decode"));
            }
        }
    });
    measure("encode", n, || {
        let mut out = Vec::with_capacity(64);
        for _ in 0..rounds {
            for r in &rows {
                out.clear();
                encoder.encode(black_box(r), &mut out).expect("encode");
                black_box(&out);
            }
        }
    });
}

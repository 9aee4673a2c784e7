//! UserEvent encode / decode throughput (`cargo bench -p sluice-formats`).
//!
//! The inputs are 1,000 UserEvents as seed 000's producer makes them (users `user0`..`user9`,
//! five actions, values 0-500 with two decimals). Criterion reports elements/s: messages per
//! second on one core. `dynamic_message` is prost-reflect's generic decoder, for comparison.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;
use sluice_formats::protobuf::{DynamicMessage, ProtoSchema, RowDecoder, RowEncoder};
use sluice_formats::{Row, Value};
use std::hint::black_box;

const ACTIONS: [&str; 5] = ["view", "click", "purchase", "signup", "logout"];

fn events() -> Vec<Row> {
    // a fixed LCG keeps the inputs identical between runs
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    (0..1000)
        .map(|_| {
            let user = format!("user{}", next() % 10);
            let action = ACTIONS[(next() % 5) as usize];
            let value = (next() % 50_001) as f64 / 100.0;
            Row::new(vec![Value::from(user), Value::from(action), Value::Float(value)])
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let schema = ProtoSchema::from_descriptor_set(sluice_formats::seeds::USER_EVENT_DESC, "user_event.desc")
        .expect("the shipped descriptor loads");
    let message = schema.message(sluice_formats::seeds::USER_EVENT).expect("UserEvent");
    let decoder = RowDecoder::new(&message).expect("decoder");
    let encoder = RowEncoder::new(&message).expect("encoder");
    let rows = events();
    let encoded: Vec<Vec<u8>> = rows.iter().map(|r| encoder.encode_to_vec(r).expect("encode")).collect();
    let n = rows.len() as u64;

    let mut g = c.benchmark_group("user_event");
    g.throughput(Throughput::Elements(n));
    g.bench_function("decode_into_reused_row", |b| {
        let mut row = Row::default();
        b.iter(|| {
            for bytes in &encoded {
                decoder.decode_into(black_box(bytes), &mut row).expect("decode");
                black_box(&row);
            }
        })
    });
    g.bench_function("decode_new_row", |b| {
        b.iter(|| {
            for bytes in &encoded {
                black_box(decoder.decode(black_box(bytes)).expect("decode"));
            }
        })
    });
    g.bench_function("encode", |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            for row in &rows {
                out.clear();
                encoder.encode(black_box(row), &mut out).expect("encode");
                black_box(&out);
            }
        })
    });
    g.bench_function("dynamic_message_decode", |b| {
        b.iter(|| {
            for bytes in &encoded {
                black_box(DynamicMessage::decode(message.clone(), black_box(bytes.as_slice())).expect("decode"));
            }
        })
    });
    g.bench_function("dynamic_message_encode", |b| {
        let msgs: Vec<DynamicMessage> =
            encoded.iter().map(|e| DynamicMessage::decode(message.clone(), e.as_slice()).expect("decode")).collect();
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            for m in &msgs {
                out.clear();
                m.encode(&mut out).expect("encode");
                black_box(&out);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

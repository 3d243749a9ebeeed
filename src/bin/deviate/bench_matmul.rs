//! `deviate bench matmul`: GFLOP/s of single float products at the shapes SmolLM2 and MiniLM
//! run in a lesson, the kernel's speed apart from the rest of the model (bench/peer_matmul.py
//! times PyTorch on the same shapes in the same run). Weights are stored [in, out], so a forward
//! product is x·W; a backward pass's product with the weight reads it transposed (g·Wᵀ).

use std::time::Instant;

use anyhow::Result;
use burn::tensor::{Device, Distribution, Tensor};
use serde::Serialize;

use crate::bench::median;

/// One product [m, k]·[k, n]; with `transposed`, the right factor is stored [n, k].
#[derive(Clone, Copy, Serialize)]
pub struct Product {
    pub name: &'static str,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub transposed: bool,
}

const fn product(name: &'static str, m: usize, k: usize, n: usize, transposed: bool) -> Product {
    Product { name, m, k, n, transposed }
}

/// Decoding (one row per continuation), a training pass (one pair: 2 rows of ~77 tokens), the
/// vocabulary head on the ~80 completion positions a pass reads, MiniLM at batch 1 and 32.
pub const PRODUCTS: [Product; 9] = [
    product("decode b1, q (576→576)", 1, 576, 576, false),
    product("decode b8, up (576→1536)", 8, 576, 1536, false),
    product("decode b8, head (576→49152)", 8, 576, 49152, false),
    product("train pass, up (576→1536)", 154, 576, 1536, false),
    product("train pass, down (1536→576)", 154, 1536, 576, false),
    product("train backward, g·upᵀ (1536→576)", 154, 1536, 576, true),
    product("train head, 80 positions", 80, 576, 49152, false),
    product("MiniLM b1, q (384→384)", 61, 384, 384, false),
    product("MiniLM b32, intermediate (384→1536)", 1952, 384, 1536, false),
];

#[derive(Serialize)]
struct Timed {
    #[serde(flatten)]
    product: Product,
    gflops: f64,
}

/// Multiply-adds × 2 per product.
fn flops(p: &Product) -> f64 {
    2.0 * (p.m * p.k * p.n) as f64
}

/// GFLOP/s of `p` on `device`: the median over `repeats` timings of enough back-to-back products
/// for about 0.2 s each (the last one read back, so a GPU's queue has finished).
fn time(p: &Product, device: &Device, repeats: usize) -> Result<f64> {
    let a = Tensor::<2>::random([p.m, p.k], Distribution::Default, device);
    let b = if p.transposed {
        Tensor::<2>::random([p.n, p.k], Distribution::Default, device).transpose()
    } else {
        Tensor::<2>::random([p.k, p.n], Distribution::Default, device)
    };
    let run = |count: usize| -> Result<f64> {
        let start = Instant::now();
        let mut last = None;
        for _ in 0..count {
            last = Some(a.clone().matmul(b.clone()));
        }
        let corner = last.expect("count ≥ 1").slice([0..1, 0..1]).reshape([1]);
        pollster::block_on(deviate::engine::readback::floats(corner)).map_err(anyhow::Error::msg)?;
        Ok(start.elapsed().as_secs_f64())
    };
    let warm = run(1)?;
    let count = ((0.2 / warm.max(1e-6)) as usize).clamp(1, 1000);
    let mut rates = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        rates.push(count as f64 * flops(p) / run(count)? / 1e9);
    }
    Ok(median(rates))
}

pub fn run(device: &Device, label: &str, repeats: usize, json: bool) -> Result<()> {
    let timed = PRODUCTS
        .iter()
        .map(|p| Ok(Timed { product: *p, gflops: time(p, device, repeats)? }))
        .collect::<Result<Vec<_>>>()?;
    if json {
        println!("{}", serde_json::to_string(&serde_json::json!({ "products": timed }))?);
        return Ok(());
    }
    println!("deviate matmul ({label}, f32, GFLOP/s, median of {repeats}):");
    for t in &timed {
        let p = &t.product;
        println!("  {:<38} {:>5}×{:<5}×{:>6}  {:>7.1}", p.name, p.m, p.k, p.n, t.gflops);
    }
    Ok(())
}

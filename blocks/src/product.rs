//! x·W straight from the 4-bit values, for a few rows of x (decoding: one row a continuation),
//! where dequantising W first would write and read 4 bytes a weight to use each weight a few
//! times.
//!
//! With x = d·q + m inside a block of 32 inputs,
//! y[r, o] = Σ_b ( d[b, o]·Σ_{i∈b} x[r, i]·q[i, o] + m[b, o]·Σ_{i∈b} x[r, i] ),
//! so each block costs one pass over its 16 bytes a column and no f32 copy of W. The sums run in
//! a fixed order whatever the threads (each output column belongs to one task), so results repeat
//! exactly; they are not the dense product's bits (another order of the same sums).

use crate::{Columns, VALUES};

/// Output columns a task computes: its nibbles (16 × 256 bytes a block) stay in L1 for every row.
const TILE: usize = 256;

/// One tile's work, run with the widest SIMD this CPU has (pulp: AVX2 on x86-64, simd128 on
/// wasm), so the loops vectorise at run time on any x86-64, not only at the build's baseline.
struct Tile<'a> {
    columns: &'a Columns,
    x: &'a [f32],
    sums: &'a [f32],
    rows: usize,
    first: usize,
    y: &'a mut [f32],
}

impl pulp::WithSimd for Tile<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        self.columns.tile(self.x, self.sums, self.rows, self.first, self.y)
    }
}

impl Columns {
    /// y = x·W, [rows, out] row-major, for x [rows, in] row-major, from the blocks.
    pub fn product(&self, x: &[f32], rows: usize) -> Vec<f32> {
        assert_eq!(x.len(), rows * self.inputs, "x is [rows, in]");
        if rows == 0 {
            return Vec::new();
        }
        let sums: Vec<f32> = x.chunks_exact(VALUES).map(|c| c.iter().sum()).collect();
        let tile = |t: usize| {
            let (first, width) = (t * TILE, TILE.min(self.outputs - t * TILE));
            let mut y = vec![0.0; rows * width];
            pulp::Arch::new().dispatch(Tile { columns: self, x, sums: &sums, rows, first, y: &mut y });
            y
        };
        let tiles = self.outputs.div_ceil(TILE);
        #[cfg(feature = "rayon")]
        let parts: Vec<Vec<f32>> = {
            use rayon::prelude::*;
            (0..tiles).into_par_iter().map(tile).collect()
        };
        #[cfg(not(feature = "rayon"))]
        let parts: Vec<Vec<f32>> = (0..tiles).map(tile).collect();
        let mut y = vec![0.0; rows * self.outputs];
        for (t, part) in parts.iter().enumerate() {
            let width = part.len() / rows;
            for (r, values) in part.chunks_exact(width).enumerate() {
                y[r * self.outputs + t * TILE..][..width].copy_from_slice(values);
            }
        }
        y
    }

    /// Columns `first..first + width` of x·W into `y` [rows, width]; `sums` holds Σ x over
    /// each block of each row. Each byte row of nibbles becomes f32 once, for every row of x.
    #[inline(always)]
    fn tile(&self, x: &[f32], sums: &[f32], rows: usize, first: usize, y: &mut [f32]) {
        let (n, width, blocks) = (self.outputs, y.len() / rows, self.inputs / VALUES);
        let (mut even_q, mut odd_q) = ([0.0f32; TILE], [0.0f32; TILE]);
        let (even_q, odd_q) = (&mut even_q[..width], &mut odd_q[..width]);
        let mut s = vec![0.0f32; rows * width];
        for b in 0..blocks {
            s.fill(0.0);
            for p in 0..VALUES / 2 {
                let q = &self.nibbles[(b * VALUES / 2 + p) * n + first..][..width];
                for ((e, o), &q) in even_q.iter_mut().zip(odd_q.iter_mut()).zip(q) {
                    (*e, *o) = (f32::from(q & 0x0F), f32::from(q >> 4));
                }
                for (r, s) in s.chunks_exact_mut(width).enumerate() {
                    let i = r * self.inputs + b * VALUES + 2 * p;
                    let (even, odd) = (x[i], x[i + 1]);
                    for ((s, &e), &o) in s.iter_mut().zip(even_q.iter()).zip(odd_q.iter()) {
                        *s += even * e + odd * o;
                    }
                }
            }
            let d = &self.scale[b * n + first..][..width];
            let m = &self.min[b * n + first..][..width];
            for (r, (out, s)) in y.chunks_exact_mut(width).zip(s.chunks_exact(width)).enumerate() {
                let sum = sums[r * blocks + b];
                for (((out, &s), &d), &m) in out.iter_mut().zip(s).zip(d).zip(m) {
                    *out += d * s + m * sum;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    /// Q4_1 blocks of `outputs` rows of `inputs` values: scales, minimums and nibbles from a
    /// simple generator (no two columns alike).
    fn matrix(outputs: usize, inputs: usize) -> Vec<u8> {
        let mut state = 12345u32;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state >> 8
        };
        let mut raw = Vec::new();
        for _ in 0..outputs * inputs / VALUES {
            let d = f16::from_f32(0.001 + (next() % 1000) as f32 * 1e-5);
            let m = f16::from_f32(-0.01 * (next() % 100) as f32 / 100.0);
            raw.extend(d.to_le_bytes());
            raw.extend(m.to_le_bytes());
            raw.extend((0..VALUES / 2).map(|_| next() as u8));
        }
        raw
    }

    /// x·W from the dequantised W, summed in f64.
    fn dense(w: &[f32], x: &[f32], rows: usize, inputs: usize, outputs: usize) -> Vec<f64> {
        let mut y = vec![0.0; rows * outputs];
        for r in 0..rows {
            for i in 0..inputs {
                for o in 0..outputs {
                    y[r * outputs + o] += f64::from(x[r * inputs + i]) * f64::from(w[i * outputs + o]);
                }
            }
        }
        y
    }

    #[test]
    fn the_fused_product_is_x_times_the_dequantised_matrix() {
        // 300 outputs: one whole tile and a part; 96 inputs: three blocks.
        let (outputs, inputs) = (300, 96);
        let columns = Columns::from_rows(&matrix(outputs, inputs), outputs, inputs);
        let w = columns.dequantize();
        for rows in [1, 3] {
            let x: Vec<f32> = (0..rows * inputs).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
            let want = dense(&w, &x, rows, inputs, outputs);
            let got = columns.product(&x, rows);
            assert_eq!(got.len(), want.len());
            let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            for (k, (&g, &e)) in got.iter().zip(&want).enumerate() {
                assert!((f64::from(g) - e).abs() <= 1e-5 * scale, "rows {rows}, y[{k}] = {g}, want {e}");
            }
            assert_eq!(columns.product(&x, rows), got, "the same bits again");
        }
        assert!(columns.product(&[], 0).is_empty(), "no rows, no output");
    }
}

//! GGUF's Q4_1 blocks dequantised to f32, for Deviate's loader and for its compact projections,
//! which keep SmolLM2's matrices in 4 bits ([`Columns`]) and dequantise one for each product (W
//! forward, Wᵀ backward), or, for a few rows of x, multiply straight from the blocks
//! ([`Columns::product`]); and the vectorised activations the CPU path runs ([`gelu_in_place`],
//! [`sigmoid_in_place`]).
//!
//! A crate of its own so that it builds at full speed in every profile (Deviate's own code builds
//! at opt-level 1 for tests and "z" for the page): a product goes through a whole matrix.
//!
//! A Q4_1 block is 20 bytes for 32 values: an f16 scale d, an f16 minimum m, then 16 bytes whose
//! byte j holds value j in its low nibble and value j + 16 in its high nibble; x = d·q + m.

use half::f16;

mod activation;
mod product;

pub use activation::{gelu_in_place, sigmoid_in_place};

/// Values in a block.
pub const VALUES: usize = 32;
/// Bytes in a block.
pub const BYTES: usize = 20;

/// One block's 32 values: x = d·q + m (one product and one sum in f32, so every caller gets
/// the same bits).
#[inline]
pub fn block(block: &[u8], out: &mut [f32]) {
    let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
    let m = f16::from_le_bytes([block[2], block[3]]).to_f32();
    let (low, high) = out.split_at_mut(VALUES / 2);
    for ((&q, lo), hi) in block[4..BYTES].iter().zip(low).zip(high) {
        *lo = d * f32::from(q & 0x0F) + m;
        *hi = d * f32::from(q >> 4) + m;
    }
}

/// Whole blocks (`raw.len()` a multiple of [`BYTES`]) into `out`, in the order they are stored.
pub fn rows(raw: &[u8], out: &mut [f32]) {
    assert_eq!(raw.len() / BYTES * VALUES, out.len(), "one output value per stored value");
    for (b, o) in raw.chunks_exact(BYTES).zip(out.chunks_exact_mut(VALUES)) {
        block(b, o);
    }
}

/// A Q4_1 matrix re-laid for products x·W: the checkpoint stores Wᵀ [out, in] row by row in
/// blocks along `in`; this holds each block's scale and minimum as f32 [in/32, out] and the 4-bit
/// values as [in/2, out] bytes (byte (i/2, o) holds W[i, o]'s value in its low nibble for even i,
/// in its high nibble for odd i). So W [in, out] dequantises a row at a time, each a run of
/// contiguous loads and stores: 0.75 bytes a weight instead of f32's 4.
#[derive(Clone, Debug)]
pub struct Columns {
    nibbles: Vec<u8>,
    scale: Vec<f32>,
    min: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Columns {
    /// From the checkpoint's blocks of Wᵀ: `outputs` rows of `inputs` values (a multiple of
    /// [`VALUES`]).
    pub fn from_rows(raw: &[u8], outputs: usize, inputs: usize) -> Self {
        assert!(inputs.is_multiple_of(VALUES), "a row is whole blocks");
        assert_eq!(raw.len(), outputs * inputs / VALUES * BYTES, "the matrix's blocks");
        let blocks = inputs / VALUES;
        let mut c = Self {
            nibbles: vec![0; inputs.div_ceil(2) * outputs],
            scale: vec![0.0; blocks * outputs],
            min: vec![0.0; blocks * outputs],
            inputs,
            outputs,
        };
        for (n, block) in raw.chunks_exact(BYTES).enumerate() {
            let (o, b) = (n / blocks, n % blocks);
            c.scale[b * outputs + o] = f16::from_le_bytes([block[0], block[1]]).to_f32();
            c.min[b * outputs + o] = f16::from_le_bytes([block[2], block[3]]).to_f32();
            for (j, &byte) in block[4..BYTES].iter().enumerate() {
                for (k, q) in [(j, byte & 0x0F), (j + VALUES / 2, byte >> 4)] {
                    let i = b * VALUES + k;
                    c.nibbles[i / 2 * outputs + o] |= q << (4 * (i % 2));
                }
            }
        }
        c
    }

    /// W's [in, out] shape.
    pub fn shape(&self) -> [usize; 2] {
        [self.inputs, self.outputs]
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.nibbles.len() + 4 * (self.scale.len() + self.min.len())
    }

    /// W [in, out], row-major: x = d·q + m, the same bits as [`rows`] gives, with the widest
    /// SIMD this CPU has (pulp, chosen at run time).
    pub fn dequantize(&self) -> Vec<f32> {
        pulp::Arch::new().dispatch(Dequantize(self))
    }

    #[inline(always)]
    fn dequantize_rows(&self) -> Vec<f32> {
        let n = self.outputs;
        let mut out = Vec::with_capacity(self.inputs * n);
        for i in 0..self.inputs {
            let (b, shift) = (i / VALUES, 4 * (i % 2));
            let (d, m) = (&self.scale[b * n..(b + 1) * n], &self.min[b * n..(b + 1) * n]);
            let q = &self.nibbles[i / 2 * n..(i / 2 + 1) * n];
            out.extend(q.iter().zip(d).zip(m).map(|((&q, &d), &m)| d * f32::from((q >> shift) & 0x0F) + m));
        }
        out
    }

    /// Wᵀ [out, in], row-major: [`Columns::dequantize`]'s values, transposed (cache-blocked),
    /// for a product with Wᵀ that should read it row by row (gemm's AVX-512 kernel ran ∂L/∂y·Wᵀ
    /// for SmolLM2's up projection at 0.4× its speed with W's transposed view, 154×1536×576
    /// here).
    pub fn dequantize_transposed(&self) -> Vec<f32> {
        let w = self.dequantize();
        let mut t = vec![0.0; w.len()];
        transpose::transpose(&w, &mut t, self.outputs, self.inputs);
        t
    }
}

/// [`Columns::dequantize`]'s loop, compiled for the SIMD that pulp picks.
struct Dequantize<'a>(&'a Columns);

impl pulp::WithSimd for Dequantize<'_> {
    type Output = Vec<f32>;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> Vec<f32> {
        self.0.dequantize_rows()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block with scale `d`, minimum `m` and values q[i] = (i·7 + seed) mod 16.
    fn sample(d: f32, m: f32, seed: u8) -> (Vec<u8>, Vec<f32>) {
        let q: Vec<u8> = (0..VALUES as u8).map(|i| (i.wrapping_mul(7).wrapping_add(seed)) % 16).collect();
        let (d16, m16) = (f16::from_f32(d), f16::from_f32(m));
        let mut raw = [d16.to_le_bytes(), m16.to_le_bytes()].concat();
        raw.extend((0..16).map(|j| q[j] | (q[j + 16] << 4)));
        let values = q.iter().map(|&q| d16.to_f32() * f32::from(q) + m16.to_f32()).collect();
        (raw, values)
    }

    #[test]
    fn a_block_is_scale_times_nibble_plus_minimum() {
        let (raw, expected) = sample(0.013, -0.1, 3);
        let mut out = [0.0; VALUES];
        block(&raw, &mut out);
        assert_eq!(out.to_vec(), expected);
    }

    #[test]
    fn columns_dequantise_to_the_rows_transposed() {
        // 5 stored rows (outputs) of 64 values (two blocks a row).
        let (outputs, inputs) = (5, 64);
        let mut raw = Vec::new();
        for r in 0..outputs * inputs / VALUES {
            raw.extend(sample(0.01 + r as f32 * 1e-3, r as f32 * -0.01, r as u8).0);
        }
        let mut plain = vec![0.0; outputs * inputs];
        rows(&raw, &mut plain);
        let columns = Columns::from_rows(&raw, outputs, inputs);
        assert_eq!(columns.shape(), [inputs, outputs]);
        assert_eq!(columns.bytes(), inputs / 2 * outputs + 2 * 4 * 2 * outputs);
        let w = columns.dequantize();
        for o in 0..outputs {
            for i in 0..inputs {
                assert_eq!(w[i * outputs + o].to_bits(), plain[o * inputs + i].to_bits(), "output {o} input {i}");
            }
        }
        let t = columns.dequantize_transposed();
        assert_eq!(t.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), plain.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "Wᵀ is the stored rows");
    }
}

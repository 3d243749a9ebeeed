//! A tiny GGUF writer: the tiny llama of this folder as a complete GGUF file (metadata, a
//! 40-token byte-level BPE tokeniser, and weights in every type the reader dequantises), with
//! where each count, length, dimension, type and offset lies (for the hostile-bytes tests).

use half::f16;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// A place in a file that holds a count, length, dimension or offset, and its width in bytes.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub at: usize,
    pub width: usize,
}

/// A GGUF v3 writer that records where every count, length, dimension, type and offset lies.
#[derive(Default)]
pub struct GgufWriter {
    out: Vec<u8>,
    fields: Vec<Field>,
}

pub enum Meta {
    U32(u32),
    F32(f32),
    Str(&'static str),
    Strs(Vec<String>),
    I32s(Vec<i32>),
}

impl GgufWriter {
    fn int(&mut self, v: u64, width: usize) {
        self.fields.push(Field { at: self.out.len(), width });
        self.out.extend(&v.to_le_bytes()[..width]);
    }

    fn string(&mut self, s: &str) {
        self.int(s.len() as u64, 8);
        self.out.extend(s.as_bytes());
    }

    fn value(&mut self, value: &Meta) {
        match value {
            Meta::U32(v) => {
                self.int(4, 4);
                self.int(u64::from(*v), 4);
            }
            Meta::F32(v) => {
                self.int(6, 4);
                self.out.extend(v.to_le_bytes());
            }
            Meta::Str(s) => {
                self.int(8, 4);
                self.string(s);
            }
            Meta::Strs(items) => {
                self.int(9, 4);
                self.int(8, 4);
                self.int(items.len() as u64, 8);
                items.iter().for_each(|s| self.string(s));
            }
            Meta::I32s(items) => {
                self.int(9, 4);
                self.int(5, 4);
                self.int(items.len() as u64, 8);
                items.iter().for_each(|v| self.out.extend(v.to_le_bytes()));
            }
        }
    }

    /// The whole file: header, metadata, tensor infos (dims outermost first here), aligned data.
    pub fn file(meta: &[(&str, Meta)], tensors: &[(String, Vec<u64>, u32, Vec<u8>)]) -> (Vec<u8>, Vec<Field>) {
        let mut w = GgufWriter { out: b"GGUF".to_vec(), ..Default::default() };
        w.int(3, 4);
        w.int(tensors.len() as u64, 8);
        w.int(meta.len() as u64, 8);
        for (key, value) in meta {
            w.string(key);
            w.value(value);
        }
        let mut offset = 0u64;
        for (name, dims, kind, data) in tensors {
            w.string(name);
            w.int(dims.len() as u64, 4);
            dims.iter().rev().for_each(|&d| w.int(d, 8));
            w.int(u64::from(*kind), 4);
            w.int(offset, 8);
            offset += (data.len() as u64).div_ceil(32) * 32;
        }
        for (_, _, _, data) in std::iter::once(&(String::new(), vec![], 0, vec![])).chain(tensors) {
            w.out.extend(data);
            w.out.resize(w.out.len().div_ceil(32) * 32, 0);
        }
        (w.out, w.fields)
    }
}

/// `n` values as ggml type `kind` (0 F32, 1 F16, 3 Q4_1, 8 Q8_0), small and seeded.
pub fn weights(n: usize, kind: u32, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let small = |rng: &mut ChaCha8Rng| (rng.next_u32() % 2000) as f32 / 1e4 - 0.1;
    let half = |v: f32| f16::from_f32(v).to_le_bytes();
    match kind {
        0 => (0..n).flat_map(|_| small(rng).to_le_bytes()).collect(),
        1 => (0..n).flat_map(|_| half(small(rng))).collect(),
        // Blocks of random bytes under a fixed scale (and a random minimum for Q4_1).
        3 => (0..n / 32).flat_map(|_| [half(0.01), half(small(rng))].concat().into_iter().chain(random_bytes(16, rng))).collect(),
        8 => (0..n / 32).flat_map(|_| half(0.002).into_iter().chain(random_bytes(32, rng))).collect(),
        _ => unreachable!("the test writes only the four types the reader dequantises"),
    }
}

fn random_bytes(n: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    (0..n).map(|_| rng.next_u32() as u8).collect()
}

/// The tiny llama of `tests/tiny` as a GGUF with a 40-token byte-level BPE tokeniser.
pub fn tiny_gguf() -> (Vec<u8>, Vec<Field>) {
    llama_gguf(&super::tiny())
}

/// A llama of shape `c` with random weights of the same mix of types as [`tiny_gguf`]'s.
pub fn llama_gguf(c: &deviate::model::llama::LlamaConfig) -> (Vec<u8>, Vec<Field>) {
    let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    let mut tokens: Vec<String> = specials.iter().map(|s| s.to_string()).collect();
    tokens.extend(('a'..='z').map(String::from));
    tokens.extend(["Ġ", "ab", "Ġa", "Ċ", "0", "1", "2", "3", "4", "5", "6"].map(String::from));
    assert_eq!(tokens.len(), c.vocab);
    let types = (0..c.vocab).map(|i| if i < specials.len() { 3 } else { 1 }).collect();
    let u = |v: usize| Meta::U32(v as u32);
    let meta = [
        ("general.architecture", Meta::Str("llama")),
        ("llama.embedding_length", u(c.hidden)),
        ("llama.block_count", u(c.layers)),
        ("llama.attention.head_count", u(c.heads)),
        ("llama.attention.head_count_kv", u(c.kv_heads)),
        ("llama.feed_forward_length", u(c.ffn)),
        ("llama.context_length", u(c.context)),
        ("llama.attention.layer_norm_rms_epsilon", Meta::F32(1e-5)),
        ("llama.rope.freq_base", Meta::F32(1e4)),
        ("tokenizer.ggml.model", Meta::Str("gpt2")),
        ("tokenizer.ggml.tokens", Meta::Strs(tokens)),
        ("tokenizer.ggml.merges", Meta::Strs(vec!["a b".into(), "Ġ a".into()])),
        ("tokenizer.ggml.token_type", Meta::I32s(types)),
        ("tokenizer.ggml.eos_token_id", u(2)),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (h, kv, f) = (c.hidden as u64, (c.kv_heads * c.hidden / c.heads) as u64, c.ffn as u64);
    let mut tensor = |name: String, dims: Vec<u64>, kind: u32| {
        let data = weights(dims.iter().product::<u64>() as usize, kind, &mut rng);
        (name, dims, kind, data)
    };
    let mut tensors = vec![tensor("token_embd.weight".into(), vec![c.vocab as u64, h], 8)];
    tensors.push(tensor("output_norm.weight".into(), vec![h], 0));
    for l in 0..c.layers {
        let p = |s: &str| format!("blk.{l}.{s}.weight");
        tensors.push(tensor(p("attn_norm"), vec![h], 0));
        tensors.push(tensor(p("attn_q"), vec![h, h], 1));
        tensors.push(tensor(p("attn_k"), vec![kv, h], 8));
        tensors.push(tensor(p("attn_v"), vec![kv, h], 3));
        tensors.push(tensor(p("attn_output"), vec![h, h], 0));
        tensors.push(tensor(p("ffn_norm"), vec![h], 0));
        tensors.push(tensor(p("ffn_gate"), vec![f, h], 3));
        tensors.push(tensor(p("ffn_up"), vec![f, h], 8));
        tensors.push(tensor(p("ffn_down"), vec![h, f], 1));
    }
    GgufWriter::file(&meta, &tensors)
}


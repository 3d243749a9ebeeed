//! Hostile model bytes: 100,000 mutated files (cut, bit-flipped, overwritten, counts and
//! dimensions inflated) fed to the three loaders a page or the CLI runs on downloaded or chosen
//! bytes: the GGUF language model (tokeniser + weights), the MiniLM safetensors and LoRA adapter
//! safetensors. Each must return, Ok or an error: never panic, and never ask the allocator for
//! more than [`allocation_limit`] in one piece (a size read from the file and trusted would).
//!
//! The files are tiny but complete (every tensor type the reader dequantises), so a mutation
//! that keeps a file valid is loaded all the way. Every case is seeded: a failure names its seed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use deviate::engine::generate::LanguageModel;
use deviate::engine::train::{Method, TrainConfig, Trainer};
use deviate::model::bert::{Bert, BertConfig};
use deviate::model::llama::{Llama, LoraConfig, Target};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

mod tiny;

use tiny::gguf::{Field, tiny_gguf};

/// Records the largest single allocation request since the last [`Largest::reset`].
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// The allocation counter is global: the tests of this file take turns, set-up included.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The most one allocation may take for a file of `len` bytes: dequantising Q4_1 turns 20 bytes
/// into 32 f32s (6.4×), so 8× the file, plus 1 MiB for the loaders' own tables.
fn allocation_limit(len: usize) -> usize {
    8 * len + (1 << 20)
}

/// Runs `load` on `cases` seeded mutations of `valid` (made by `case(seed)`) and checks the contract.
fn fuzz(name: &str, valid: &[u8], cases: u64, case: impl Fn(u64) -> Vec<u8>, mut load: impl FnMut(&[u8]) -> bool) {
    assert!(load(valid), "{name}: the unmutated file must load");
    let mut loaded = 0;
    for seed in 0..cases {
        let bytes = case(seed);
        LARGEST.store(0, Ordering::Relaxed);
        let outcome = catch_unwind(AssertUnwindSafe(|| load(&bytes)));
        let largest = LARGEST.load(Ordering::Relaxed);
        let ok = outcome.unwrap_or_else(|_| panic!("{name}: case {seed} ({} bytes) panicked", bytes.len()));
        assert!(
            largest <= allocation_limit(bytes.len()),
            "{name}: case {seed} asked for {largest} bytes at once from a {}-byte file",
            bytes.len()
        );
        loaded += usize::from(ok);
    }
    // Mutations that leave the data valid (e.g. a flipped weight bit) still load: the fuzz
    // reaches the whole loader, not only the header checks.
    eprintln!("{name}: {loaded} of {cases} mutated files loaded, the rest were refused");
    assert!(loaded > 0 && loaded < cases as usize, "{name}: {loaded} of {cases} mutated files loaded");
}

/// Values that break code which trusts a count: huge, just over a power of two, products that
/// overflow, zero.
const HOSTILE: [u64; 10] =
    [u64::MAX, u64::MAX / 2 + 1, 1 << 32, (1 << 32) + 1, 1 << 40, 1 << 62, u32::MAX as u64, 0, 3, 0x0101_0101_0101];

/// One seeded mutation of `valid`: cut, flip bits, overwrite a run, inflate a field, or two of them.
fn mutate(valid: &[u8], fields: &[Field], seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut bytes = valid.to_vec();
    let rounds = 1 + (rng.next_u32() % 4 == 0) as usize;
    for _ in 0..rounds {
        let pick = |rng: &mut ChaCha8Rng, n: usize| rng.next_u32() as usize % n.max(1);
        match rng.next_u32() % 4 {
            0 => bytes.truncate(pick(&mut rng, bytes.len())),
            1 => {
                for _ in 0..1 + pick(&mut rng, 4) {
                    let at = pick(&mut rng, bytes.len());
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= 1 << (rng.next_u32() % 8);
                    }
                }
            }
            2 => {
                let at = pick(&mut rng, bytes.len());
                let end = (at + 1 + pick(&mut rng, 16)).min(bytes.len());
                rng.fill_bytes(&mut bytes[at..end]);
            }
            _ => {
                let field = fields[pick(&mut rng, fields.len())];
                let value = match rng.next_u32() % 3 {
                    0 => HOSTILE[pick(&mut rng, HOSTILE.len())],
                    1 => rng.next_u64(),
                    _ => read_le(&bytes, field).wrapping_mul(1 << (1 + rng.next_u32() % 40)),
                };
                write_le(&mut bytes, field, value);
            }
        }
    }
    bytes
}

fn read_le(bytes: &[u8], f: Field) -> u64 {
    let mut b = [0u8; 8];
    let have = bytes.get(f.at..f.at + f.width).unwrap_or(&[]);
    b[..have.len()].copy_from_slice(have);
    u64::from_le_bytes(b)
}

fn write_le(bytes: &mut [u8], f: Field, value: u64) {
    let end = (f.at + f.width).min(bytes.len());
    if f.at < end {
        bytes[f.at..end].copy_from_slice(&value.to_le_bytes()[..end - f.at]);
    }
}

// ---------------------------------------------------------------- GGUF

#[test]
fn mutated_gguf_language_models_are_refused_or_loaded_never_a_panic() {
    let _turn = take_turn();
    let (valid, fields) = tiny_gguf();
    let device = Device::flex();
    let lm = LanguageModel::from_gguf_bytes(&valid, &device).expect("the tiny GGUF loads");
    assert_eq!(lm.tokenizer().encode("ab a").unwrap().len(), 2, "the merges apply: \"ab\", \"Ġa\"");
    let case = |seed| mutate(&valid, &fields, seed);
    fuzz("GGUF", &valid, 60_000, case, |bytes| LanguageModel::from_gguf_bytes(bytes, &device).is_ok());
}

#[test]
fn an_odd_head_dimension_is_refused_by_name() {
    let _turn = take_turn();
    let (mut valid, _) = tiny_gguf();
    // embedding_length 16 → 20 with 4 heads: head dimension 5, which rotary pairs cannot split.
    let key = b"llama.embedding_length";
    let at = valid.windows(key.len()).position(|w| w == key).unwrap() + key.len() + 4;
    valid[at..at + 4].copy_from_slice(&20u32.to_le_bytes());
    let err = LanguageModel::from_gguf_bytes(&valid, &Device::flex()).err().expect("refused");
    assert!(err.to_string().contains("head dimension 5"), "{err}");
}

// ---------------------------------------------------------------- safetensors

/// The fields of a safetensors file: its header length, and every number in its JSON header
/// (shapes and data offsets), found by their digits' positions.
fn safetensors_fields(bytes: &[u8]) -> Vec<Field> {
    assert!(bytes.len() > 8, "a safetensors file starts with its header length");
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = &bytes[8..8 + header_len];
    let mut fields = vec![Field { at: 0, width: 8 }];
    let mut i = 0;
    while i < header.len() {
        if header[i].is_ascii_digit() && i > 0 && matches!(header[i - 1], b'[' | b',') {
            let len = header[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            fields.push(Field { at: 8 + i, width: len });
            i += len;
        } else {
            i += 1;
        }
    }
    assert!(fields.len() > 4, "the header's shapes and offsets were found");
    fields
}

/// Writes digits instead of little-endian bytes into a header number: inflating a number in
/// JSON means more digits in the same place, so the field is rewritten as text.
fn inflate_json_numbers(valid: &[u8], fields: &[Field], seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5afe);
    let field = fields[1 + rng.next_u32() as usize % (fields.len() - 1)];
    let value = HOSTILE[rng.next_u32() as usize % HOSTILE.len()].to_string();
    let mut bytes = valid[..field.at].to_vec();
    bytes.extend(value.as_bytes());
    bytes.extend(&valid[field.at + field.width..]);
    // Keep the header length right half of the time, so the JSON parses and the number is used.
    if rng.next_u32() % 2 == 0 {
        let grown = bytes.len() as i64 - valid.len() as i64;
        let header_len = u64::from_le_bytes(valid[..8].try_into().unwrap()) as i64 + grown;
        bytes[..8].copy_from_slice(&(header_len as u64).to_le_bytes());
    }
    bytes
}

/// Half the cases are byte-level mutations, half rewrite one header number as hostile digits.
fn safetensors_case(valid: &[u8], fields: &[Field], seed: u64) -> Vec<u8> {
    if seed.is_multiple_of(2) { mutate(valid, &fields[..1], seed) } else { inflate_json_numbers(valid, fields, seed) }
}

fn tiny_bert_config() -> BertConfig {
    BertConfig {
        vocab_size: 12,
        max_positions: 8,
        type_vocab_size: 2,
        hidden: 4,
        heads: 2,
        intermediate: 8,
        layers: 1,
        layer_norm_eps: 1e-12,
    }
}

/// A tiny MiniLM-shaped checkpoint with the sentence-transformers names and [out, in] linears.
fn tiny_bert_safetensors(config: &BertConfig, device: &Device) -> Vec<u8> {
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .with_key_remapping(r"layer_norm", "LayerNorm")
        .with_key_remapping(r"attention\.self_attention\.", "attention.self.");
    config.init(device).save_into(&mut store).expect("save");
    store.get_bytes().expect("bytes")
}

#[test]
fn mutated_minilm_safetensors_are_refused_or_loaded_never_a_panic() {
    let _turn = take_turn();
    let (config, device) = (tiny_bert_config(), Device::flex());
    let valid = tiny_bert_safetensors(&config, &device);
    let fields = safetensors_fields(&valid);
    let case = |seed| safetensors_case(&valid, &fields, seed);
    fuzz("MiniLM safetensors", &valid, 20_000, case, |bytes| Bert::from_safetensors(&config, bytes.to_vec(), &device).is_ok());
}

#[test]
fn mutated_lora_adapters_are_refused_or_loaded_never_a_panic() {
    let _turn = take_turn();
    let device = Device::flex();
    let base = Llama::random(&tiny::tiny(), 3, &device);
    let lora = LoraConfig { rank: 2, alpha: 4.0, targets: vec![Target::Q, Target::V], ..Default::default() };
    let config = TrainConfig { lora, ..Default::default() };
    let valid = Trainer::new(&base, Method::Ddpo, config.clone(), &device).save_adapters().expect("save");
    let mut trainer = Trainer::new(&base, Method::Ddpo, config, &device);
    let fields = safetensors_fields(&valid);
    let case = |seed| safetensors_case(&valid, &fields, seed);
    fuzz("LoRA adapters", &valid, 20_000, case, |bytes| trainer.load_adapters(bytes.to_vec()).is_ok());
}

//! SmolLM2 (llama architecture) in burn: RMSNorm, rotary position embeddings on adjacent pairs
//! (GGUF's permuted q/k), grouped-query attention, a SwiGLU MLP and tied input/output
//! embeddings, with a KV cache for generation.
//!
//! Weights are stored transposed, [in, out], contiguous, so every projection is a plain x·W (a
//! strided Wᵀ made burn copy each weight on every call at small batch). LoRA adapters attach to
//! chosen projections with burn's own `apply_lora` ([`Llama::with_lora`]); every forward pass says
//! whether they are used ([`Adapters`]), so the reference model of DPO is the same weights with
//! the adapters off, not a second copy.

use burn::module::{LoraAdapter, Module, Param};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::model::activation::silu;
use crate::model::blocks::{self, BlockMatrix};
use crate::model::device::is_cpu;
use crate::model::gguf::{Gguf, GgufError};
pub use crate::model::lora::{LoraConfig, LoraInit, Target};

/// The model's shape, read from the GGUF metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    pub rms_eps: f64,
    pub rope_theta: f64,
    pub context: usize,
}

impl LlamaConfig {
    pub fn from_gguf(gguf: &Gguf) -> Result<Self, GgufError> {
        let arch = gguf.get("general.architecture")?.as_str().unwrap_or_default();
        if arch != "llama" {
            return Err(GgufError::Malformed("general.architecture".into(), format!("{arch:?} is not \"llama\"")));
        }
        let n = |key: &str| {
            let key = format!("llama.{key}");
            let v = gguf.get_u64(&key)?;
            usize::try_from(v).map_err(|_| GgufError::Malformed(key, format!("{v} is too large")))
        };
        let config = Self {
            vocab: gguf.info("token_embd.weight")?.shape[0],
            hidden: n("embedding_length")?,
            layers: n("block_count")?,
            heads: n("attention.head_count")?,
            kv_heads: n("attention.head_count_kv")?,
            ffn: n("feed_forward_length")?,
            rms_eps: gguf.get_f64("llama.attention.layer_norm_rms_epsilon")?,
            rope_theta: gguf.get_f64("llama.rope.freq_base")?,
            context: n("context_length")?,
        };
        let heads_fit = config.heads > 0 && config.kv_heads > 0 && config.hidden.is_multiple_of(config.heads);
        if !heads_fit || !config.heads.is_multiple_of(config.kv_heads) {
            return Err(GgufError::Malformed("llama.attention.head_count".into(), format!("{config:?}")));
        }
        // Rotary embeddings turn adjacent pairs of each head's dimensions.
        if !config.head_dim().is_multiple_of(2) {
            let why = format!("head dimension {} (embedding_length / head_count) is odd", config.head_dim());
            return Err(GgufError::Malformed("llama.attention.head_count".into(), why));
        }
        Ok(config)
    }

    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }
}

/// Whether a forward pass adds the LoRA adapters' updates (the policy) or not (the reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapters {
    On,
    Off,
}

/// A linear projection without bias, y = x·W, W stored [in, out] (the checkpoint's [out, in]
/// transposed at load); with an adapter, W = W₀ + (α/r)·A·B.
#[derive(Module, Debug)]
pub struct Proj {
    /// W₀, dense; for a compact projection (`blocks`), an [in, out] view of a single zero that
    /// costs no memory and only carries the LoRA adapter (burn attaches it to a parameter).
    pub weight: Param<Tensor<2>>,
    /// W₀ kept as the GGUF's Q4_1 values and scales, on the CPU ([`blocks`]).
    #[module(skip)]
    pub blocks: Option<BlockMatrix>,
}

impl Proj {
    /// A projection whose frozen weight stays in its blocks.
    pub fn compact(w: BlockMatrix, device: &Device) -> Self {
        let anchor = Tensor::<2>::zeros([1, 1], device).expand(w.shape());
        Self { weight: Param::from_tensor(anchor), blocks: Some(w) }
    }

    /// Makes a compact projection dense (W₀ dequantised once, on the anchor's device).
    fn densify(&mut self) {
        if let Some(w) = self.blocks.take() {
            self.weight = Param::from_tensor(Tensor::from_data(w.weight(), &self.weight.val().device()));
        }
    }

    /// x·W₀.
    fn base(&self, x: Tensor<2>) -> Tensor<2> {
        match &self.blocks {
            Some(w) => blocks::matmul(x, w),
            None => x.matmul(self.weight.base()),
        }
    }

    /// `x` is [rows, in]; the result is [rows, out]. With the adapter on it is computed as
    /// x·W₀ + (α/r)·(x·A)·B, never forming W₀ + (α/r)·A·B: the merged [in, out] matrix cost more
    /// than x·W₀ itself at one row a token, and a training pass kept one per adapted projection
    /// for its backward pass (about 100 MB for q and v of SmolLM2's 30 blocks).
    pub fn forward(&self, x: Tensor<2>, adapters: Adapters) -> Tensor<2> {
        match (adapters, self.weight.reparameterization::<LoraAdapter>()) {
            (Adapters::On, Some(lora)) => {
                let update = x.clone().matmul(lora.a.val()).matmul(lora.b.val()).mul_scalar(lora.scale);
                self.base(x) + update
            }
            _ => self.base(x),
        }
    }
}

/// RMSNorm: x / sqrt(mean(x²) + eps) · g.
#[derive(Module, Debug)]
pub struct RmsNorm {
    pub gain: Param<Tensor<1>>,
    eps: f64,
}

impl RmsNorm {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let rms = x.clone().powi_scalar(2).mean_dim(D - 1).add_scalar(self.eps).sqrt();
        let [width] = self.gain.dims();
        let mut shape = [1; D];
        shape[D - 1] = width;
        x / rms * self.gain.val().reshape(shape)
    }
}

#[derive(Module, Debug)]
pub struct Attention {
    pub q: Proj,
    pub k: Proj,
    pub v: Proj,
    pub o: Proj,
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub gate: Proj,
    pub up: Proj,
    pub down: Proj,
}

#[derive(Module, Debug)]
pub struct Block {
    pub attn_norm: RmsNorm,
    pub attn: Attention,
    pub ffn_norm: RmsNorm,
    pub mlp: Mlp,
}

/// The language model.
#[derive(Module, Debug)]
pub struct Llama {
    /// Token embeddings stored transposed, [hidden, vocab]: the output head as is (tied), and
    /// the input embedding of token t is column t.
    pub embed: Param<Tensor<2>>,
    pub blocks: Vec<Block>,
    pub norm: RmsNorm,
    heads: usize,
    kv_heads: usize,
    rope_theta: f64,
}

/// Keys and values of the tokens seen so far, per layer, [B, kv_heads, T, head_dim].
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    len: usize,
}

impl KvCache {
    /// Positions already cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Repeats each cached row `n` times (a prompt read once, continued by `n` samples).
    pub fn repeat(&mut self, n: usize) {
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.clone().repeat_dim(0, n);
            *v = v.clone().repeat_dim(0, n);
        }
    }

    /// Keeps only the batch rows `rows` (continuations still running), in that order.
    pub fn retain(&mut self, rows: &[usize]) {
        for (k, v) in self.layers.iter_mut().flatten() {
            let index: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
            let index = Tensor::<1, Int>::from_data(TensorData::new(index, [rows.len()]), &k.device());
            *k = k.clone().select(0, index.clone());
            *v = v.clone().select(0, index);
        }
    }
}

/// cos and sin of the rotary angles for positions `start..start + len`, [1, 1, len, head_dim/2, 1]:
/// angle(p, i) = p · θ^(−2i/head_dim), computed in f64 on the host.
fn rope_tables(start: usize, len: usize, head_dim: usize, theta: f64, device: &Device) -> (Tensor<5>, Tensor<5>) {
    let half = head_dim / 2;
    let mut cos = Vec::with_capacity(len * half);
    let mut sin = Vec::with_capacity(len * half);
    for p in start..start + len {
        for i in 0..half {
            let angle = p as f64 * theta.powf(-2.0 * i as f64 / head_dim as f64);
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    let shape = [1, 1, len, half, 1];
    (
        Tensor::from_data(TensorData::new(cos, shape), device),
        Tensor::from_data(TensorData::new(sin, shape), device),
    )
}

/// Rotates adjacent pairs (x₂ᵢ, x₂ᵢ₊₁) of `x` [B, H, T, head_dim] by the angles in `cos`/`sin`.
fn rotate(x: Tensor<4>, cos: &Tensor<5>, sin: &Tensor<5>) -> Tensor<4> {
    let [b, h, t, d] = x.dims();
    let pairs = x.reshape([b, h, t, d / 2, 2]);
    let x0 = pairs.clone().narrow(4, 0, 1);
    let x1 = pairs.narrow(4, 1, 1);
    let r0 = x0.clone() * cos.clone() - x1.clone() * sin.clone();
    let r1 = x0 * sin.clone() + x1 * cos.clone();
    Tensor::cat(vec![r0, r1], 4).reshape([b, h, t, d])
}

/// softmax(q·kᵀ/√d + mask)·v for q [B, heads, T, d] and k, v [B, kv_heads, keys, d]: query head
/// h reads key/value head h / (heads / kv_heads).
///
/// On the CPU without autodiff (generation, evaluation) this is burn's fused attention, which
/// reads the shared key/value heads in place; otherwise (training, a GPU) the products and the
/// softmax as separate ops, each key/value head repeated for its query heads. (burn's fused
/// attention under autodiff is its masked fallback, whose gradient is NaN where the causal mask
/// puts −∞.)
fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask: Option<&Tensor<4>>) -> Tensor<4> {
    let device = q.device();
    if !device.is_autodiff() && is_cpu(&device) {
        let options = burn::tensor::ops::AttentionModuleOptions::default();
        return burn::tensor::module::attention(q, k, v, None, mask.cloned(), options);
    }
    let [b, heads, _, head_dim] = q.dims();
    let [_, kv_heads, keys, _] = k.dims();
    let share = |y: Tensor<4>| {
        y.unsqueeze_dim::<5>(2).expand([b, kv_heads, heads / kv_heads, keys, head_dim]).reshape([b, heads, keys, head_dim])
    };
    let mut scores = q.matmul(share(k).swap_dims(2, 3)).div_scalar((head_dim as f64).sqrt());
    if let Some(mask) = mask {
        scores = scores + mask.clone();
    }
    softmax(scores, 3).matmul(share(v))
}

impl Block {
    // The block's inputs are the model's running state (x, rope, mask, cache, adapters); a struct
    // for them would only rename the call.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: Tensor<3>,
        rope: &(Tensor<5>, Tensor<5>),
        cache: Option<&mut Option<(Tensor<4>, Tensor<4>)>>,
        mask: Option<&Tensor<4>>,
        heads: usize,
        kv_heads: usize,
        a: Adapters,
    ) -> Tensor<3> {
        let [b, t, hidden] = x.dims();
        let head_dim = hidden / heads;
        let rows = self.attn_norm.forward(x.clone()).reshape([b * t, hidden]);
        let split = |y: Tensor<2>, n: usize| y.reshape([b, t, n, head_dim]).swap_dims(1, 2);
        let q = rotate(split(self.attn.q.forward(rows.clone(), a), heads), &rope.0, &rope.1);
        let mut k = rotate(split(self.attn.k.forward(rows.clone(), a), kv_heads), &rope.0, &rope.1);
        let mut v = split(self.attn.v.forward(rows, a), kv_heads);
        if let Some(slot) = cache {
            if let Some((past_k, past_v)) = slot.take() {
                k = Tensor::cat(vec![past_k, k], 2);
                v = Tensor::cat(vec![past_v, v], 2);
            }
            *slot = Some((k.clone(), v.clone()));
        }
        let context = attention(q, k, v, mask).swap_dims(1, 2).reshape([b * t, hidden]);
        let x = x + self.attn.o.forward(context, a).reshape([b, t, hidden]);
        let rows = self.ffn_norm.forward(x.clone()).reshape([b * t, hidden]);
        let inner = silu(self.mlp.gate.forward(rows.clone(), a)) * self.mlp.up.forward(rows, a);
        x + self.mlp.down.forward(inner, a).reshape([b, t, hidden])
    }
}

/// Whether a model loaded onto `device` keeps its Q4_1 projections in their blocks: on the CPU
/// (Flex), where the frozen weights are most of the page worker's memory (425 MB as f32 for
/// SmolLM2's, 80 MB kept compact). A GPU keeps them dense: there a product is one kernel.
pub fn keeps_blocks(device: &Device) -> bool {
    is_cpu(device)
}

/// The additive causal mask for `len` new queries after `past` cached keys, [1, 1, len, past + len]:
/// 0 where query i may see key j (j ≤ past + i), a large negative number elsewhere.
pub fn causal_mask(past: usize, len: usize, device: &Device) -> Tensor<4> {
    let keys = past + len;
    let values: Vec<f32> =
        (0..len).flat_map(|i| (0..keys).map(move |j| if j <= past + i { 0.0 } else { -1e9 })).collect();
    Tensor::from_data(TensorData::new(values, [1, 1, len, keys]), device)
}

impl Llama {
    /// Final hidden states [B, T, hidden] for `ids` [B, T] at positions `cache.len()..`;
    /// appends the new keys and values to `cache`. `mask` is added to the attention scores
    /// (built causal when `None` and T > 1).
    pub fn forward(&self, ids: Tensor<2, Int>, cache: &mut KvCache, mask: Option<Tensor<4>>, adapters: Adapters) -> Tensor<3> {
        let [b, t] = ids.dims();
        let device = ids.device();
        let past = cache.len;
        let [hidden, _] = self.embed.dims();
        let mut x = self.embed.val().select(1, ids.reshape([b * t])).transpose().reshape([b, t, hidden]);
        let rope = rope_tables(past, t, hidden / self.heads, self.rope_theta, &device);
        let mask = mask.or_else(|| (t > 1).then(|| causal_mask(past, t, &device)));
        if cache.layers.len() != self.blocks.len() {
            cache.layers = vec![None; self.blocks.len()];
        }
        for (block, slot) in self.blocks.iter().zip(cache.layers.iter_mut()) {
            x = block.forward(x, &rope, Some(slot), mask.as_ref(), self.heads, self.kv_heads, adapters);
        }
        cache.len += t;
        self.norm.forward(x)
    }

    /// The model with LoRA adapters on `config.targets` of every block, A drawn as
    /// [`LoraInit`] says from the device's RNG seeded with `seed`, B = 0 (so it starts equal to
    /// the base). Every other parameter is frozen; only the adapters train.
    pub fn with_lora(self, config: &LoraConfig, seed: u64) -> Self {
        self.embed.val().device().seed(seed);
        config.attach(self)
    }

    /// The model with every compact projection made dense, as a GPU loads it (before LoRA is
    /// attached): the same values, four bytes a weight.
    pub fn with_dense_weights(mut self) -> Self {
        for b in &mut self.blocks {
            for proj in [&mut b.attn.q, &mut b.attn.k, &mut b.attn.v, &mut b.attn.o, &mut b.mlp.gate, &mut b.mlp.up, &mut b.mlp.down] {
                proj.densify();
            }
        }
        self
    }

    /// Logits over the vocabulary for hidden states [rows, hidden] (the tied head): [rows, vocab].
    pub fn logits(&self, hidden: Tensor<2>) -> Tensor<2> {
        crate::model::head::logits(hidden, self.embed.val())
    }

    /// A model with random weights (N(0, 0.02), unit norm gains) of shape `c`, seeded: for tests
    /// and gradient checks on tiny configurations.
    pub fn random(c: &LlamaConfig, seed: u64, device: &Device) -> Self {
        use burn::tensor::Distribution;
        device.seed(seed);
        let kv = c.kv_heads * c.head_dim();
        let w = |i: usize, o: usize| Param::from_tensor(Tensor::random([i, o], Distribution::Normal(0.0, 0.02), device));
        let proj = |i, o| Proj { weight: w(i, o), blocks: None };
        let norm = || RmsNorm { gain: Param::from_tensor(Tensor::ones([c.hidden], device)), eps: c.rms_eps };
        let blocks = (0..c.layers)
            .map(|_| Block {
                attn_norm: norm(),
                attn: Attention { q: proj(c.hidden, c.hidden), k: proj(c.hidden, kv), v: proj(c.hidden, kv), o: proj(c.hidden, c.hidden) },
                ffn_norm: norm(),
                mlp: Mlp { gate: proj(c.hidden, c.ffn), up: proj(c.hidden, c.ffn), down: proj(c.ffn, c.hidden) },
            })
            .collect();
        Self { embed: w(c.hidden, c.vocab), blocks, norm: norm(), heads: c.heads, kv_heads: c.kv_heads, rope_theta: c.rope_theta }
    }

    /// Loads the weights of a llama GGUF (F32/F16/Q8_0/Q4_1, dequantised to f32) onto `device`;
    /// on the CPU the blocks' Q4_1 projections stay compact ([`keeps_blocks`]). A missing tensor
    /// or one of the wrong shape is an error naming it.
    pub fn from_gguf(gguf: &Gguf, device: &Device) -> Result<(Self, LlamaConfig), GgufError> {
        let c = LlamaConfig::from_gguf(gguf)?;
        let kv = c.kv_heads * c.head_dim();
        // The checkpoint's [out, in] matrices, transposed to [in, out].
        let tensor2 = |name: &str, [out, inp]: [usize; 2]| -> Result<Param<Tensor<2>>, GgufError> {
            let values = gguf.matrix_f32_transposed(name, [out, inp])?;
            Ok(Param::from_tensor(Tensor::from_data(TensorData::new(values, [inp, out]), device)))
        };
        let norm = |name: &str| -> Result<RmsNorm, GgufError> {
            let (values, _) = gguf.tensor_f32(name, Some(&[c.hidden]))?;
            Ok(RmsNorm { gain: Param::from_tensor(Tensor::from_data(TensorData::new(values, [c.hidden]), device)), eps: c.rms_eps })
        };
        let compact = keeps_blocks(device);
        let proj = |name: String, out: usize, inp: usize| -> Result<Proj, GgufError> {
            match gguf.q4_1_blocks(&name, [out, inp])? {
                // Blocks that run across rows (a width not a whole number of blocks) stay dense.
                Some(raw) if compact && inp.is_multiple_of(deviate_blocks::VALUES) => {
                    Ok(Proj::compact(BlockMatrix::new(raw, out, inp), device))
                }
                _ => Ok(Proj { weight: tensor2(&name, [out, inp])?, blocks: None }),
            }
        };
        // The embedding first: the largest matrix, loaded while little else is held.
        let embed = tensor2("token_embd.weight", [c.vocab, c.hidden])?;
        // The block count comes from the file: reserve no more than it has tensors.
        let mut blocks = Vec::with_capacity(c.layers.min(gguf.tensors.len()));
        for l in 0..c.layers {
            let p = |s: &str| format!("blk.{l}.{s}.weight");
            blocks.push(Block {
                attn_norm: norm(&p("attn_norm"))?,
                attn: Attention {
                    q: proj(p("attn_q"), c.hidden, c.hidden)?,
                    k: proj(p("attn_k"), kv, c.hidden)?,
                    v: proj(p("attn_v"), kv, c.hidden)?,
                    o: proj(p("attn_output"), c.hidden, c.hidden)?,
                },
                ffn_norm: norm(&p("ffn_norm"))?,
                mlp: Mlp {
                    gate: proj(p("ffn_gate"), c.ffn, c.hidden)?,
                    up: proj(p("ffn_up"), c.ffn, c.hidden)?,
                    down: proj(p("ffn_down"), c.hidden, c.ffn)?,
                },
            });
        }
        let model = Self {
            embed,
            blocks,
            norm: norm("output_norm.weight")?,
            heads: c.heads,
            kv_heads: c.kv_heads,
            rope_theta: c.rope_theta,
        };
        Ok((model, c))
    }
}

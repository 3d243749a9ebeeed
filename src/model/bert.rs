//! all-MiniLM-L6-v2: a 6-layer BERT encoder (post-LN, the erf GELU rather than its tanh
//! approximation), mean pooling over the attention mask and L2 normalisation, as
//! sentence-transformers runs it.
//!
//! Field names follow the checkpoint's tensor names (`embeddings.word_embeddings.weight`,
//! `encoder.layer.N.attention.self.query.weight`, …) so the safetensors file loads with two
//! renames (`LayerNorm` → `layer_norm`, `attention.self` → `attention.self_attention`).

use burn::module::Module;
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Int, Tensor};

use crate::model::activation::gelu;

/// all-MiniLM-L6-v2's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub max_positions: usize,
    pub type_vocab_size: usize,
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub layer_norm_eps: f64,
}

impl Default for BertConfig {
    fn default() -> Self {
        Self {
            vocab_size: 30522,
            max_positions: 512,
            type_vocab_size: 2,
            hidden: 384,
            heads: 12,
            intermediate: 1536,
            layers: 6,
            layer_norm_eps: 1e-12,
        }
    }
}

#[derive(Module, Debug)]
pub struct Embeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    layer_norm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
}

#[derive(Module, Debug)]
pub struct Dense {
    dense: Linear,
}

#[derive(Module, Debug)]
pub struct DenseNorm {
    dense: Linear,
    layer_norm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct Attention {
    self_attention: SelfAttention,
    output: DenseNorm,
}

#[derive(Module, Debug)]
pub struct Layer {
    attention: Attention,
    intermediate: Dense,
    output: DenseNorm,
}

#[derive(Module, Debug)]
pub struct Encoder {
    layer: Vec<Layer>,
}

/// The encoder; `heads` is not a parameter, so it is kept beside the modules.
#[derive(Module, Debug)]
pub struct Bert {
    embeddings: Embeddings,
    encoder: Encoder,
    heads: usize,
}

impl BertConfig {
    /// A model with freshly initialised weights (load the checkpoint into it).
    pub fn init(&self, device: &Device) -> Bert {
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        let norm = || LayerNormConfig::new(self.hidden).with_epsilon(self.layer_norm_eps).init(device);
        let layer = || Layer {
            attention: Attention {
                self_attention: SelfAttention {
                    query: linear(self.hidden, self.hidden),
                    key: linear(self.hidden, self.hidden),
                    value: linear(self.hidden, self.hidden),
                },
                output: DenseNorm { dense: linear(self.hidden, self.hidden), layer_norm: norm() },
            },
            intermediate: Dense { dense: linear(self.hidden, self.intermediate) },
            output: DenseNorm { dense: linear(self.intermediate, self.hidden), layer_norm: norm() },
        };
        Bert {
            embeddings: Embeddings {
                word_embeddings: EmbeddingConfig::new(self.vocab_size, self.hidden).init(device),
                position_embeddings: EmbeddingConfig::new(self.max_positions, self.hidden).init(device),
                token_type_embeddings: EmbeddingConfig::new(self.type_vocab_size, self.hidden).init(device),
                layer_norm: norm(),
            },
            encoder: Encoder { layer: (0..self.layers).map(|_| layer()).collect() },
            heads: self.heads,
        }
    }
}

impl Layer {
    /// One post-LN block: x ← LN(x + Attn(x)); x ← LN(x + W₂ GELU(W₁ x)).
    /// `x` holds every token of the batch as rows, [B·L, hidden], so each projection is one
    /// large matrix product (much faster on the CPU than B small ones); `mask_bias` is 0 for
    /// real keys and a large negative number for padding, [B, 1, 1, L].
    fn forward(&self, x: Tensor<2>, mask_bias: Tensor<4>, heads: usize) -> Tensor<2> {
        let [batch, _, _, length] = mask_bias.dims();
        let [_, hidden] = x.dims();
        let head_dim = hidden / heads;
        let split = |t: Tensor<2>| t.reshape([batch, length, heads, head_dim]).swap_dims(1, 2);
        let projections = &self.attention.self_attention;
        let q = split(projections.query.forward(x.clone()));
        let k = split(projections.key.forward(x.clone()));
        let v = split(projections.value.forward(x.clone()));
        // softmax(q·kᵀ/√d + mask_bias)·v as one op: burn's CPU backend fuses it (per head, in
        // parallel); WebGPU runs it as the separate products and softmax (its fused kernel
        // takes no additive bias).
        let context = burn::tensor::module::attention(q, k, v, None, Some(mask_bias), AttentionModuleOptions::default());
        let context = context.swap_dims(1, 2).reshape([batch * length, hidden]);
        let output = &self.attention.output;
        let x = output.layer_norm.forward(output.dense.forward(context) + x);
        let inner = gelu(self.intermediate.dense.forward(x.clone()));
        self.output.layer_norm.forward(self.output.dense.forward(inner) + x)
    }
}

impl Bert {
    /// Token embeddings of the last layer, [B, L, hidden], for `ids` and `mask` (1 = token,
    /// 0 = padding), both [B, L].
    pub fn hidden_states(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<3> {
        let [batch, length] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<1, Int>::arange(0..length as i64, &device).unsqueeze::<2>().expand([batch, length]);
        let types = Tensor::<2, Int>::zeros([batch, length], &device);
        let e = &self.embeddings;
        let x = e.layer_norm.forward(
            e.word_embeddings.forward(ids) + e.position_embeddings.forward(positions) + e.token_type_embeddings.forward(types),
        );
        let [_, _, hidden] = x.dims();
        // Padding keys get −10000 before the softmax, as in the reference BERT.
        let mask_bias = (mask.ones_like() - mask).mul_scalar(-10000.0).reshape([batch, 1, 1, length]);
        let mut x = x.reshape([batch * length, hidden]);
        for layer in &self.encoder.layer {
            x = layer.forward(x, mask_bias.clone(), self.heads);
        }
        x.reshape([batch, length, hidden])
    }

    /// Sentence embeddings, [B, hidden]: the mean of the token states over the mask, then
    /// divided by its L2 norm.
    pub fn embed(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<2> {
        let [batch, length] = mask.dims();
        let states = self.hidden_states(ids, mask.clone());
        let weights = mask.reshape([batch, length, 1]);
        let summed = (states * weights.clone()).sum_dim(1).squeeze_dim::<2>(1);
        let counts = weights.sum_dim(1).squeeze_dim::<2>(1).clamp_min(1e-9);
        let mean = summed / counts;
        let norm = mean.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
        mean / norm
    }
}

/// The checkpoint could not be loaded into the encoder.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("model.safetensors: {0}")]
    Store(String),
    #[error("model.safetensors lacks {0}")]
    Missing(String),
}

impl Bert {
    /// Loads the sentence-transformers checkpoint (`model.safetensors`, linear weights stored
    /// [out, in], no `bert.` prefix) onto `device`.
    pub fn from_safetensors(config: &BertConfig, bytes: Vec<u8>, device: &Device) -> Result<Self, LoadError> {
        let mut model = config.init(device);
        let mut store = SafetensorsStore::from_bytes(Some(bytes))
            .with_from_adapter(PyTorchToBurnAdapter)
            .with_key_remapping(r"LayerNorm", "layer_norm")
            .with_key_remapping(r"attention\.self\.", "attention.self_attention.")
            .allow_partial(true);
        let result = model.load_from(&mut store).map_err(|e| LoadError::Store(e.to_string()))?;
        if let Some((name, _)) = result.missing.first() {
            return Err(LoadError::Missing(name.clone()));
        }
        if let Some(error) = result.errors.first() {
            return Err(LoadError::Store(format!("{error:?}")));
        }
        Ok(model)
    }
}

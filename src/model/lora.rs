//! LoRA as peft attaches it: which projections get adapters, their rank and scale, and how
//! their factors start ([`LoraInit`]). Weights are stored [in, out], so an adapted projection is
//! x·W₀ + (α/r)·(x·A)·B with A [in, r] and B [r, out] (peft's `lora_A.weight` is Aᵀ, `lora_B.weight` Bᵀ).

use burn::module::{Lora, LoraAdapter, Module, Param, ParamGroup, Reparameterizer};
use burn::tensor::{Distribution, Tensor};

/// A projection the LoRA adapters can attach to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Target {
    pub const ALL: [Target; 7] = [Self::Q, Self::K, Self::V, Self::O, Self::Gate, Self::Up, Self::Down];

    /// The name in JSON and links (and the page's labels).
    pub fn name(self) -> &'static str {
        match self {
            Target::Q => "q",
            Target::K => "k",
            Target::V => "v",
            Target::O => "o",
            Target::Gate => "gate",
            Target::Up => "up",
            Target::Down => "down",
        }
    }

    pub(crate) fn path(self) -> &'static str {
        match self {
            Target::Q => r"attn\.q",
            Target::K => r"attn\.k",
            Target::V => r"attn\.v",
            Target::O => r"attn\.o",
            Target::Gate => r"mlp\.gate",
            Target::Up => r"mlp\.up",
            Target::Down => r"mlp\.down",
        }
    }
}

/// How the adapters' A factor is drawn (B starts at 0 either way, so a fresh adapter changes
/// nothing). With Adam, B's first updates are about ±lr whatever the gradient's scale, so A's
/// scale sets how far a step moves the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraInit {
    /// peft's `LoraLayer.reset_lora_parameters(init_lora_weights=True)`: torch's
    /// `kaiming_uniform_(A, a=√5)`, i.e. A ~ U(−1/√in, 1/√in) (std 1/√(3·in): 0.024 for
    /// SmolLM2's 576 inputs).
    #[default]
    KaimingUniform,
    /// burn 0.22's `Lora::new`: A ~ N(0, 1/r) (std 0.125 at r = 8). What links of format 1
    /// trained with; kept so they reproduce.
    Normal,
}

impl LoraInit {
    /// The distribution of A's entries for a projection with `inputs` inputs and rank `rank`.
    pub fn distribution(self, inputs: usize, rank: usize) -> Distribution {
        match self {
            LoraInit::KaimingUniform => {
                let bound = 1.0 / (inputs as f64).sqrt();
                Distribution::Uniform(-bound, bound)
            }
            LoraInit::Normal => Distribution::Normal(0.0, 1.0 / rank as f64),
        }
    }
}

/// LoRA's shape: rank r, scale α / r, which projections of every block it adapts (dropout 0),
/// and how A is drawn. The defaults are peft's `LoraConfig(r=8, lora_alpha=16,
/// target_modules=["q_proj", "v_proj"], lora_dropout=0.0)` (the paper's choice of q and v).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    pub targets: Vec<Target>,
    pub init: LoraInit,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self { rank: 8, alpha: 16.0, targets: vec![Target::Q, Target::V], init: LoraInit::KaimingUniform }
    }
}

impl LoraConfig {
    /// `module` with adapters on the targets' weights (paths `blocks.N.<target>.weight`), drawn
    /// from the device's RNG; every other parameter frozen.
    pub fn attach<M: Module>(&self, module: M) -> M {
        let targets: Vec<&str> = self.targets.iter().map(|t| t.path()).collect();
        let pattern = format!(r"^blocks\.\d+\.({})\.weight$", targets.join("|"));
        let group = ParamGroup::from_regex(&pattern).expect("a valid pattern");
        match self.init {
            // burn's own, so that format-1 links draw exactly what they drew.
            LoraInit::Normal => module.apply_lora(Lora::new(self.rank, self.alpha).set_param_group(group)),
            LoraInit::KaimingUniform => module.apply_reparameterization(KaimingUniform { config: self.clone(), group }),
        }
    }
}

/// peft's adapters as a burn reparameterizer: burn's [`Lora`] with A drawn uniformly (burn's
/// draws from a normal distribution only). Like it, it freezes every base parameter.
struct KaimingUniform {
    config: LoraConfig,
    group: ParamGroup,
}

impl Reparameterizer for KaimingUniform {
    type Reparam = LoraAdapter;

    fn reparameterize<const D: usize>(&mut self, path: &str, param: Param<Tensor<D>>) -> (Param<Tensor<D>>, Option<LoraAdapter>) {
        let (id, dims, device) = (param.id, param.dims(), param.device());
        let base = param.set_require_grad(false);
        if D != 2 || !self.group.matches(&id, Some(path)) {
            return (base, None);
        }
        let (inputs, outputs, rank) = (dims[0], dims[1], self.config.rank);
        let distribution = LoraInit::KaimingUniform.distribution(inputs, rank);
        // Parameters live as long as the model: allocated as burn's `Lora` allocates them.
        let (a, b) = device.memory_persistent_allocations((), |_| {
            (Tensor::<2>::random([inputs, rank], distribution, &device), Tensor::<2>::zeros([rank, outputs], &device))
        });
        let scale = self.config.alpha / rank as f64;
        (base, Some(LoraAdapter { a: Param::from_tensor(a), b: Param::from_tensor(b), scale }))
    }
}


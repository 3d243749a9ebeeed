//! `deviate loss`: a preference loss from given log-probabilities, computed by the engine's own
//! formulas (`src/engine/losses.rs`), so another implementation (e.g. examples/trl_ddpo.py on
//! TRL) can be checked against it number for number.

use std::io::Read;

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use deviate::engine::losses::{Share, ddpo_loss, dorpo_loss};
use deviate::engine::train::Method;
use serde::Deserialize;

/// DPO/DDPO input: summed completion log-probs of policy and reference, weights and β.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DpoTerms {
    chosen: Vec<f32>,
    rejected: Vec<f32>,
    ref_chosen: Vec<f32>,
    ref_rejected: Vec<f32>,
    weight: Vec<f32>,
    beta: f64,
}

/// ORPO/DORPO input: mean completion log-probs, weights, the chosen NLL and λ.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrpoTerms {
    mean_chosen: Vec<f32>,
    mean_rejected: Vec<f32>,
    weight: Vec<f32>,
    nll: f32,
    lambda: f64,
}

fn tensor(values: &[f32], n: usize, name: &str, device: &Device) -> Result<Tensor<1>> {
    if values.len() != n {
        bail!("{name} has {} values; chosen has {n}", values.len());
    }
    Ok(Tensor::from_data(TensorData::new(values.to_vec(), [n]), device))
}

/// Reads the terms (JSON on stdin) and prints the loss of `method`.
pub fn run(method: Method) -> Result<()> {
    let mut json = String::new();
    std::io::stdin().read_to_string(&mut json).context("reading stdin")?;
    let device = Device::flex();
    let loss = if method.odds_ratio() {
        let t: OrpoTerms = serde_json::from_str(&json).context("ORPO/DORPO terms")?;
        let n = t.mean_chosen.len();
        let nll = Tensor::from_data(TensorData::new(vec![t.nll], [1]), &device);
        let (c, r) = (tensor(&t.mean_chosen, n, "mean_chosen", &device)?, tensor(&t.mean_rejected, n, "mean_rejected", &device)?);
        let w = weights(method, &t.weight, n);
        dorpo_loss(c, r, tensor(&w, n, "weight", &device)?, nll, t.lambda, Share::whole(&w)).loss
    } else {
        let t: DpoTerms = serde_json::from_str(&json).context("DPO/DDPO terms")?;
        let n = t.chosen.len();
        let (c, r) = (tensor(&t.chosen, n, "chosen", &device)?, tensor(&t.rejected, n, "rejected", &device)?);
        let (rc, rr) = (tensor(&t.ref_chosen, n, "ref_chosen", &device)?, tensor(&t.ref_rejected, n, "ref_rejected", &device)?);
        let w = weights(method, &t.weight, n);
        ddpo_loss(c, r, rc, rr, tensor(&w, n, "weight", &device)?, t.beta, Share::whole(&w)).loss
    };
    let value = loss.into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    println!("{}", serde_json::json!({ "method": method.name(), "loss": value[0] }));
    Ok(())
}

/// The weights as given for the weighted methods (`tensor` checks their count); all 1 for DPO
/// and ORPO.
fn weights(method: Method, given: &[f32], n: usize) -> Vec<f32> {
    if method.weighted() { given.to_vec() } else { vec![1.0; n] }
}

//! The preference losses, each once, on burn tensors (so they train with autodiff). Inputs are
//! per-pair completion log-probabilities; `weight` is each pair's chosen-response weight
//! w = z / mean z from `core::deviation` (all 1 for plain DPO / ORPO).

use burn::tensor::Tensor;

/// Largest m fed to log(1 − e^m): a mean log-prob that rounds to 0 (or above) stays finite.
const M_MAX: f64 = -1e-12;

/// log(1 − e^m) for m < 0, stable in f32 at both ends (m is clamped to at most [`M_MAX`]):
/// near 0 it is log(−expm1(m)) with −expm1(m) = −2t / (1 − t), t = tanh(m/2), i.e.
/// log(−2t) − log1p(−t) (no cancellation as m → 0, where log1p(−e^m) would give −∞);
/// below −ln 2 it is log1p(−e^m). Both branches stay finite everywhere, so neither poisons the
/// gradient of the other.
pub fn log1m_exp(m: Tensor<1>) -> Tensor<1> {
    let m = m.clamp_max(M_MAX);
    let t = m.clone().div_scalar(2.0).tanh();
    let near = t.clone().mul_scalar(-2.0).log() - t.neg().log1p();
    let far = m.clone().clamp_max(-std::f64::consts::LN_2).exp().neg().log1p();
    far.mask_where(m.greater_elem(-std::f64::consts::LN_2), near)
}
use burn::tensor::activation::log_sigmoid;

/// Which part of a batch's loss one call computes. A step may read its batch in several passes
/// (one pair at a time on the CPU, where a pass's activations are what fills memory); each
/// pass's loss is then its pairs' share of the batch's loss, and the shares add up to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Share {
    /// Pairs in the whole batch: each pair's term is divided by it (the loss is a mean).
    pub batch_pairs: usize,
    /// mean(w) over the whole batch (DORPO's NLL weight).
    pub batch_mean_weight: f64,
}

impl Share {
    /// One pass over the whole batch of pairs weighted `weights`.
    pub fn whole(weights: &[f32]) -> Self {
        let mean = weights.iter().map(|&w| f64::from(w)).sum::<f64>() / weights.len().max(1) as f64;
        Self { batch_pairs: weights.len(), batch_mean_weight: mean }
    }
}

/// The implicit rewards and loss terms of a batch, for TRL-style metrics.
pub struct PreferenceTerms {
    /// The scalar loss, [1].
    pub loss: Tensor<1>,
    /// rewards/chosen and rewards/rejected per pair, [P].
    pub chosen_rewards: Tensor<1>,
    pub rejected_rewards: Tensor<1>,
}

/// DDPO (Chung et al. 2025, eq. for deviation-weighted DPO):
///
/// L = mean_i −w_i · log σ(β[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))])
///
/// with log-probs **summed** over the completion tokens (EOS included). DPO is w = 1.
/// Rewards (TRL): chosen = β(log π(y_w) − log π_ref(y_w)), rejected likewise.
/// The given pairs' [`Share`]: their terms summed and divided by the batch's pair count.
pub fn ddpo_loss(
    policy_chosen: Tensor<1>,
    policy_rejected: Tensor<1>,
    reference_chosen: Tensor<1>,
    reference_rejected: Tensor<1>,
    weight: Tensor<1>,
    beta: f64,
    share: Share,
) -> PreferenceTerms {
    let chosen_rewards = (policy_chosen - reference_chosen).mul_scalar(beta);
    let rejected_rewards = (policy_rejected - reference_rejected).mul_scalar(beta);
    let loss = (log_sigmoid(chosen_rewards.clone() - rejected_rewards.clone()) * weight).neg().sum().div_scalar(share.batch_pairs as f64);
    PreferenceTerms { loss, chosen_rewards: chosen_rewards.detach(), rejected_rewards: rejected_rewards.detach() }
}

/// DORPO (deviation-weighted ORPO), with m = the **mean** per-token completion log-prob:
///
/// logodds_i = w_i [(m_c − m_r) − (log(1 − e^{m_c}) − log(1 − e^{m_r}))]  (weight inside the log-sigmoid;
/// log(1 − e^m) by [`log1m_exp`])
///
/// L = mean(w) · NLL − λ · mean_i log σ(logodds_i)
///
/// where NLL is the cross-entropy averaged over all tokens of the chosen sequences. ORPO is w = 1.
/// Rewards (TRL's ORPO): chosen = λ·m_c, rejected = λ·m_r.
/// The given pairs' [`Share`]: `nll` is their part of the batch's NLL (minus the log-probs of
/// their chosen tokens, divided by the batch's chosen-token count), weighted by the batch's
/// mean(w), and their log σ terms are summed and divided by the batch's pair count.
pub fn dorpo_loss(mean_chosen: Tensor<1>, mean_rejected: Tensor<1>, weight: Tensor<1>, nll: Tensor<1>, lambda: f64, share: Share) -> PreferenceTerms {
    let odds = (mean_chosen.clone() - mean_rejected.clone()) - (log1m_exp(mean_chosen.clone()) - log1m_exp(mean_rejected.clone()));
    let logodds = odds * weight;
    let pairs = share.batch_pairs as f64;
    let loss = nll.mul_scalar(share.batch_mean_weight) - log_sigmoid(logodds).sum().mul_scalar(lambda / pairs);
    PreferenceTerms {
        loss,
        chosen_rewards: mean_chosen.detach().mul_scalar(lambda),
        rejected_rewards: mean_rejected.detach().mul_scalar(lambda),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn t(values: &[f64]) -> Tensor<1> {
        let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        let n = values.len();
        Tensor::from_data(TensorData::new(values, [n]), &Device::flex())
    }

    fn scalar(x: Tensor<1>) -> f64 {
        x.into_data().try_to_vec::<f32>().unwrap()[0] as f64
    }

    // Values printed by shared/reference/ref_vectors.py (s = 0.5, −1 → w = 1.5, 0).
    #[test]
    fn ddpo_and_dpo_match_the_reference_vectors() {
        let (pc, pr, rc, rr) = (t(&[-100.0, -250.0]), t(&[-120.0, -240.0]), t(&[-105.0, -245.0]), t(&[-118.0, -242.0]));
        let ddpo = ddpo_loss(pc.clone(), pr.clone(), rc.clone(), rr.clone(), t(&[1.5, 0.0]), 0.1, Share::whole(&[1.5, 0.0]));
        assert!((scalar(ddpo.loss) - 0.3023895366640934).abs() < 1e-6);
        let dpo = ddpo_loss(pc, pr, rc, rr, t(&[1.0, 1.0]), 0.1, Share::whole(&[1.0, 1.0]));
        assert!((scalar(dpo.loss) - 0.7531860488854578).abs() < 1e-6);
        let chosen = dpo.chosen_rewards.into_data().try_to_vec::<f32>().unwrap();
        assert!((chosen[0] - 0.5).abs() < 1e-5 && (chosen[1] + 0.5).abs() < 1e-5, "{chosen:?}");
    }

    #[test]
    fn log1m_exp_is_finite_and_accurate_near_zero_and_far_from_it() {
        // m: −1e−8 (f32's e^m rounds to 1 there), −0.3, −ln 2 ± a little, −5, −40, 0 (clamped).
        let ms = [-1e-8, -0.3, -0.69, -0.7, -5.0, -40.0, 0.0];
        let got = log1m_exp(t(&ms)).into_data().try_to_vec::<f32>().unwrap();
        for (&m, &g) in ms.iter().zip(&got) {
            let m = (m as f32 as f64).min(M_MAX);
            let want = (-(m.exp_m1())).ln();
            assert!(g.is_finite(), "m = {m}: {g}");
            assert!(((g as f64) - want).abs() <= 1e-5 * want.abs().max(1e-3), "m = {m}: {g} vs {want}");
        }
        // ORPO with a chosen mean log-prob that rounds to 0 is a finite loss, not a rejected step.
        let orpo = dorpo_loss(t(&[-1e-9]), t(&[-2.0]), t(&[1.0]), t(&[0.1]), 0.25, Share::whole(&[1.0]));
        assert!(scalar(orpo.loss).is_finite());
    }

    #[test]
    fn dorpo_and_orpo_match_the_reference_vectors() {
        let (mc, mr) = (t(&[-1.2, -2.0]), t(&[-1.5, -1.9]));
        let dorpo = dorpo_loss(mc.clone(), mr.clone(), t(&[1.5, 0.0]), t(&[2.3]), 0.25, Share::whole(&[1.5, 0.0]));
        assert!((scalar(dorpo.loss) - 1.8659385203517045).abs() < 1e-5);
        let orpo = dorpo_loss(mc, mr, t(&[1.0, 1.0]), t(&[2.3]), 0.25, Share::whole(&[1.0, 1.0]));
        assert!((scalar(orpo.loss) - 2.4579745451411403).abs() < 1e-5);
    }

    #[test]
    fn the_shares_of_one_pair_each_add_up_to_the_batch_loss() {
        let (pc, pr, rc, rr, w) = ([-100.0, -250.0, -7.0], [-120.0, -240.0, -9.5], [-105.0, -245.0, -8.0], [-118.0, -242.0, -9.0], [1.5, 0.0, 1.5]);
        let share = Share::whole(&w.map(|x| x as f32));
        let whole = scalar(ddpo_loss(t(&pc), t(&pr), t(&rc), t(&rr), t(&w), 0.1, share).loss);
        let parts: f64 = (0..3).map(|i| scalar(ddpo_loss(t(&pc[i..=i]), t(&pr[i..=i]), t(&rc[i..=i]), t(&rr[i..=i]), t(&w[i..=i]), 0.1, share).loss)).sum();
        assert!((whole - parts).abs() < 1e-6 && whole > 0.1, "{whole} vs {parts}");
        // DORPO: the batch NLL 2.3 split over the pairs' chosen tokens (1.0 + 0.5 + 0.8).
        let (mc, mr, nll) = ([-1.2, -2.0, -0.4], [-1.5, -1.9, -0.9], [1.0, 0.5, 0.8]);
        let whole = scalar(dorpo_loss(t(&mc), t(&mr), t(&w), t(&[2.3]), 0.25, share).loss);
        let parts: f64 = (0..3).map(|i| scalar(dorpo_loss(t(&mc[i..=i]), t(&mr[i..=i]), t(&w[i..=i]), t(&nll[i..=i]), 0.25, share).loss)).sum();
        assert!((whole - parts).abs() < 1e-5 && whole > 1.0, "{whole} vs {parts}");
    }
}

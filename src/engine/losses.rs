//! The preference losses, each once, on burn tensors (so they train with autodiff). Inputs are
//! per-pair completion log-probabilities; `weight` is each pair's chosen-response weight
//! w = 1 + s from `core::deviation` (all 1 for plain DPO / ORPO).

use burn::tensor::Tensor;
use burn::tensor::activation::log_sigmoid;

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
pub fn ddpo_loss(
    policy_chosen: Tensor<1>,
    policy_rejected: Tensor<1>,
    reference_chosen: Tensor<1>,
    reference_rejected: Tensor<1>,
    weight: Tensor<1>,
    beta: f64,
) -> PreferenceTerms {
    let chosen_rewards = (policy_chosen - reference_chosen).mul_scalar(beta);
    let rejected_rewards = (policy_rejected - reference_rejected).mul_scalar(beta);
    let loss = (log_sigmoid(chosen_rewards.clone() - rejected_rewards.clone()) * weight).neg().mean();
    PreferenceTerms { loss, chosen_rewards: chosen_rewards.detach(), rejected_rewards: rejected_rewards.detach() }
}

/// DORPO (deviation-weighted ORPO), with m = the **mean** per-token completion log-prob:
///
/// logodds_i = w_i [(m_c − m_r) − (log(1 − e^{m_c}) − log(1 − e^{m_r}))]  (weight inside the log-sigmoid)
///
/// L = mean(w) · NLL − λ · mean_i log σ(logodds_i)
///
/// where NLL is the cross-entropy averaged over all tokens of the chosen sequences. ORPO is w = 1.
/// Rewards (TRL's ORPO): chosen = λ·m_c, rejected = λ·m_r.
pub fn dorpo_loss(mean_chosen: Tensor<1>, mean_rejected: Tensor<1>, weight: Tensor<1>, nll: Tensor<1>, lambda: f64) -> PreferenceTerms {
    let log1m_exp = |m: Tensor<1>| m.exp().neg().log1p();
    let odds = (mean_chosen.clone() - mean_rejected.clone()) - (log1m_exp(mean_chosen.clone()) - log1m_exp(mean_rejected.clone()));
    let logodds = odds * weight.clone();
    let loss = nll * weight.mean() - log_sigmoid(logodds).mean().mul_scalar(lambda);
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
        let ddpo = ddpo_loss(pc.clone(), pr.clone(), rc.clone(), rr.clone(), t(&[1.5, 0.0]), 0.1);
        assert!((scalar(ddpo.loss) - 0.3023895366640934).abs() < 1e-6);
        let dpo = ddpo_loss(pc, pr, rc, rr, t(&[1.0, 1.0]), 0.1);
        assert!((scalar(dpo.loss) - 0.7531860488854578).abs() < 1e-6);
        let chosen = dpo.chosen_rewards.into_data().try_to_vec::<f32>().unwrap();
        assert!((chosen[0] - 0.5).abs() < 1e-5 && (chosen[1] + 0.5).abs() < 1e-5, "{chosen:?}");
    }

    #[test]
    fn dorpo_and_orpo_match_the_reference_vectors() {
        let (mc, mr) = (t(&[-1.2, -2.0]), t(&[-1.5, -1.9]));
        let dorpo = dorpo_loss(mc.clone(), mr.clone(), t(&[1.5, 0.0]), t(&[2.3]), 0.25);
        assert!((scalar(dorpo.loss) - 1.8659385203517045).abs() < 1e-5);
        let orpo = dorpo_loss(mc, mr, t(&[1.0, 1.0]), t(&[2.3]), 0.25);
        assert!((scalar(orpo.loss) - 2.4579745451411403).abs() < 1e-5);
    }
}

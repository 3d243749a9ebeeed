//! Chart geometry, apart from the views: a non-finite value (a NaN margin, an infinite gain)
//! is a gap in a line and a missing dot, never a line drawn to nowhere or a lost chart.

/// The least and greatest finite values, if there is one.
pub fn finite_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite()).fold(None, |range, v| match range {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// An SVG path of `values` (one per step, left to right) in a `width`×`height` box: each run of
/// finite values is its own segment, so a non-finite value leaves a gap. Empty for fewer than
/// two values.
pub fn spark_path(values: &[f64], width: f64, height: f64) -> String {
    let Some((lo, hi)) = finite_range(values.iter().copied()).filter(|_| values.len() >= 2) else { return String::new() };
    let span = if hi > lo { hi - lo } else { 1.0 };
    let x = |i: usize| i as f64 * width / (values.len() - 1) as f64;
    let y = |v: f64| height - 2.0 - (v - lo) / span * (height - 4.0);
    let mut path = Vec::new();
    let mut pen_down = false;
    for (i, &v) in values.iter().enumerate() {
        if !v.is_finite() {
            pen_down = false;
            continue;
        }
        path.push(format!("{}{:.1},{:.1}", if pen_down { "L" } else { "M" }, x(i), y(v)));
        pen_down = true;
    }
    path.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_finite_value_is_a_gap() {
        assert_eq!(spark_path(&[0.0, 1.0], 120.0, 40.0), "M0.0,38.0 L120.0,2.0");
        assert_eq!(spark_path(&[0.0, f64::NAN, 1.0, 0.5], 120.0, 40.0), "M0.0,38.0 M80.0,2.0 L120.0,20.0");
        assert_eq!(spark_path(&[f64::INFINITY, 2.0, 2.0], 120.0, 40.0), "M60.0,38.0 L120.0,38.0");
        assert_eq!(spark_path(&[f64::NAN, f64::NAN], 120.0, 40.0), "");
        assert_eq!(spark_path(&[1.0], 120.0, 40.0), "");
        assert_eq!(finite_range([f64::NEG_INFINITY, 3.0, -1.0, f64::NAN]), Some((-1.0, 3.0)));
    }
}

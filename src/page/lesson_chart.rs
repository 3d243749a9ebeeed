//! The lesson's one chart, apart from its view: DPO's and DDPO's probes at the same step in one
//! scatter with shared axes (x = a good training answer's deviation, y = its per-token gain
//! over the reference), each lane's fitted line, and the slope difference.

use crate::core::mechanism::intercept;
use crate::engine::probe::ProbePoint;
use crate::engine::train::Method;

use super::chart::finite_range;

/// One lane in the chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub method: Method,
    /// (deviation, gain) of each good training answer with finite numbers.
    pub dots: Vec<(f64, f64)>,
    /// The lane's own slope (the number its probe reported).
    pub slope: f64,
    /// The fitted line's ends at the x range's ends; `None` when it is not finite.
    pub line: Option<[(f64, f64); 2]>,
}

/// Both lanes at `step`, on shared axes.
#[derive(Clone, Debug, PartialEq)]
pub struct Combined {
    pub step: usize,
    pub series: Vec<Series>,
    pub x: (f64, f64),
    /// Symmetric about 0, so "up" is always "more likely than before".
    pub y: (f64, f64),
    /// DDPO's slope minus DPO's.
    pub difference: f64,
}

fn series(point: &ProbePoint, method: Method, x: (f64, f64)) -> Series {
    let dots: Vec<(f64, f64)> = point.gains.iter().map(|g| (g.deviation, g.gain)).filter(|(d, g)| d.is_finite() && g.is_finite()).collect();
    let (xs, ys): (Vec<f64>, Vec<f64>) = dots.iter().copied().unzip();
    let (slope, b) = (point.mechanism.slope, intercept(&xs, &ys));
    let line = (slope.is_finite() && b.is_finite()).then(|| [(x.0, b + slope * x.0), (x.1, b + slope * x.1)]);
    Series { method, dots, slope, line }
}

/// The chart of DPO's probe `dpo` and DDPO's `ddpo` (the same step's).
pub fn combined(dpo: &ProbePoint, ddpo: &ProbePoint) -> Combined {
    let all = dpo.gains.iter().chain(&ddpo.gains);
    let (lo, hi) = finite_range(all.map(|g| g.deviation)).unwrap_or((0.0, 1.0));
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
    let x = (lo - pad, hi + pad);
    let series = vec![series(dpo, Method::Dpo, x), series(ddpo, Method::Ddpo, x)];
    let dots = series.iter().flat_map(|s| s.dots.iter().map(|&(_, y)| y));
    let ends = series.iter().flat_map(|s| s.line.into_iter().flatten().map(|(_, y)| y));
    let reach = dots.chain(ends).filter(|y| y.is_finite()).fold(1e-3f64, |m, y| m.max(y.abs())) * 1.1;
    Combined { step: ddpo.step, series, x, y: (-reach, reach), difference: ddpo.mechanism.slope - dpo.mechanism.slope }
}

/// `v` in `range` mapped onto `0..size` (flipped when `up`: larger values higher on screen).
pub fn to_px(v: f64, range: (f64, f64), size: f64, up: bool) -> f64 {
    let t = if range.1 > range.0 { (v - range.0) / (range.1 - range.0) } else { 0.5 };
    if up { (1.0 - t) * size } else { t * size }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mechanism::{Gain, Mechanism};

    fn probe(step: usize, points: &[(f64, f64)], slope: f64) -> ProbePoint {
        let gains = points.iter().map(|&(deviation, gain)| Gain { prompt: 0, deviation, gain, score: 5.0 }).collect();
        ProbePoint { method: None, step, mechanism: Mechanism { slope, ..Mechanism::default() }, gains }
    }

    #[test]
    fn both_lanes_share_axes_and_keep_their_own_slopes() {
        // DPO: gain = 0.1 − 0.5·d, DDPO: gain = −0.1 + 1.0·d (slopes as their probes computed them).
        let dpo = probe(2, &[(0.2, 0.0), (0.6, -0.2), (1.0, -0.4)], -0.5);
        let ddpo = probe(2, &[(0.2, 0.1), (0.6, 0.5), (1.0, 0.9), (f64::NAN, 3.0)], 1.0);
        let c = combined(&dpo, &ddpo);
        assert_eq!((c.step, c.difference), (2, 1.5));
        assert!((c.x.0 - 0.16).abs() < 1e-12 && (c.x.1 - 1.04).abs() < 1e-12, "{:?}", c.x);
        assert_eq!(c.series[1].dots.len(), 3, "the NaN deviation is left out");
        let [(x0, y0), (x1, y1)] = c.series[1].line.unwrap();
        assert!((x0, x1) == c.x && ((y1 - y0) / (x1 - x0) - 1.0).abs() < 1e-12);
        assert!((y0 - (-0.1 + 0.16)).abs() < 1e-12, "the intercept of DDPO's fit: {y0}");
        // The y axis covers every dot and both lines' ends, symmetric about 0.
        assert!((c.y.1 - 0.94 * 1.1).abs() < 1e-12 && c.y.0 == -c.y.1, "{:?}", c.y);
        assert_eq!(combined(&dpo, &probe(2, &[(0.5, f64::INFINITY)], f64::NAN)).series[1].line, None);
        assert_eq!((to_px(0.0, c.y, 100.0, true), to_px(c.x.1, c.x, 200.0, false)), (50.0, 200.0));
    }
}

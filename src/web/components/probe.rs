//! A lane's mechanism chart: each good training response as a dot (x = deviation, y = per-token
//! gain over the reference, colour = score) with the least-squares line and its slope, and the
//! same numbers in a table for keyboard and screen-reader users.

use leptos::prelude::*;

use crate::core::mechanism::{Gain, intercept};
use crate::page::chart::finite_range;
use crate::engine::protocol::ProbePoint;

const W: f64 = 200.0;
const H: f64 = 120.0;

/// Maps values in `lo..hi` onto `0..size` (flipped when `up`), with a small margin.
fn scale(v: f64, lo: f64, hi: f64, size: f64, up: bool) -> f64 {
    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
    let t = if up { 1.0 - t } else { t };
    6.0 + t * (size - 12.0)
}

fn chart(point: &ProbePoint) -> impl IntoView + use<> {
    // A gain or deviation that is not finite has no place on the chart: its dot is left out.
    let finite: Vec<&Gain> = point.gains.iter().filter(|g| g.deviation.is_finite() && g.gain.is_finite()).collect();
    let xs: Vec<f64> = finite.iter().map(|g| g.deviation).collect();
    let ys: Vec<f64> = finite.iter().map(|g| g.gain).collect();
    let (x_lo, x_hi) = finite_range(xs.iter().copied()).unwrap_or((0.0, 1.0));
    // The gain axis is symmetric about 0, so "up" always means "more likely than before".
    let reach = ys.iter().fold(1e-3f64, |m, y| m.max(y.abs())) * 1.1;
    let top = finite.iter().fold(f64::MIN, |m, g| m.max(g.score));
    let dots = finite
        .iter()
        .map(|g| {
            let class = if g.score >= top { "dot dot-top" } else { "dot" };
            let label = format!("deviation {:.3}, gain {:+.4}, score {}", g.deviation, g.gain, g.score);
            view! {
                <circle class=class cx=format!("{:.1}", scale(g.deviation, x_lo, x_hi, W, false))
                    cy=format!("{:.1}", scale(g.gain, -reach, reach, H, true)) r="3.5"><title>{label}</title></circle>
            }
        })
        .collect_view();
    let (slope, b) = (point.mechanism.slope, intercept(&xs, &ys));
    let line_y = |x: f64| format!("{:.1}", scale(b + slope * x, -reach, reach, H, true));
    let fit = (slope.is_finite() && b.is_finite())
        .then(|| view! { <line class="fit" x1="6" x2=(W - 6.0).to_string() y1=line_y(x_lo) y2=line_y(x_hi)></line> });
    let zero = format!("{:.1}", scale(0.0, -reach, reach, H, true));
    view! {
        <svg class="scatter" viewBox=format!("0 0 {W} {H}") role="img"
            aria-label=format!("gain against deviation at step {}: slope {:+.2}", point.step, slope)>
            <line class="axis" x1="0" x2=W.to_string() y1=zero.clone() y2=zero></line>
            {dots}
            {fit}
            <text x="4" y="12" class="scatter-label">"gain ↑"</text>
            <text x=(W - 4.0).to_string() y=(H - 4.0).to_string() class="scatter-label" text-anchor="end">"deviation →"</text>
        </svg>
    }
}

/// The chart of the lane's last probe and a table of every probe (latest first).
pub fn probe_view(probes: &[ProbePoint], millis: f64) -> Option<impl IntoView + use<>> {
    let last = probes.last().cloned()?;
    let rows = probes
        .iter()
        .rev()
        .map(|p| {
            let m = p.mechanism;
            view! {
                <tr data-testid="probe-row">
                    <td>{p.step}</td>
                    <td data-testid="probe-slope" data-slope=m.slope.to_string()>{format!("{:+.2}", m.slope)}</td>
                    <td>{format!("{:+.4}", m.rare_gain)}</td>
                    <td>{format!("{:+.4}", m.common_gain)}</td>
                    <td>{format!("{:+.4}", m.rare_minus_common)}</td>
                </tr>
            }
        })
        .collect_view();
    Some(view! {
        <div class="probe" data-testid="probe">
            <p class="slope" data-testid="lane-slope">{format!("Step {}: slope {:+.2}", last.step, last.mechanism.slope)}</p>
            {chart(&last)}
            <table class="metrics">
                <caption class="hint">
                    {format!("Gain per token of {} good training responses", last.gains.len())}
                    {(millis > 0.0).then(|| format!(" (last probed in {:.1} s)", millis / 1000.0))}
                </caption>
                <thead>
                    <tr>
                        <th scope="col">"step"</th>
                        <th scope="col" title="least-squares slope of the gain on the deviation">"slope"</th>
                        <th scope="col" title="mean gain of each prompt's most deviating good response">"rare"</th>
                        <th scope="col" title="mean gain of the other good responses">"common"</th>
                        <th scope="col">"rare − common"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    })
}

//! The lesson's result in one picture: DPO's and DDPO's probes in one scatter with shared axes
//! and both fitted lines (geometry in `page::lesson_chart`), and beside it the strip of the
//! published seeds' slope differences with this run marked. Each has its numbers in text for
//! screen readers (an `aria-label` and a caption).

use leptos::prelude::*;

use crate::engine::train::Method;
use crate::page::lesson_chart::{Combined, Series, to_px};
use crate::page::seeds::LessonSeeds;

const W: f64 = 480.0;
const H: f64 = 300.0;
/// Room for the axes' labels: left, right, top, bottom.
const L: f64 = 52.0;
const R: f64 = 12.0;
const T: f64 = 12.0;
const B: f64 = 40.0;

fn class(method: Method) -> &'static str {
    if method == Method::Ddpo { "lc-ddpo" } else { "lc-dpo" }
}

/// Screen coordinates of a point in the chart's units.
fn at(c: &Combined, (x, y): (f64, f64)) -> (f64, f64) {
    (L + to_px(x, c.x, W - L - R, false), T + to_px(y, c.y, H - T - B, true))
}

fn px(c: &Combined, point: (f64, f64)) -> (String, String) {
    let (x, y) = at(c, point);
    (format!("{x:.1}"), format!("{y:.1}"))
}

/// One lane's dots (circles for DPO, squares for DDPO: told apart without colour) and line.
fn lane(c: &Combined, s: &Series) -> impl IntoView + use<> {
    let square = s.method == Method::Ddpo;
    let dots = s
        .dots
        .iter()
        .map(|&p| {
            let (x, y) = at(c, p);
            if square {
                view! { <rect class="lc-dot" x=format!("{:.1}", x - 3.5) y=format!("{:.1}", y - 3.5) width="7" height="7"></rect> }.into_any()
            } else {
                view! { <circle class="lc-dot" cx=format!("{x:.1}") cy=format!("{y:.1}") r="3.5"></circle> }.into_any()
            }
        })
        .collect_view();
    let line = s.line.map(|[a, b]| {
        let ((x1, y1), (x2, y2)) = (px(c, a), px(c, b));
        view! { <line class="lc-fit" data-testid="combined-line" data-method=s.method.name() data-slope=s.slope.to_string() x1=x1 y1=y1 x2=x2 y2=y2></line> }
    });
    view! { <g class=class(s.method)>{dots}{line}</g> }
}

fn axes(c: &Combined) -> impl IntoView + use<> {
    let (x0, zero) = px(c, (c.x.0, 0.0));
    let (x1, _) = px(c, (c.x.1, 0.0));
    let (_, top) = px(c, (c.x.0, c.y.1));
    let (_, bottom) = px(c, (c.x.0, c.y.0));
    let tick = |v: f64| format!("{v:+.2}");
    view! {
        <line class="lc-zero" x1=x0.clone() x2=x1.clone() y1=zero.clone() y2=zero.clone()></line>
        <line class="lc-axis" x1=x0.clone() x2=x0.clone() y1=top.clone() y2=bottom.clone()></line>
        <line class="lc-axis" x1=x0.clone() x2=x1.clone() y1=bottom.clone() y2=bottom.clone()></line>
        <text class="lc-tick" x=(L - 4.0).to_string() y=top text-anchor="end" dominant-baseline="hanging">{tick(c.y.1)}</text>
        <text class="lc-tick" x=(L - 4.0).to_string() y=zero text-anchor="end" dominant-baseline="middle">"0"</text>
        <text class="lc-tick" x=x0 y=(H - B + 14.0).to_string() text-anchor="start">{format!("{:.2}", c.x.0)}</text>
        <text class="lc-tick" x=x1 y=(H - B + 14.0).to_string() text-anchor="end">{format!("{:.2}", c.x.1)}</text>
        <text class="lc-label" x=((L + W - R) / 2.0).to_string() y=(H - 6.0).to_string() text-anchor="middle">"deviation of the answer (higher = more unusual)"</text>
        <text class="lc-label" transform=format!("translate(14 {}) rotate(-90)", (T + H - B) / 2.0) text-anchor="middle">"gain (log-prob per token, nats)"</text>
    }
}

/// The combined scatter, its legend and its one-sentence caption.
pub fn lesson_chart(c: Combined) -> impl IntoView {
    let slopes: Vec<String> = c.series.iter().map(|s| format!("{} {:+.2}", s.method.name().to_uppercase(), s.slope)).collect();
    let label = format!("Gain against deviation of the good training answers after step {}: slopes {}", c.step, slopes.join(", "));
    let legend = c
        .series
        .iter()
        .map(|s| view! { <li class=class(s.method)><span class="lc-swatch" aria-hidden="true"></span>{format!("{}: slope {:+.2}", s.method.name().to_uppercase(), s.slope)}</li> })
        .collect_view();
    let lanes = c.series.iter().map(|s| lane(&c, s)).collect_view();
    view! {
        <figure class="lesson-chart" data-testid="combined-chart">
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=label>{axes(&c)}{lanes}</svg>
            <ul class="lc-legend">{legend}</ul>
            <figcaption>
                {format!(
                    "Each mark is a good training answer; a line that rises means training made unusual answers more likely. \
                     After step {}, DDPO's line is steeper than DPO's by {:+.2}.",
                    c.step, c.difference
                )}
            </figcaption>
        </figure>
    }
}

/// The published seeds' differences as ticks on one axis, this run's marked.
pub fn seed_strip(seeds: &LessonSeeds, yours: f64, step: usize) -> impl IntoView + use<> {
    const SW: f64 = 480.0;
    const SH: f64 = 64.0;
    let values = seeds.seeds.iter().map(|s| s.difference).chain([yours, 0.0]).filter(|v| v.is_finite());
    let (lo, hi) = crate::page::chart::finite_range(values).unwrap_or((-1.0, 1.0));
    let pad = (hi - lo).max(0.1) * 0.08;
    let x = |v: f64| format!("{:.1}", 16.0 + to_px(v, (lo - pad, hi + pad), SW - 32.0, false));
    let ticks = seeds
        .seeds
        .iter()
        .map(|s| view! { <line class="strip-seed" data-testid="seed-tick" data-value=s.difference.to_string() x1=x(s.difference) x2=x(s.difference) y1="18" y2="40"><title>{format!("seed {}: {:+.2}", s.seed, s.difference)}</title></line> })
        .collect_view();
    let mine = yours.is_finite().then(|| view! {
        <g data-testid="your-run" data-value=yours.to_string()>
            <path class="strip-yours" d=format!("M{0},44 l-6,10 h12 z", x(yours))></path>
            <text class="lc-tick" x=x(yours) y="14" text-anchor="middle">"your run"</text>
        </g>
    });
    let caption = seeds.caption(yours, step);
    view! {
        <figure class="seed-strip" data-testid="seed-strip">
            <svg viewBox=format!("0 0 {SW} {SH}") role="img" aria-label=caption.clone()>
                <line class="lc-zero" x1=x(0.0) x2=x(0.0) y1="10" y2="48"></line>
                <line class="lc-axis" x1="16" x2=(SW - 16.0).to_string() y1="40" y2="40"></line>
                {ticks}
                {mine}
                <text class="lc-tick" x=x(0.0) y="62" text-anchor="middle">"0: no difference"</text>
            </svg>
            <figcaption data-testid="seed-caption">{caption}</figcaption>
        </figure>
    }
}

//! The page's state, apart from its views: plain Rust (no web-sys), so how each worker event
//! changes what the page shows is tested natively. The Leptos components in `web/` render it.

pub mod address;
pub mod chart;
pub mod lesson_chart;
pub mod seeds;
pub mod settings;
pub mod state;
pub mod training;
pub mod view;
pub mod watchdog;

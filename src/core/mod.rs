//! The paper's method, pure: no burn, no web. Each formula lives here once.

pub mod dataset;
pub mod float;
pub mod deviation;
pub mod jaccard;
pub mod mechanism;
pub mod pairs;
pub mod style;
pub mod records;
pub mod sampling;
pub mod similarity;
pub mod stats;

//! One component per panel; each takes signals and renders, none touches tensors.

mod badge;
mod bars;
mod checkbox;
mod generate;
mod heatmap;
mod model;
mod probe;
mod responses;
mod share;
mod training;

pub use badge::BackendBadge;
pub use bars::DeviationBars;
pub use generate::GeneratePanel;
pub use heatmap::Heatmap;
pub use model::ModelPanel;
pub use responses::ResponsesInput;
pub use share::SharePanel;
pub use training::{TrainAction, TrainingPanel};

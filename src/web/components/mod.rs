//! One component per panel; each takes signals and renders, none touches tensors.

mod badge;
mod bars;
mod checkbox;
mod class;
mod generate;
mod heatmap;
mod lesson;
mod lesson_chart;
mod model;
mod probe;
mod responses;
mod share;
mod training;

pub use badge::BackendBadge;
pub use bars::DeviationBars;
pub use class::{PoolRatings, SendRatings};
pub use generate::GeneratePanel;
pub use heatmap::Heatmap;
pub use lesson::LessonGuide;
pub use model::ModelPanel;
pub use responses::ResponsesInput;
pub use share::SharePanel;
pub use training::{Sets, TrainAction, TrainingPanel};

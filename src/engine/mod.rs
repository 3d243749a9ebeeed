//! What a user does with the models, over burn's `Device`: the same code for the CLI and
//! the browser worker.

pub mod analysis;
pub mod batch;
pub mod compare;
pub mod embed;
pub mod experiment;
pub mod export;
pub mod generate;
pub mod learner;
pub mod link;
pub mod logps;
pub mod losses;
pub mod probe;
pub mod prompts;
pub mod protocol;
pub mod ratings;
pub mod readback;
pub mod reference;
pub mod runner;
pub mod session;
pub mod similarity;
pub mod store;
pub mod train;

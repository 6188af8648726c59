//! From a frame to a mood: `detect` finds faces (YuNet), `follow` keeps most frames' search
//! near the faces of the last one, `crop` cuts each face as FER2013 cut its faces, `classify`
//! reads its emotion (the shipped model, `models`), `analyze` puts those together for one
//! frame, `mood` smooths the readings into the announced mood, and `pipeline` runs it all on
//! a thread of its own, turning frames into `Update`s.

pub mod analyze;
pub mod classify;
pub mod crop;
pub mod detect;
pub mod follow;
pub mod models;
pub mod mood;
pub mod pipeline;
pub mod pose;
pub mod reading;

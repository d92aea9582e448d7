//! `jiceng report`, `jiceng report verify`, `jiceng bench report`, and the demo's year
//! of events.

pub mod bench;
pub mod history;
pub mod report;

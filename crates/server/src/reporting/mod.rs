//! Pages of the reporting chain: event queues and forms (`events`), periodic reports
//! with charts, approval and exports (`reports`).

pub mod charts;
pub mod events;
pub mod reports;

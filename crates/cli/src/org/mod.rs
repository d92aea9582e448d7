pub mod regions;
pub mod user;

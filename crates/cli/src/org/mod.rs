pub mod audit;
pub mod regions;
pub mod user;

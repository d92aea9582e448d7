pub mod audit;
pub mod bench;
pub mod regions;
pub mod user;

pub mod bench;
pub mod demo;
pub mod export;
pub mod import;
pub mod package_bench;
pub mod packages;

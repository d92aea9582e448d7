pub mod bench;
pub mod generate;
pub mod id_check;

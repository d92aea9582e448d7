//! Ready to shard by county: which tables are distributed by `county_code` and which
//! are reference tables, and the Citus calls that make them so (`jiceng db distribute`).

#[cfg(test)]
mod tests;

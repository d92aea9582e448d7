//! Registry pages: the region tree down to households and residents.

pub mod pages;

//! Registry pages: the region tree down to households and residents, search, and
//! the forms that record changes.

pub mod forms;
pub mod pages;
pub mod search;

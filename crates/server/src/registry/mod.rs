//! Registry pages: the region tree down to households and residents, search, and
//! the forms that record changes.

pub mod forms;
pub mod pages;
pub mod search;

use axum::routing::{get, post};

/// The registry's pages and forms: regions, grids, buildings, households, residents.
pub fn routes() -> crate::Routes {
    vec![
        ("/", get(pages::home)),
        ("/search", get(search::search)),
        ("/regions", get(pages::roots)),
        ("/regions/{code}", get(pages::region)),
        ("/grids/{county}/{id}", get(pages::grid)),
        ("/buildings/{county}/{id}", get(pages::building)),
        ("/buildings/{county}/{id}/households", get(forms::new_household_page).post(forms::new_household)),
        ("/households/{county}/{id}/move", get(forms::move_household_page).post(forms::move_household)),
        ("/households/{county}/{id}", get(pages::household)),
        ("/households/{county}/{id}/newborn", get(forms::newborn_page).post(forms::newborn)),
        ("/residents/{county}/{id}", get(pages::resident)),
        ("/residents/{county}/{id}/edit", get(forms::edit_resident_page).post(forms::edit_resident)),
        ("/residents/{county}/{id}/exit", post(forms::record_exit)),
        ("/residents/{county}/{id}/verify", post(forms::record_verification)),
        ("/residents/{county}/{id}/access", get(forms::access_log)),
    ]
}

#[cfg(test)]
mod tests;

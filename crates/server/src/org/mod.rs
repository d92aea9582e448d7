//! Logging in and out, and who may see what.

pub mod admin;
pub mod auth;
pub mod guard;

use axum::routing::{get, post};

/// Login, sessions, passwords and user administration.
pub fn routes() -> crate::Routes {
    vec![
        ("/login", get(auth::login_page).post(auth::login)),
        ("/logout", post(auth::logout)),
        ("/account/password", get(auth::password_page).post(auth::change_password)),
        ("/admin/users", get(admin::users).post(admin::create_user)),
        ("/admin/users/{id}", post(admin::user_action)),
        ("/admin/locks", post(admin::clear_lock)),
    ]
}

#[cfg(test)]
mod tests;

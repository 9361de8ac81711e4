//! An axum router that remembers the method and path of each route it is given, so that
//! the access policy can be checked against every route there is.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{get, post};
use axum::Router;

use crate::server::web::state::AppState;

#[derive(Default)]
pub struct RouteBook {
    router: Router<AppState>,
    routes: Vec<(Method, String)>,
}

impl RouteBook {
    pub fn get<H, T>(mut self, path: &str, handler: H) -> RouteBook
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.routes.push((Method::GET, path.to_string()));
        self.router = self.router.route(path, get(handler));
        self
    }

    pub fn post<H, T>(mut self, path: &str, handler: H) -> RouteBook
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.routes.push((Method::POST, path.to_string()));
        self.router = self.router.route(path, post(handler));
        self
    }

    pub fn merge(mut self, other: RouteBook) -> RouteBook {
        self.routes.extend(other.routes);
        self.router = self.router.merge(other.router);
        self
    }

    pub fn routes(&self) -> &[(Method, String)] {
        &self.routes
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

//! Downloads: the backup coverage report as CSV.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::server::web::respond::Wants;
use crate::server::web::route_book::RouteBook;
use crate::server::web::state::AppState;

pub fn routes() -> RouteBook {
    RouteBook::default().get("/backups/coverage.csv", coverage_csv)
}

#[derive(Debug, Deserialize)]
struct CoverageQuery {
    days: Option<String>,
}

async fn coverage_csv(
    State(state): State<AppState>,
    Query(query): Query<CoverageQuery>,
    wants: Wants,
) -> Response {
    let days = crate::models::days_of(query.days);
    match crate::server::services::views::inventory::backups(&state.db, days).await {
        Ok(view) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"proxbox-backup-coverage.csv\"",
                ),
            ],
            view.coverage.to_csv(),
        )
            .into_response(),
        Err(e) => e.render(wants),
    }
}

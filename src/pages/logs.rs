//! `/logs` (admins): the server's recent log lines (`server::log_ring`), newest last,
//! filtered by level and target with a plain GET form; in the browser, new lines arrive
//! live (the [`LiveLogs`] island follows `/logs/stream`).

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::layout::PageErrors;
use crate::error::AppError;
use crate::models::{format_utc, LogLine, ServerLogFilter, LOG_LEVELS};
use crate::wire::JsonText;

/// Lines a page shows at first (the live view adds to them).
#[cfg(feature = "ssr")]
const PAGE_LINES: usize = 500;

#[server(endpoint = "logs", input = GetUrl, output = JsonText)]
pub async fn get_logs(
    #[server(default)] filter: ServerLogFilter,
) -> Result<Vec<LogLine>, AppError> {
    let _ = crate::server::web::context::require(crate::models::Permission::Administer)?;
    Ok(crate::server::infra::log_ring::ring().recent(&filter, 0, PAGE_LINES))
}

#[component]
pub fn LogsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        query.with(|q| ServerLogFilter {
            level: q.get("level").unwrap_or_default(),
            target: q.get("target").unwrap_or_default(),
        })
    };
    let lines = Resource::new(filter, get_logs);
    view! {
        <Title text="Logs"/>
        <div class="page-header"><h1>"Server log"</h1></div>
        <p class="muted">
            "The server's recent log lines (the last 2,000 kept in memory, as filtered by PROXBOX_LOG), newest last; new ones appear as they are logged."
        </p>
        <PageErrors>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let lines = lines.await?;
                    Ok::<_, AppError>(view! { <LogView lines filter=filter()/> })
                })}
            </Suspense>
        </PageErrors>
    }
}

#[component]
fn LogView(lines: Vec<LogLine>, filter: ServerLogFilter) -> impl IntoView {
    let ServerLogFilter { level, target } = filter.clone();
    view! {
        <form method="get" class="filters" data-testid="log-filters">
            <label>"Level "
                <select name="level">
                    <option value="">"all"</option>
                    {LOG_LEVELS.into_iter().map(|l| {
                        let selected = l.eq_ignore_ascii_case(&level);
                        view! { <option value=l selected=selected>{format!("{l} and above")}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>"Target "<input type="text" name="target" value=target placeholder="e.g. jobs::worker"/></label>
            <button type="submit" class="btn">"Filter"</button>
        </form>
        <div class="table-wrap">
            <table class="table log" data-testid="server-log">
                <thead><tr><th>"Time (UTC)"</th><th>"Level"</th><th>"Target"</th><th>"Message"</th></tr></thead>
                <tbody>
                    {lines.iter().map(|line| view! {
                        <LogRow at=line.at level=line.level.clone() target=line.target.clone() message=line.message.clone()/>
                    }).collect_view()}
                </tbody>
            </table>
            // An island is an element of its own, which a <table> may not hold: the lines
            // logged since follow in a table of their own.
            <LiveLogs after=lines.last().map_or(0, |line| line.seq) query=filter.query()/>
        </div>
    }
}

#[component]
fn LogRow(at: i64, level: String, target: String, message: String) -> impl IntoView {
    let class = format!("log-{}", level.to_ascii_lowercase());
    view! {
        <tr class=class data-testid="log-line">
            <td class="mono">{format_utc(at)}</td>
            <td>{level}</td>
            <td class="mono">{target}</td>
            <td class="mono">{message}</td>
        </tr>
    }
}

/// The lines logged after `after`, appended as they come. Its props and the stream's lines
/// are plain text (`LogLine::to_wire`): a JSON reader for them would cost every page's bundle.
#[island]
fn LiveLogs(after: u64, query: String) -> impl IntoView {
    let (shown, set_shown) = signal(Vec::<LogLine>::new());
    #[cfg(feature = "hydrate")]
    browser::follow(after, &query, set_shown);
    #[cfg(not(feature = "hydrate"))]
    let _ = (after, &query, set_shown);
    view! {
        <table class="table log" data-testid="live-log">
            <tbody>
                {move || shown.get().into_iter().map(|line| view! {
                    <LogRow at=line.at level=line.level target=line.target message=line.message/>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use futures::future::{AbortHandle, Abortable};
    use futures::StreamExt;
    use gloo_net::eventsource::futures::EventSource;
    use leptos::prelude::*;

    use crate::models::LogLine;

    /// Lines a page adds while following (the oldest go first).
    const KEEP: usize = 2_000;

    pub fn follow(after: u64, query: &str, lines: WriteSignal<Vec<LogLine>>) {
        let url = format!("/logs/stream?after={after}&{query}");
        let Ok(mut source) = EventSource::new(&url) else {
            return;
        };
        let Ok(mut events) = source.subscribe("log") else {
            return;
        };
        let (abort, registration) = AbortHandle::new_pair();
        let follow = async move {
            // The source lives as long as this task: dropping it closes the stream.
            let _source = &source;
            while let Some(Ok((_, message))) = events.next().await {
                let Some(line) = message
                    .data()
                    .as_string()
                    .and_then(|data| LogLine::from_wire(&data))
                else {
                    continue;
                };
                lines.update(|lines| {
                    if lines.last().is_none_or(|last| line.seq > last.seq) {
                        lines.push(line);
                    }
                    if lines.len() > KEEP {
                        lines.drain(..lines.len() - KEEP);
                    }
                });
            }
        };
        leptos::task::spawn_local(async move {
            let _ = Abortable::new(follow, registration).await;
        });
        on_cleanup(move || abort.abort());
    }
}

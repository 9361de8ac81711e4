//! `/streams/check`: does the way from this browser to Proxbox — through whatever proxy
//! sits in front of it — carry the live views? The page opens the WebSocket (and gets a
//! `pong`) and a short test stream (`/streams/check/stream`: five events 400 ms apart)
//! and says whether the events arrived one by one or held back until the stream ended,
//! and what to set on the proxy then.

use leptos::prelude::*;
use leptos_meta::Title;

/// The verdict on a test stream from when its events were sent and when they arrived
/// (milliseconds): buffered when they came in less than half the time they were sent over.
pub fn stream_verdict(sent: &[i64], arrived: &[f64]) -> &'static str {
    let span = |first: f64, last: f64| last - first;
    match (sent.first(), sent.last(), arrived.first(), arrived.last()) {
        (Some(&s0), Some(&s1), Some(&a0), Some(&a1)) if sent.len() >= 2 => {
            if span(a0, a1) * 2.0 < span(s0 as f64, s1 as f64) {
                "buffered"
            } else {
                "unbuffered"
            }
        }
        _ => "failed",
    }
}

#[component]
pub fn StreamsCheckPage() -> impl IntoView {
    view! {
        <Title text="Streams check"/>
        <div class="page-header"><h1>"Streams check"</h1></div>
        <p class="muted">
            "Live progress comes over an event stream and dashboard news over a WebSocket. This page tries both, "
            "the way your browser reaches Proxbox — through any proxy in between."
        </p>
        <StreamsCheck/>
    }
}

#[island]
fn StreamsCheck() -> impl IntoView {
    let (socket, set_socket) =
        signal(("checking".to_string(), "Opening the WebSocket…".to_string()));
    let (stream, set_stream) = signal((
        "checking".to_string(),
        "Reading a test stream of five events, 400 ms apart…".to_string(),
    ));
    #[cfg(feature = "hydrate")]
    {
        browser::check_socket(set_socket);
        browser::check_stream(set_stream);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (set_socket, set_stream);
    view! {
        <dl class="facts">
            <dt>"WebSocket"</dt>
            <dd data-testid="check-socket" data-verdict=move || socket.get().0>{move || socket.get().1}</dd>
            <dt>"Event stream"</dt>
            <dd data-testid="check-stream" data-verdict=move || stream.get().0>{move || stream.get().1}</dd>
        </dl>
    }
}

/// The server's clock in a `tick` (`{"n":1,"sent_at":1700000000000}`), read without a
/// JSON reader (this is all the page needs of it).
pub fn sent_at(data: &str) -> Option<i64> {
    let rest = &data[data.find("\"sent_at\":")? + "\"sent_at\":".len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// What to tell the operator for a verdict on the test stream.
pub fn stream_advice(verdict: &str, took_ms: f64) -> String {
    // Whole milliseconds, printed as an integer: float formatting would cost the bundle.
    let took_ms = took_ms.max(0.0) as u64;
    match verdict {
        "unbuffered" => format!("Events arrive one by one ({took_ms} ms for the five): live progress works."),
        "buffered" => format!(
            "Events arrive all at once, when the stream ends ({took_ms} ms for the five): something between \
             the browser and Proxbox buffers responses, so live progress would appear only at the end. \
             nginx: `proxy_buffering off;` for Proxbox (or let it honour the `X-Accel-Buffering: no` header \
             Proxbox sends); Apache: `flushpackets=on` on the ProxyPass; other proxies: turn response buffering \
             off for `text/event-stream`."
        ),
        _ => "The test stream did not arrive: check that the proxy passes `text/event-stream` responses.".into(),
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use futures::{SinkExt, StreamExt};
    use gloo_net::eventsource::futures::EventSource;
    use gloo_net::websocket::futures::WebSocket;
    use gloo_net::websocket::Message;
    use leptos::prelude::*;

    type Report = WriteSignal<(String, String)>;

    fn now() -> f64 {
        web_sys::js_sys::Date::now()
    }

    pub fn check_socket(report: Report) {
        leptos::task::spawn_local(async move {
            let location = window().location();
            let scheme = if location.protocol().ok().as_deref() == Some("https:") {
                "wss"
            } else {
                "ws"
            };
            let url = format!("{scheme}://{}/ws", location.host().unwrap_or_default());
            let failed = |why: String| {
                report.set((
                    "failed".into(),
                    format!("{why}: the proxy must pass WebSocket upgrades to /ws (nginx: `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";`)."),
                ))
            };
            let Ok(mut socket) = WebSocket::open(&url) else {
                return failed("The WebSocket could not be opened".into());
            };
            if socket.send(Message::Text("ping".into())).await.is_err() {
                return failed("The WebSocket closed at once".into());
            }
            while let Some(message) = socket.next().await {
                match message {
                    Ok(Message::Text(text)) if text.contains("\"pong\"") => {
                        report.set((
                            "ok".into(),
                            "Open, and it answers: dashboard news arrives live.".into(),
                        ));
                        return;
                    }
                    Ok(_) => continue,
                    Err(e) => return failed(format!("The WebSocket failed ({e})")),
                }
            }
            failed("The WebSocket closed without an answer".into());
        });
    }

    pub fn check_stream(report: Report) {
        leptos::task::spawn_local(async move {
            let Ok(mut source) = EventSource::new("/streams/check/stream") else {
                return;
            };
            let (Ok(ticks), Ok(done)) = (source.subscribe("tick"), source.subscribe("done")) else {
                return;
            };
            let mut events = futures::stream::select(ticks, done);
            let (mut sent, mut arrived) = (Vec::new(), Vec::new());
            let started = now();
            while let Some(Ok((name, message))) = events.next().await {
                if name == "done" {
                    break;
                }
                let data = message.data().as_string().unwrap_or_default();
                if let Some(at) = super::sent_at(&data) {
                    sent.push(at);
                    arrived.push(now());
                }
            }
            source.close();
            let verdict = super::stream_verdict(&sent, &arrived);
            report.set((
                verdict.into(),
                super::stream_advice(verdict, now() - started),
            ));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_spread_as_sent_are_unbuffered_and_bunched_ones_buffered() {
        let sent = [0, 400, 800, 1200, 1600];
        assert_eq!(
            stream_verdict(&sent, &[10.0, 410.0, 805.0, 1230.0, 1611.0]),
            "unbuffered"
        );
        assert_eq!(
            stream_verdict(&sent, &[1650.0, 1651.0, 1651.0, 1652.0, 1652.0]),
            "buffered"
        );
        assert_eq!(stream_verdict(&[], &[]), "failed");
        assert!(stream_advice("buffered", 1650.4).contains("(1650 ms for the five)"));
        assert!(stream_advice("buffered", 1650.0).contains("proxy_buffering off;"));
        assert_eq!(
            sent_at(r#"{"n":2,"sent_at":1796414657843}"#),
            Some(1796414657843)
        );
        assert_eq!(sent_at(r#"{"n":2}"#), None);
    }
}

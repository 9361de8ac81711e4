//! The WebSocket's legacy mode (as the system Proxbox replaces had it): a client sends a
//! sync command as a text message — `Full Update`, `Sync Nodes` or `Sync Virtual
//! Machines` — and receives that job's per-object progress on the same socket, each
//! stage's `{"object": …, "end": true}` and last `{"object": …, "end": true, "status": …}`.
//! A machine client whose handshake carried no credentials sends `{"api_key": …}` first.
//! This module reads the messages and words the answers; `ws` runs the socket.

use serde_json::{json, Value};

use crate::events::{StepStatus, SyncEvent};
use crate::models::JobStatus;
use crate::server::sync::stage::FULL_UPDATE;

/// A sync command and the stage it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// The stage (or `full-update`) the job runs.
    pub stage: &'static str,
    /// The `object` its messages carry, as the old clients expect.
    pub object: &'static str,
}

const COMMANDS: [(&str, Command); 3] = [
    (
        "full update",
        Command {
            stage: FULL_UPDATE,
            object: "full-update",
        },
    ),
    (
        "sync nodes",
        Command {
            stage: "devices",
            object: "device",
        },
    ),
    (
        "sync virtual machines",
        Command {
            stage: "virtual-machines",
            object: "virtual_machine",
        },
    ),
];

/// What a client's text message asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Ping,
    /// `{"api_key": "…"}`: the credentials of a client whose handshake had none.
    ApiKey(String),
    Command(Command),
    /// Anything else, with the answer that says what is understood.
    Unknown(String),
}

pub fn read(text: &str) -> Incoming {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("ping") {
        return Incoming::Ping;
    }
    if trimmed.starts_with('{') {
        if let Ok(message) = serde_json::from_str::<Value>(trimmed) {
            if let Some(key) = message.get("api_key").and_then(Value::as_str) {
                return Incoming::ApiKey(key.trim().to_string());
            }
            if let Some(command) = message.get("command").and_then(Value::as_str) {
                return read_command(command);
            }
        }
    }
    read_command(trimmed)
}

fn read_command(text: &str) -> Incoming {
    let wanted = text.trim().trim_matches('"').to_ascii_lowercase();
    match COMMANDS.iter().find(|(name, _)| *name == wanted) {
        Some((_, command)) => Incoming::Command(*command),
        None => Incoming::Unknown(format!(
            "Unknown message {:?}: send \"Full Update\", \"Sync Nodes\" or \"Sync Virtual Machines\" to start a sync, or \"ping\".",
            clip(text)
        )),
    }
}

fn clip(text: &str) -> String {
    text.chars().take(60).collect()
}

/// The object name the old clients use for a stage's objects.
fn stage_object(stage: &str) -> String {
    match stage {
        "devices" => "device".into(),
        "virtual-machines" => "virtual_machine".into(),
        other => other.replace('-', "_"),
    }
}

/// The object name the old clients use for an item type (`node`, `qemu`, `lxc`…).
fn item_object(kind: &str) -> String {
    match kind {
        "node" | "device" => "device".into(),
        "qemu" | "lxc" | "vm" | "virtual_machine" => "virtual_machine".into(),
        other => other.replace('-', "_"),
    }
}

/// The messages one event of `command`'s job turns into (the final one is [`ending`]).
pub fn progress(command: Command, job_id: i64, event: &SyncEvent) -> Option<Value> {
    match event {
        SyncEvent::ItemProgress(item) => Some(json!({
            "object": item_object(&item.item.kind),
            "type": item.status.as_str(),
            "job_id": job_id,
            "data": {
                "completed": true,
                "rowid": item.item.name,
                "name": item.item.name,
                "netbox_id": item.item.netbox_id,
                "status": item.status.as_str(),
                "message": item.message,
                "error": item.error,
            },
        })),
        SyncEvent::Step(step) if step.status == StepStatus::Completed => Some(json!({
            "object": stage_object(&step.step),
            "end": true,
            "job_id": job_id,
            "message": step.message,
        })),
        SyncEvent::Error(error) => Some(json!({
            "object": command.object,
            "job_id": job_id,
            "error": error.error,
            "detail": error.detail,
        })),
        _ => None,
    }
}

/// The last message of `command`'s job: `status` as the job ended.
pub fn ending(command: Command, job_id: i64, status: JobStatus, ok: bool, message: &str) -> Value {
    json!({
        "object": command.object,
        "end": true,
        "status": status.as_str(),
        "ok": ok,
        "job_id": job_id,
        "message": message,
    })
}

/// A command that could not start a job (not allowed, no endpoint…), ended at once.
pub fn refused(command: Command, message: &str) -> Value {
    json!({
        "object": command.object,
        "end": true,
        "status": "refused",
        "ok": false,
        "error": message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ErrorEvent, Item, ItemProgress, ItemStatus, Progress, Step};

    #[test]
    fn the_three_commands_are_read_as_the_old_relay_sends_them() {
        assert_eq!(
            read("Full Update"),
            Incoming::Command(Command {
                stage: FULL_UPDATE,
                object: "full-update"
            })
        );
        assert_eq!(
            read(" sync nodes\n"),
            Incoming::Command(Command {
                stage: "devices",
                object: "device"
            })
        );
        assert_eq!(
            read(r#"{"command": "Sync Virtual Machines"}"#),
            Incoming::Command(Command {
                stage: "virtual-machines",
                object: "virtual_machine"
            })
        );
        assert_eq!(read("PING"), Incoming::Ping);
        assert_eq!(
            read(r#"{"api_key": " abc "}"#),
            Incoming::ApiKey("abc".into())
        );
        let Incoming::Unknown(answer) = read("Sync Everything") else {
            panic!("an unknown command is not taken for one");
        };
        assert!(answer.contains("\"Full Update\""), "{answer}");
    }

    #[test]
    fn items_stage_ends_and_errors_become_the_old_object_messages() {
        let command = Command {
            stage: FULL_UPDATE,
            object: "full-update",
        };
        let mut item = Item::new("vm101", "qemu");
        item.netbox_id = Some(7);
        let created = SyncEvent::ItemProgress(ItemProgress {
            event: "virtual-machines".into(),
            phase: "apply".into(),
            name: "vm101".into(),
            kind: "qemu".into(),
            status: ItemStatus::Created,
            operation: ItemStatus::Created,
            message: "created".into(),
            item,
            progress: Progress::new(1, 1),
            id: Some(7),
            error: None,
            warning: None,
            timing: None,
            takeover: None,
        });
        let message = progress(command, 3, &created).unwrap();
        assert_eq!(message["object"], "virtual_machine");
        assert_eq!(message["type"], "created");
        assert_eq!(message["data"]["rowid"], "vm101");
        assert_eq!(message["data"]["netbox_id"], 7);

        let stage_end = SyncEvent::Step(Step {
            step: "devices".into(),
            status: StepStatus::Completed,
            message: "done".into(),
            result: None,
        });
        let message = progress(command, 3, &stage_end).unwrap();
        assert_eq!(
            (message["object"].as_str(), message["end"].as_bool()),
            (Some("device"), Some(true))
        );
        let stage_start = SyncEvent::Step(Step {
            status: StepStatus::Started,
            ..match stage_end {
                SyncEvent::Step(step) => step,
                _ => unreachable!(),
            }
        });
        assert_eq!(progress(command, 3, &stage_start), None);

        let error = SyncEvent::Error(ErrorEvent::new("devices", "NetBox refused", "HTTP 400"));
        let message = progress(command, 3, &error).unwrap();
        assert_eq!(message["object"], "full-update");
        assert_eq!(message["detail"], "HTTP 400");

        let end = ending(
            command,
            3,
            JobStatus::Completed,
            true,
            "Full update sync completed.",
        );
        assert_eq!(end["status"], "completed");
        assert_eq!(end["end"], true);
        assert_eq!(refused(command, "no")["status"], "refused");
    }
}

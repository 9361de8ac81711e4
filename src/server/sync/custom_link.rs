//! The "Proxbox" custom link on NetBox's virtual machines: a button on each VM's page that
//! opens the guest's VM panel in Proxbox (`PROXBOX_PUBLIC_URL`). It replaces the panel the
//! system we replace drew inside NetBox. Looked up on every run, created once, corrected
//! when the address changes, otherwise left as it is.

use proxbox_netbox::models::{CustomLink, CustomLinkWrite};
use proxbox_netbox::ErrorKind;

use super::context::SyncContext;
use super::failure::StageError;
use super::report::StageReport;
use crate::events::StepStatus;

pub const LINK_NAME: &str = "Proxbox";
const VM_TYPE: &str = "virtualization.virtualmachine";

/// The link as Proxbox wants it for `public_url` (NetBox fills `{{ object.id }}` in).
pub fn wanted(public_url: &str) -> CustomLinkWrite {
    CustomLinkWrite {
        id: None,
        name: LINK_NAME.into(),
        object_types: vec![VM_TYPE.into()],
        link_text: "Proxbox".into(),
        link_url: format!(
            "{}/virtual-machines/{{{{ object.id }}}}",
            public_url.trim_end_matches('/')
        ),
        enabled: true,
        new_window: true,
        button_class: "default".into(),
    }
}

/// What to write: the link when NetBox has none, a correction when it points elsewhere,
/// is off or hangs on other objects, nothing when it is as wanted.
pub fn plan(existing: Option<&CustomLink>, wanted: CustomLinkWrite) -> Option<CustomLinkWrite> {
    let Some(link) = existing else {
        return Some(wanted);
    };
    let same = link.link_url == wanted.link_url
        && link.enabled
        && link.object_types.iter().any(|t| t == VM_TYPE);
    (!same).then(|| CustomLinkWrite {
        id: Some(link.id),
        // Other object types an operator added stay.
        object_types: {
            let mut types = link.object_types.clone();
            if !types.iter().any(|t| t == VM_TYPE) {
                types.push(VM_TYPE.into());
            }
            types
        },
        link_text: link.link_text.clone(),
        ..wanted
    })
}

/// Keeps the link in place when a public URL is set. A token that may not manage custom
/// links is not fatal: the run says what to grant.
pub async fn ensure(ctx: &SyncContext<'_>, report: &StageReport<'_>) -> Result<(), StageError> {
    let Some(public_url) = ctx.options.public_url.as_deref() else {
        return Ok(());
    };
    let found = ctx
        .netbox
        .list::<CustomLink>(&[("name", LINK_NAME.to_string())])
        .await?;
    let Some(write) = plan(
        found.iter().find(|l| l.name == LINK_NAME),
        wanted(public_url),
    ) else {
        return Ok(());
    };
    if ctx.options.dry_run {
        return Ok(());
    }
    let outcome = if write.id.is_some() {
        ctx.netbox.update::<CustomLink, _>(&[write]).await?
    } else {
        ctx.netbox.create::<CustomLink, _>(&[write]).await?
    };
    match outcome.into_result() {
        Ok(_) => Ok(()),
        Err(e) if e.kind == ErrorKind::Permission => {
            report.substep(
                "prerequisites",
                StepStatus::Completed,
                "The NetBox token may not manage custom links, so NetBox's VMs have no link to \
                 their Proxbox panel. Give the token the extras.add_customlink and \
                 extras.change_customlink permissions, or unset PROXBOX_PUBLIC_URL.",
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(url: &str, types: &[&str]) -> CustomLink {
        CustomLink {
            id: 7,
            name: LINK_NAME.into(),
            object_types: types.iter().map(|t| t.to_string()).collect(),
            link_text: "Open in Proxbox".into(),
            link_url: url.into(),
            enabled: true,
            new_window: true,
        }
    }

    #[test]
    fn the_link_is_created_once_and_corrected_when_the_address_moves() {
        let want = wanted("https://proxbox.example.com/");
        assert_eq!(
            want.link_url,
            "https://proxbox.example.com/virtual-machines/{{ object.id }}"
        );
        assert_eq!(plan(None, want.clone()), Some(want.clone()));
        let current = link(&want.link_url, &[VM_TYPE]);
        assert_eq!(
            plan(Some(&current), want.clone()),
            None,
            "as wanted: nothing"
        );
        let moved = link(
            "http://old:3000/virtual-machines/{{ object.id }}",
            &["dcim.device"],
        );
        let fix = plan(Some(&moved), want.clone()).unwrap();
        assert_eq!(fix.id, Some(7));
        assert_eq!(fix.link_url, want.link_url);
        assert_eq!(
            fix.object_types,
            vec!["dcim.device".to_string(), VM_TYPE.to_string()]
        );
        assert_eq!(
            fix.link_text, "Open in Proxbox",
            "the operator's wording stays"
        );
    }
}

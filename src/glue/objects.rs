//! Stubs of an app's Durable Objects, placed as the app says (`protocol::placement`): in its
//! jurisdiction's namespace (workers-rs 0.8 has no `jurisdiction()`, so the JS namespace's own
//! is called), with its location hint. Without either, exactly `id_from_name(name).get_stub()`.

use crate::protocol::placement::Placement;
use js_sys::{Function, Reflect};
use wasm_bindgen::JsCast;
use worker::{Env, ObjectNamespace, Result, Stub};

/// The stub of the object named `name` of `binding`, placed by `placement`.
pub fn placed_stub(env: &Env, binding: &str, name: &str, placement: &Placement) -> Result<Stub> {
    let namespace = env.durable_object(binding)?;
    let namespace = match &placement.jurisdiction {
        Some(jurisdiction) => in_jurisdiction(&namespace, jurisdiction)?,
        None => namespace,
    };
    let id = namespace.id_from_name(name)?;
    match &placement.location_hint {
        Some(hint) => id.get_stub_with_location_hint(hint),
        None => id.get_stub(),
    }
}

/// `namespace.jurisdiction(jurisdiction)`: the namespace whose objects live only there.
fn in_jurisdiction(namespace: &ObjectNamespace, jurisdiction: &str) -> Result<ObjectNamespace> {
    let raw = namespace.as_ref();
    let narrow: Function = Reflect::get(raw, &"jurisdiction".into())?.dyn_into()?;
    Ok(narrow.call1(raw, &jurisdiction.into())?.unchecked_into())
}

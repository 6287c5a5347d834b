//! Reads the app configuration from the Worker's environment (for the Worker and the Durable
//! Objects alike), parsing it once per isolate while the values stay the same.

use crate::config::{Apps, ConfigError, RawConfig};
use std::cell::RefCell;
use std::rc::Rc;
use worker::Env;

thread_local! {
    /// Parsed configuration, reused while the environment's values stay the same.
    static APPS: RefCell<Option<(RawConfig, Rc<Apps>)>> = const { RefCell::new(None) };
}

fn env_string(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

pub fn load_apps(env: &Env) -> std::result::Result<Rc<Apps>, ConfigError> {
    let raw = RawConfig {
        apps_json: env_string(env, "PUSHER_APPS"),
        app_id: env_string(env, "PUSHER_APP_ID"),
        app_key: env_string(env, "PUSHER_APP_KEY"),
        app_secret: env_string(env, "PUSHER_APP_SECRET"),
    };
    if let Some(apps) = APPS.with(|cache| {
        cache
            .borrow()
            .as_ref()
            .filter(|(cached, _)| *cached == raw)
            .map(|(_, apps)| apps.clone())
    }) {
        return Ok(apps);
    }
    let apps = Rc::new(Apps::from_raw(&raw)?);
    APPS.with(|cache| *cache.borrow_mut() = Some((raw, apps.clone())));
    Ok(apps)
}

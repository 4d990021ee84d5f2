// Builds the page into the Python package, where `flowscope serve` finds it
// (flowscope.web.server.mount_static). `npm run dev` proxies /api to a running `flowscope serve`.
import { defineConfig, type Plugin } from "vite";

// The entry (index) is small and imports the app and ECharts as a separate chunk, so that it can
// ask the API for the fields and the time extent at once. This link lets the browser fetch and
// compile that chunk while it runs the entry, instead of after.
function preloadApp(): Plugin {
  return {
    name: "flowscope-preload-app",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler(_html, ctx) {
        const chunks = Object.values(ctx.bundle ?? {});
        const app = chunks.find((c) => c.type === "chunk" && c.name === "app");
        if (!app) return [];
        return [{ tag: "link", attrs: { rel: "modulepreload", crossorigin: true, href: `/${app.fileName}` }, injectTo: "head" }];
      },
    },
  };
}

export default defineConfig({
  base: "/",
  plugins: [preloadApp()],
  build: {
    outDir: "../src/flowscope/web/static",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 900,
    modulePreload: { polyfill: false },
  },
  server: {
    host: "127.0.0.1",
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
});

import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// Built into the Python package (pllm/admin/ui_dist), served by the admin API at /ui.
export default defineConfig({
  base: "/ui/",
  plugins: [react()],
  build: {
    outDir: "../pllm/admin/ui_dist",
    emptyOutDir: true,
    assetsInlineLimit: 0, // no data: URLs for scripts; the CSP allows this origin only
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: { proxy: { "/admin": "http://127.0.0.1:8081", "/openapi.json": "http://127.0.0.1:8081" } },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});

// Page timings (script start, first render, each dashboard fetch and draw), read by the browser
// tests through window.__flowscopeTimings and logged once the page is interactive.

declare global {
  interface Window {
    __flowscopeTimings?: Record<string, unknown>;
  }
}

export const timings: Record<string, unknown> = { script: performance.now() };
window.__flowscopeTimings = timings;

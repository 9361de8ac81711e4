import { test, expect } from "@playwright/test";
import { hydrated, watchConsole } from "./helpers";

// Run by scripts/dist-check against the binary installed from the release archive (it
// serves the site bundle it carries), and with the other specs against the dev server.
test("the login page hydrates from the bundle the server serves", async ({ page }) => {
  const errors = watchConsole(page);
  const wasm = page.waitForResponse((r) => r.url().endsWith("/pkg/proxbox.wasm"));
  await page.goto("/login");
  const served = await wasm;
  expect(served.status()).toBe(200);
  expect(served.headers()["content-type"]).toBe("application/wasm");
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Log in to Proxbox" })).toBeVisible();
  expect(errors).toEqual([]);
});

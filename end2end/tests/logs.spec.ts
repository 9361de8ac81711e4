import { expect, test } from "@playwright/test";
import { connectPeers, hydrated, login, requireNetbox, watchConsole } from "./helpers";

test.beforeAll(() => {
  requireNetbox();
});

test("the logs page shows the lines a sync just logged, filters them, and adds new ones live", async ({ page }) => {
  test.setTimeout(240_000);
  await login(page);
  await connectPeers(page);
  const errors = watchConsole(page);

  // A sync from the dashboard, to its end.
  await page.goto("/");
  await page.getByTestId("sync-options").locator("summary").click();
  await page.getByTestId("sync-options").getByLabel("devices", { exact: true }).check();
  await page.getByTestId("sync-with-options").click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  const job = new URL(page.url()).pathname.split("/").pop();
  await hydrated(page);
  await expect(page.getByTestId("live-state")).toHaveAttribute("data-state", "ended", { timeout: 180_000 });

  await page.goto("/logs?target=jobs::worker");
  await hydrated(page);
  const lines = page.getByTestId("log-line");
  await expect(lines.filter({ hasText: new RegExp(`job ended job=${job} status="completed"`) })).toHaveCount(1);
  await expect(lines.filter({ hasNotText: "proxbox::server::jobs::worker" })).toHaveCount(0);

  // A line logged while the page is open appears without a reload.
  const session = await (await page.request.get("/api/session")).json();
  const started = await page.request.post("/sync/devices", {
    headers: { "x-csrf-token": session.csrf },
    data: {},
  });
  expect(started.status()).toBe(202);
  const next = (await started.json()).job_id;
  await expect(lines.filter({ hasText: new RegExp(`job started job=${next} `) })).toHaveCount(1, { timeout: 60_000 });

  // Errors only: none of the info lines.
  await page.goto("/logs?level=ERROR");
  await hydrated(page);
  await expect(page.getByTestId("server-log")).toBeVisible();
  await expect(page.getByTestId("log-line").filter({ hasText: "job ended" })).toHaveCount(0);
  expect(errors).toEqual([]);
});

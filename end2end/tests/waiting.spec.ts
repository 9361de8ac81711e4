import { expect, Page, test } from "@playwright/test";
import { connectPeers, hydrated, login, requireNetbox } from "./helpers";

test.beforeAll(() => {
  requireNetbox();
});

async function setWorkers(page: Page, workers: string) {
  await page.goto("/settings");
  await page.getByLabel("Workers", { exact: true }).fill(workers);
  await page.getByTestId("settings-save").click();
  await expect(page.getByTestId("settings-saved")).toBeVisible();
}

test("a job queued while no worker runs says so on its page, and runs when one is back", async ({ page }) => {
  test.setTimeout(240_000);
  await login(page);
  await connectPeers(page);
  await setWorkers(page, "0");
  let job = "";
  try {
    await page.goto("/");
    await page.getByTestId("sync-options").locator("summary").click();
    await page.getByTestId("sync-options").getByLabel("devices", { exact: true }).check();
    await page.getByTestId("sync-with-options").click();
    await expect(page).toHaveURL(/\/jobs\/\d+$/);
    job = new URL(page.url()).pathname;
    await expect(page.getByTestId("job-status")).toHaveText("pending");
    const reason = page.getByTestId("waiting-reason");
    await expect(reason).toContainText("No worker is running: this server runs with PROXBOX_WORKERS=0");
    await expect(reason).toContainText("Start one with `proxbox worker`");
  } finally {
    await setWorkers(page, "2");
  }
  await page.goto(job);
  await hydrated(page);
  await expect(page.getByTestId("live-state")).toHaveAttribute("data-state", "ended", { timeout: 180_000 });
  await expect(page.getByTestId("job-status")).toHaveText("completed");
  await expect(page.getByTestId("waiting-reason")).toHaveCount(0);
});

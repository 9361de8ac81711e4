import { test, expect, Page } from "@playwright/test";
import {
  ADMIN,
  clearSimulatorFaults,
  connectPeers,
  hydrated,
  itemsCounted,
  login,
  requireNetbox,
  slowSimulator,
  startFromButton,
  submitLogin,
  watchConsole,
} from "./helpers";

const SIM = process.env.PVE_SIM_URL!;
const STAGES = [
  "devices",
  "virtual-machines",
  "virtual-disks",
  "node-interfaces",
  "vm-interfaces",
  "vm-ip-addresses",
];

test.beforeAll(() => {
  requireNetbox();
});
test.afterEach(async ({ request }) => clearSimulatorFaults(request));

/** Starts a sync from its dashboard button and opens its job page from the overlay. */
async function startOnJobPage(page: Page, stage: string) {
  await page.goto("/");
  await hydrated(page);
  const { overlay } = await startFromButton(page, stage);
  await overlay.getByRole("link", { name: "Open the job page" }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await hydrated(page);
}

test("a full update follows its event stream live: stages advance, counters rise, a reload resumes, it ends in success", async ({ page, request }, testInfo) => {
  test.setTimeout(300_000);
  await login(page);
  await connectPeers(page);
  await slowSimulator(request, 300);

  const errors = watchConsole(page);
  await startOnJobPage(page, "full-update");
  const live = page.getByTestId("live-state");
  await expect(live).toHaveAttribute("data-state", /connecting|live/);

  // Intermediate states, seen without reloading: one stage running, then an earlier stage
  // completed with its counters above zero while the job still runs.
  const devices = page.locator('tr[data-stage="devices"]');
  await expect(page.locator("tr[data-stage] .stage-running")).toHaveCount(1, { timeout: 60_000 });
  await expect(devices.locator(".badge")).toHaveText("completed", { timeout: 60_000 });
  expect(await itemsCounted(devices)).toBeGreaterThan(0);
  const progressWhileRunning = Number(await page.getByTestId("job-progress").getAttribute("value"));
  expect(progressWhileRunning).toBeLessThan(100);
  await expect(page.getByTestId("job-elapsed")).toHaveText(/\ds$/);
  await page.screenshot({ path: testInfo.outputPath("job-mid-sync.png"), fullPage: true });

  // A reload mid-sync shows what happened so far at once and follows the rest.
  await page.reload();
  await hydrated(page);
  await expect(devices.locator(".badge")).toHaveText("completed");
  expect(Number(await page.getByTestId("job-progress").getAttribute("value"))).toBeGreaterThanOrEqual(progressWhileRunning);

  await expect(live).toHaveAttribute("data-state", "ended", { timeout: 240_000 });
  await expect(page.getByTestId("job-status")).toHaveText("completed");
  for (const stage of STAGES) {
    await expect(page.locator(`tr[data-stage="${stage}"] .badge`)).toHaveText("completed");
  }
  await expect(page.getByTestId("job-progress")).toHaveAttribute("value", "100");
  await page.screenshot({ path: testInfo.outputPath("job-finished.png"), fullPage: true });
  expect(errors).toEqual([]);
});

test("a failing sync shows the error banner with what to do", async ({ page, request }) => {
  test.setTimeout(120_000);
  await login(page);
  await connectPeers(page);
  const fault = await request.post(`${SIM}/_sim/faults`, { data: { path: "/cluster/status", kind: "unauthorized" } });
  expect(fault.ok()).toBeTruthy();
  try {
    const errors = watchConsole(page);
    await startOnJobPage(page, "devices");
    await page.reload();
    await hydrated(page);
    await expect(page.getByTestId("live-state")).toHaveAttribute("data-state", "ended", { timeout: 60_000 });
    await expect(page.getByTestId("job-status")).toHaveText("failed");
    const banner = page.getByTestId("job-errors");
    await expect(banner).toBeVisible();
    await expect(banner).toContainText("authentication");
    await expect(banner.getByTestId("error-suggestion").first()).toContainText(/token|permission/i);
    // The failure is the job's outcome, not a page error.
    expect(errors).toEqual([]);
  } finally {
    expect((await request.delete(`${SIM}/_sim/faults`)).ok()).toBeTruthy();
  }
});

test("the same sync works with JavaScript disabled: a form, then the job page with the result", async ({ page: setup, browser }) => {
  test.setTimeout(120_000);
  await login(setup);
  await connectPeers(setup);
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/login");
  await submitLogin(page);
  await expect(page.getByTestId("user-name")).toHaveText(ADMIN);

  await page.goto("/");
  await page.getByTestId("sync-devices").click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  // The page reloads itself while the job runs, then shows the result.
  await expect(page.getByTestId("job-status")).toHaveText("completed", { timeout: 90_000 });
  await expect(page.locator('tr[data-stage="devices"] .badge')).toHaveText("completed");
  await expect(page.getByTestId("job-progress")).toHaveAttribute("value", "100");
  await context.close();
});
